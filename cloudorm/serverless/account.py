"""``s.serverless_usage()``: the account's serverless footprint in the session's region, as one value: code storage
used against its limit, the number of functions and concurrency (Lambda's account settings)."""

from __future__ import annotations

import attrs

from cloudorm.core import Plan, SessionLike, call, run


@attrs.frozen
class ServerlessUsage:
    """What the account's functions take in the session's region, and what the provider allows."""

    code_size: int
    """Bytes of code stored: every version of every function, and layers."""
    code_size_limit: int
    """Bytes of code the region may store (75 GB on Lambda unless raised)."""
    function_count: int
    """Functions in the region."""
    concurrency_limit: int
    """Executions the region may run at once (1,000 on Lambda unless raised)."""
    unreserved_concurrency: int
    """What is left of ``concurrency_limit`` once functions' reserved concurrency is taken."""
    zip_size_limit: int
    """Largest zip a function may upload directly (50 MB on Lambda)."""
    unzipped_size_limit: int
    """Largest function with its layers, unzipped (250 MB on Lambda)."""

    @property
    def code_fraction(self) -> float:
        """The share of the code storage limit in use, 0.0 to 1.0 (the Cloud package's ``CodeCapacity``)."""
        return self.code_size / self.code_size_limit if self.code_size_limit else 0.0


def _read() -> Plan[ServerlessUsage]:
    info = yield from call("serverless", "account_usage")
    return ServerlessUsage(**info)


def serverless_usage(session: SessionLike) -> ServerlessUsage:
    """Code storage used against the account's limit, functions and concurrency in the session's region:
    ``s.serverless_usage().code_fraction``. ``Unsupported`` (before any request) on a provider without functions."""
    return run(session, _read())
