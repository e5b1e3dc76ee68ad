"""Functions on the local cloud: the AWS provider's Lambda client, pointed at the local cloud's server, which runs
invocations itself (``invocations.py``: whoever sends them, from the code it keeps for the function).

The server enforces each function's timeout, so an invocation's answer is waited for as long as the longest function
may run (``INVOKE_READ_TIMEOUT``), whatever the session's ``read_timeout``: the Lambda client's ``Invoke`` requests
are sent through a connection pool of their own (botocore's ``before-send`` event answers them), the client's other
requests keep the session's timeouts.
"""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.httpsession import URLLib3Session

from cloudorm.errors import Timeout
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.functions import AwsFunctionService
from cloudorm.serverless.names import MAX_TIMEOUT

INVOKE_READ_TIMEOUT = MAX_TIMEOUT + 30.0
"""Seconds an invocation's answer is waited for: Lambda's longest timeout, and a margin for a cold start."""


class LocalFunctionService(AwsFunctionService):
    """``FunctionService`` of the local cloud: Lambda's API on the local cloud's server (which runs invocations and
    ends each after its timeout, so an answer is waited for that long)."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(clients, provider, secrets)
        options = clients.options
        self._invoke_wait = max(options.read_timeout, INVOKE_READ_TIMEOUT)
        """Seconds an Invoke's answer is waited for."""
        timeouts = (options.connect_timeout, self._invoke_wait)
        self._invocations = URLLib3Session(timeout=timeouts,  # type: ignore[arg-type]  # (connect, read), as botocore
                                           max_pool_connections=options.max_pool_connections)
        clients.hook("before-send", "lambda", ("Invoke",), self._send_invocation)  # botocore uses its answer

    def _send_invocation(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        """Send an Invoke request with a read timeout above any function's (botocore uses the response)."""
        return self._invocations.send(request)

    def _invoke_timed_out(self, name: str) -> Timeout:
        """The error of an Invoke of ``name`` unanswered after ``INVOKE_READ_TIMEOUT`` (or the session's longer
        ``read_timeout``): the server should have ended any function well before."""
        return Timeout(f"no answer from function {name!r} within {self._invoke_wait:g} s, although the local "
                       f"cloud ends any invocation after its timeout ({MAX_TIMEOUT} s at most): its server may be "
                       "stuck (the function may still be running and is not invoked again)",
                       provider=self.provider, operation="Invoke")
