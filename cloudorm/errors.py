"""The exceptions cloudorm raises: one hierarchy for every provider.

Provider errors are mapped onto these types; the provider's own code, message and request id are kept on the
exception (``code``, ``message``, ``request_id``) so nothing the provider said is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class CloudError(Exception):
    """Base class of every cloudorm error; carries what the provider said, if anything."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        provider: str | None = None,
        operation: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.provider = provider
        self.operation = operation
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        # every subclass has its own constructor: rebuild from the state instead, so errors cross processes
        return _rebuild, (type(self), self.args, self.__dict__)

    def provider_details(self) -> dict[str, Any]:
        """What the provider said (code, request id, provider, operation, status), to carry over to another error."""
        return {"code": self.code, "request_id": self.request_id, "provider": self.provider,
                "operation": self.operation, "status": self.status}

    def __str__(self) -> str:
        parts = [self.message]
        origin = [f"{k}={v}" for k, v in (("provider", self.provider), ("operation", self.operation),
                                           ("code", self.code), ("request_id", self.request_id)) if v]
        if origin:
            parts.append(f"({', '.join(origin)})")
        return " ".join(parts)


def _rebuild(cls: type[CloudError], args: tuple[Any, ...], state: dict[str, Any]) -> CloudError:
    """Unpickle a CloudError of any subclass."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class NotFound(CloudError):
    """The resource (table, item, bucket, user, ...) does not exist."""


class AlreadyExists(CloudError):
    """The resource being created exists already."""


class ConflictError(CloudError):
    """A condition failed: a stale version, a failed condition expression or a blocked delete."""

    item: Any = None
    """The item as it stands in the table, when the provider returned it with the failure."""

    blockers: Any = None
    """For a blocked delete (IAM): what still depends on the entity, as ``{what: [names]}``."""


class InvalidInput(CloudError):
    """Input was rejected; ``field`` names what was wrong and ``reason`` says why."""

    def __init__(self, field: str | None, reason: str, **provider: Any) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason, **provider)


class RowError(InvalidInput):
    """A stored row that does not fit its typed model: names the table, the row's key and the attribute."""

    def __init__(self, table: str, key: dict[str, Any], model: str, attribute: str | None, reason: str,
                 item: dict[str, Any] | None = None) -> None:
        self.table = table
        self.key = key
        self.model = model
        self.attribute = attribute
        self.item = item
        """The row as stored (decoded, untyped), so a caller that skips it can still look at it."""
        super().__init__(f"{model}.{attribute}" if attribute else model,
                         f"the row {key!r} of table {table!r} cannot be read: {reason}")


class AccessDenied(CloudError):
    """The credentials are missing, invalid or not allowed to do this."""


class Throttled(CloudError):
    """The provider asked us to slow down and retries did not get through."""


class Unsupported(CloudError):
    """The provider does not offer this area or operation."""

    def __init__(self, provider: str, area: str, detail: str | None = None, **details: Any) -> None:
        text = f"provider {provider!r} does not support {area}"
        super().__init__(f"{text}: {detail}" if detail else text, provider=provider, **details)
        self.area = area


class BatchError(CloudError):
    """A batch could not be completed; ``unprocessed`` holds exactly what was not written or read."""

    def __init__(self, message: str, unprocessed: Sequence[Any], **provider: Any) -> None:
        super().__init__(message, **provider)
        self.unprocessed = list(unprocessed)


class TransactionError(CloudError):
    """A transaction was cancelled; ``reasons`` has one entry per action (``None`` where that action was fine)."""

    def __init__(self, message: str, reasons: Sequence[TransactionReason | None], **provider: Any) -> None:
        super().__init__(message, **provider)
        self.reasons = list(reasons)


class TransactionReason:
    """Why one action of a cancelled transaction failed: the provider's code and message."""

    __slots__ = ("code", "index", "item", "message")

    def __init__(self, index: int, code: str, message: str | None = None, item: Any = None) -> None:
        self.index = index
        self.code = code
        self.message = message
        self.item = item

    def __repr__(self) -> str:
        return f"TransactionReason(index={self.index}, code={self.code!r}, message={self.message!r})"


class FunctionError(CloudError):
    """A serverless function raised: the remote error type, message and traceback are kept."""

    def __init__(self, message: str, error_type: str | None = None,
                 traceback: Sequence[str] = (), **provider: Any) -> None:
        super().__init__(message, **provider)
        self.error_type = error_type
        self.traceback = list(traceback)


class CommandFailed(CloudError):
    """A command on a node exited non-zero (one entry in ``failures`` per failing node)."""

    def __init__(self, message: str, failures: Sequence[Any] = (), **provider: Any) -> None:
        super().__init__(message, **provider)
        self.failures = list(failures)


class ClusterError(CloudError):
    """Work on some nodes of a cluster failed; ``causes`` maps node names to what went wrong, and ``results``
    holds what the other nodes returned (``cluster.run``: their ``CommandResults``; ``get_file``: paths by name)."""

    def __init__(self, message: str, causes: dict[str, BaseException] | None = None, results: Any = None,
                 **provider: Any) -> None:
        super().__init__(message, **provider)
        self.causes = dict(causes or {})
        self.results = results


class HostKeyMismatch(CloudError):
    """A node's SSH host key is not the one pinned or recorded for it: the connection was refused."""

    def __init__(self, message: str, host: str | None = None, expected: str | None = None,
                 actual: str | None = None, **provider: Any) -> None:
        super().__init__(message, **provider)
        self.host = host
        self.expected = expected
        self.actual = actual


class OutcomeUnknown(CloudError):
    """A write's answer was lost and what the service holds now cannot tell whether it was applied; it was not sent
    again. Look at the data before deciding whether to repeat it."""


class Timeout(CloudError):
    """An operation or wait did not finish before its deadline."""

    last_error: Any = None
    """For a retried operation (``cloudorm.iam.until_propagated``): the error of its last attempt."""


__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "BatchError",
    "CloudError",
    "ClusterError",
    "CommandFailed",
    "ConflictError",
    "FunctionError",
    "HostKeyMismatch",
    "InvalidInput",
    "NotFound",
    "OutcomeUnknown",
    "RowError",
    "Throttled",
    "Timeout",
    "TransactionError",
    "TransactionReason",
    "Unsupported",
]
