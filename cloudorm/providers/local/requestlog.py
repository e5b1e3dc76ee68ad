"""The local cloud's request log: one line per request (method, path, status, milliseconds, and the AWS service and
operation when the request names them), logged at INFO on ``cloudorm.requests``; off unless that logger is enabled
(``cloudorm serve --verbose``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

from cloudorm.providers.local.guard import WSGIApp, signing_service

log = logging.getLogger("cloudorm.requests")

_SAFE = "/:@!$&'()*+,;=-._~"
"""Characters of a path logged as they are (the rest are %-escaped, so a line stays one line)."""


class RequestLog:
    """WSGI middleware logging each request ``app`` answers, once its answer is sent: ``POST / 200 3 ms dynamodb
    PutItem``. Nothing secret is logged: no header, no query string, no body."""

    def __init__(self, app: WSGIApp) -> None:
        """Log the requests ``app`` answers."""
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not log.isEnabledFor(logging.INFO):
            return self.app(environ, start_response)
        started = time.perf_counter()
        status: list[str] = []

        def record(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            status[:] = [status_line.split(" ", 1)[0]]
            write: Callable[..., Any] = start_response(status_line, headers, exc_info)
            return write

        def done() -> None:
            log.info("%s", line(environ, status[0] if status else "-", time.perf_counter() - started))

        try:
            answer = self.app(environ, record)
        except BaseException:
            status[:] = ["500"]
            done()
            raise
        return _Logged(answer, done)


def line(environ: dict[str, Any], status: str, seconds: float) -> str:
    """The log line of one request (``POST / 200 3 ms dynamodb PutItem``)."""
    method = str(environ.get("REQUEST_METHOD") or "GET")
    path = quote(str(environ.get("PATH_INFO") or "/").encode("latin-1", "replace"), safe=_SAFE)
    out = f"{method} {path} {status} {seconds * 1000:.0f} ms"
    service = signing_service(environ)
    operation = str(environ.get("HTTP_X_AMZ_TARGET") or "").rpartition(".")[2]
    return " ".join(part for part in (out, quote(service, safe=""), quote(operation, safe="")) if part)


class _Logged:
    """An answer's body, passed on as it is; its request is logged when the server closes it."""

    def __init__(self, answer: Iterable[bytes], done: Callable[[], None]) -> None:
        self.answer = answer
        self.done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.answer)

    def close(self) -> None:
        try:
            close = getattr(self.answer, "close", None)
            if close is not None:
                close()
        finally:
            self.done()
