"""An endpoint that lacks an operation (an emulator such as a plain moto server answers its own HTML 404 page) told
apart from a missing resource, which AWS reports with an error code."""

from __future__ import annotations

from cloudorm import errors as ce


def lacking(error: ce.CloudError, provider: str, operation: str) -> ce.CloudError:
    """``Unsupported`` naming ``provider`` and ``operation`` when ``error`` is a 404 without an AWS error code (the
    endpoint does not serve the operation), else ``error`` itself."""
    if isinstance(error, ce.NotFound) and error.code == "404":
        return ce.Unsupported(provider, operation, "the endpoint does not implement it", code=error.code,
                              request_id=error.request_id, operation=operation, status=error.status)
    return error
