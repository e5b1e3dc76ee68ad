"""What the local cloud's WSGI middleware share: a request's body read up front, and an application's answer
collected whole, so a lock is held while moto works and never while a client sends or reads."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import attrs
from werkzeug.wsgi import get_input_stream

from cloudorm.providers.local.guard import WSGIApp


@attrs.frozen
class Answer:
    """A complete HTTP answer: status line, headers and body."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the request's whole body and put it back in ``environ`` as a fresh stream; returns it."""
    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def collect(app: WSGIApp, environ: dict[str, Any]) -> Answer:
    """Run ``app`` on ``environ`` and return its whole answer (the application's iterable closed)."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        started[:] = [status, list(headers)]
        return lambda data: None  # pragma: no cover - moto never writes through the legacy write()

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Answer(started[0], started[1], body)
