"""Lambda's ``GetAccountSettings`` (``GET /2016-08-19/account-settings``), answered by the local cloud's server for
every client (cloudorm, boto3, the AWS CLI); moto does not serve it.

``AccountUsage`` is read from the functions moto keeps in the request's account and region: ``TotalCodeSize`` sums
the code of every version of every function and of every layer version, ``FunctionCount`` counts functions.
``AccountLimit`` is Lambda's default quotas (75 GB of code, 50 MB zipped and 250 MB unzipped per function, 1,000
concurrent executions, or moto's ``MOTO_LAMBDA_CONCURRENCY_QUOTA``); ``UnreservedConcurrentExecutions`` is that less
the functions' reserved concurrency.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from cloudorm.providers.local.app import LocalCloud, Part, register_part
from cloudorm.providers.local.guard import WSGIApp, request_account, signing_region
from cloudorm.providers.local.invocations import DEFAULT_REGION

CODE_STORAGE = 75 * 1024**3
"""Bytes of code a region may store (Lambda's default quota)."""
ZIPPED_SIZE = 50 * 1024**2
"""Largest zip uploaded directly (bytes)."""
UNZIPPED_SIZE = 250 * 1024**2
"""Largest function with its layers, unzipped (bytes)."""
CONCURRENCY = 1000
"""Concurrent executions of a region (Lambda's default quota)."""

_PATH = re.compile(r"^/2016-08-19/account-settings/?$")


def _concurrency_limit() -> int:
    """Lambda's concurrency quota, or the one moto is told to enforce (``MOTO_LAMBDA_CONCURRENCY_QUOTA``)."""
    configured = os.environ.get("MOTO_LAMBDA_CONCURRENCY_QUOTA", "")
    return int(configured) if configured.isdigit() else CONCURRENCY


def account_settings(account: str, region: str) -> dict[str, Any]:
    """GetAccountSettings' answer for ``account`` in ``region``, from the functions and layers moto keeps there."""
    from moto.awslambda.models import lambda_backends

    code_size = functions = reserved = 0
    regions = dict.get(lambda_backends, account)  # dict's own: looking creates no backend
    backend = dict.get(regions, region) if regions is not None else None
    if backend is not None:
        for group in list(backend._lambdas._functions.values()):  # moto's storage: {"latest": fn, "versions": [...]}
            latest, versions = group.get("latest"), list(group.get("versions") or ())
            code_size += sum(int(getattr(fn, "code_size", 0) or 0) for fn in [latest, *versions] if fn is not None)
            functions += 1
            reserved += int(getattr(latest, "reserved_concurrency", None) or 0) if latest is not None else 0
        for layer in list(backend._layers._layers.values()):
            code_size += sum(int(getattr(v, "code_size", 0) or 0) for v in list(layer.layer_versions.values()))
    limit = _concurrency_limit()
    return {"AccountLimit": {"TotalCodeSize": CODE_STORAGE, "CodeSizeUnzipped": UNZIPPED_SIZE,
                             "CodeSizeZipped": ZIPPED_SIZE, "ConcurrentExecutions": limit,
                             "UnreservedConcurrentExecutions": max(0, limit - reserved)},
            "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": functions}}


class AccountSettings(Part):
    """The local cloud's part that answers Lambda's GetAccountSettings (see the module); it keeps no state."""

    name = "account-settings"

    def route(self, method: str, path: str) -> WSGIApp | None:
        """GetAccountSettings."""
        return self._serve if method == "GET" and _PATH.match(path) else None

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        settings = account_settings(request_account(environ), signing_region(environ) or DEFAULT_REGION)
        body = json.dumps(settings).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4())),
                                  ("Content-Length", str(len(body)))])
        return [body]


@register_part
def _account_settings(cloud: LocalCloud) -> Part:
    return AccountSettings()
