"""Functions on the local cloud: the AWS provider's Lambda client, pointed at the local cloud's server, which runs
invocations itself (``invocations.py``: whoever sends them, from the code it keeps for the function).

Two checks are made before any request, as Lambda would refuse: code must be a zip, a payload UTF-8 JSON. The
server enforces each function's timeout, so an invocation's answer is waited for as long as the longest function
may run (``INVOKE_READ_TIMEOUT``), whatever the session's ``read_timeout``: the Lambda client's ``Invoke`` requests
are sent through a connection pool of their own (botocore's ``before-send`` event answers them), the client's other
requests keep the session's timeouts.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any, cast

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.httpsession import URLLib3Session

from cloudorm.errors import InvalidInput, Timeout
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.functions import AwsFunctionService
from cloudorm.providers.contract import FunctionInfo, Invocation, Wire
from cloudorm.serverless.names import MAX_TIMEOUT

INVOKE_READ_TIMEOUT = MAX_TIMEOUT + 30.0
"""Seconds an invocation's answer is waited for: Lambda's longest timeout, and a margin for a cold start."""


def _check_zip(code: bytes) -> None:
    """Lambda refuses code that is not a zip: so does the local cloud, before any request."""
    if not isinstance(code, bytes) or not zipfile.is_zipfile(io.BytesIO(code)):
        raise InvalidInput("code", "must be the bytes of a zip file (Lambda could not unzip it)")


class LocalFunctionService(AwsFunctionService):
    """``FunctionService`` of the local cloud: Lambda's API on the local cloud's server (which runs invocations),
    with Lambda's input checks before any request."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(clients, provider, secrets)
        options = clients.options
        self._invoke_wait = max(options.read_timeout, INVOKE_READ_TIMEOUT)
        """Seconds an Invoke's answer is waited for."""
        timeouts = (options.connect_timeout, self._invoke_wait)
        self._invocations = URLLib3Session(timeout=timeouts,  # type: ignore[arg-type]  # (connect, read), as botocore
                                           max_pool_connections=options.max_pool_connections)
        # a before-send handler's response is the one botocore uses (hook() types handlers as returning None)
        clients.hook("before-send", "lambda", ("Invoke",), cast("Callable[..., None]", self._send_invocation))

    def _send_invocation(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        """Send an Invoke request with a read timeout above any function's (botocore uses the response)."""
        return self._invocations.send(request)

    def create_function(self, name: str, spec: Wire, code: bytes) -> FunctionInfo:
        """Create the function (code that is not a zip is refused before any request)."""
        _check_zip(code)
        return super().create_function(name, spec, code)

    def update_code(self, name: str, code: bytes, architecture: str) -> FunctionInfo:
        """Upload new code (code that is not a zip is refused before any request); the server closes the warm
        sandboxes of the old code."""
        _check_zip(code)
        return super().update_code(name, code, architecture)

    def _invoke_timed_out(self, name: str) -> Timeout:
        """The error of an Invoke of ``name`` unanswered after ``INVOKE_READ_TIMEOUT`` (or the session's longer
        ``read_timeout``): the server should have ended any function well before."""
        return Timeout(f"no answer from function {name!r} within {self._invoke_wait:g} s, although the local "
                       f"cloud ends any invocation after its timeout ({MAX_TIMEOUT} s at most): its server may be "
                       "stuck (the function may still be running and is not invoked again)",
                       provider=self.provider, operation="Invoke")

    def invoke(self, name: str, payload: bytes, wait: bool = True) -> Invocation:
        """Run the function on the local cloud's server, on ``payload`` (UTF-8 JSON bytes, checked before any
        request), as Lambda does: see ``AwsFunctionService.invoke``."""
        try:
            json.loads(payload.decode("utf-8"))
        except (AttributeError, UnicodeDecodeError, ValueError) as e:
            raise InvalidInput("payload", f"must be UTF-8 JSON bytes ({e})") from None
        return super().invoke(name, payload, wait)
