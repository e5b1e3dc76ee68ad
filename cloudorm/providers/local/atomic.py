"""DynamoDB requests to the local cloud applied one at a time, and TransactWriteItems' ClientRequestToken honoured.

moto checks a write's condition and applies the write as separate steps, with no lock: two writers racing on one
item can both pass ``version = :seen`` and both win (a lost update). Scans and queries iterate the dicts that
writes change. ``AtomicDynamoDB`` runs every DynamoDB (and DynamoDB Streams) request of the process under one lock,
so each conditional write, batch and transaction is atomic, as on DynamoDB. moto's DynamoDB state is one per
process, so the lock and the remembered transactions are too, whatever the number of servers.

A ``TransactWriteItems`` carrying a ``ClientRequestToken`` that was applied less than ``TOKEN_WINDOW`` seconds ago
is answered with the first call's answer and not applied again; the same token with other parameters is answered
``IdempotentParameterMismatchException``, as DynamoDB does. Only applied transactions are remembered: one that was
refused (cancelled, invalid) runs again when re-sent.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from cloudorm.providers.local.guard import WSGIApp
from cloudorm.providers.local.wsgi import Answer, collect, read_body

TOKEN_WINDOW = 600.0
"""Seconds a TransactWriteItems ClientRequestToken is remembered (DynamoDB's idempotency window: 10 minutes)."""

_TARGETS = ("DynamoDB_", "DynamoDBStreams_")
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_JSON = "application/x-amz-json-1.0"


@attrs.frozen
class _Applied:
    expires: float
    fingerprint: str
    answer: Answer


class TokenCache:
    """The answers of applied transactions by (region, ClientRequestToken), each kept for ``window`` seconds."""

    def __init__(self, window: float = TOKEN_WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        """An empty cache; ``clock`` gives the time in seconds."""
        self.window = window
        self.clock = clock
        self._entries: OrderedDict[tuple[str, str], _Applied] = OrderedDict()

    def lookup(self, key: tuple[str, str], fingerprint: str) -> Answer | None:
        """The remembered answer for ``key``; None if there is none (or it expired). ``Mismatch`` if the token was
        used with other parameters (``fingerprint``)."""
        self._expire()
        found = self._entries.get(key)
        if found is None:
            return None
        if found.fingerprint != fingerprint:
            raise Mismatch(key[1])
        return found.answer

    def remember(self, key: tuple[str, str], fingerprint: str, answer: Answer) -> None:
        """Keep ``answer`` as the one for ``key`` for the next ``window`` seconds."""
        self._entries[key] = _Applied(self.clock() + self.window, fingerprint, answer)
        self._entries.move_to_end(key)

    def __len__(self) -> int:
        """The number of tokens remembered (expired ones included until the next lookup)."""
        return len(self._entries)

    def _expire(self) -> None:
        now = self.clock()
        while self._entries:
            key, first = next(iter(self._entries.items()))
            if first.expires > now:
                break
            del self._entries[key]


class Mismatch(Exception):
    """A ClientRequestToken was sent again with other parameters."""


class _DynamoState:
    """What every AtomicDynamoDB of the process shares, as moto's DynamoDB state is one per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens = TokenCache()


_PROCESS = _DynamoState()


class AtomicDynamoDB:
    """WSGI middleware running every DynamoDB request to ``app`` (moto) under the process's DynamoDB lock and
    answering repeated TransactWriteItems by their ClientRequestToken."""

    def __init__(self, app: WSGIApp) -> None:
        """Wrap ``app``; other services' requests pass through untouched."""
        self.app = app
        self._state = _PROCESS

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET") or ""
        if not target.startswith(_TARGETS):
            return self.app(environ, start_response)
        body = read_body(environ)  # read before locking: a slow client never holds the lock
        operation = target.rpartition(".")[2]
        token = _token(body) if operation == "TransactWriteItems" else None
        with self._state.lock:
            answer = self._answer(environ, token)
        start_response(answer.status, answer.headers)
        return [answer.body]

    def _answer(self, environ: dict[str, Any], token: tuple[str, str] | None) -> Answer:
        if token is None:
            return self._call(environ)
        key, fingerprint = (_region(environ), token[0]), token[1]
        tokens = self._state.tokens
        try:
            earlier = tokens.lookup(key, fingerprint)
        except Mismatch:
            return _error("IdempotentParameterMismatchException",
                          f"Request parameters do not match the parameters of an earlier request with the same "
                          f"client token {key[1]!r}.")
        if earlier is not None:
            return attrs.evolve(earlier, headers=_new_request_id(earlier.headers))
        answer = self._call(environ)
        if answer.status.startswith("200"):
            tokens.remember(key, fingerprint, answer)
        return answer

    def _call(self, environ: dict[str, Any]) -> Answer:
        return collect(self.app, environ)


def _token(body: bytes) -> tuple[str, str] | None:
    """(ClientRequestToken, the fingerprint of every other parameter) of a TransactWriteItems body, if it has one."""
    try:
        params = json.loads(body)
    except ValueError:
        return None
    token = params.pop("ClientRequestToken", None) if isinstance(params, dict) else None
    if not isinstance(token, str) or not token:
        return None
    return token, json.dumps(params, sort_keys=True, separators=(",", ":"))


def _region(environ: dict[str, Any]) -> str:
    """The region the request was signed for (``AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/...``)."""
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    scope = auth.partition("Credential=")[2].split(",")[0].split("/")
    return scope[2] if len(scope) > 2 else ""


def _new_request_id(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    fresh = uuid.uuid4().hex.upper()
    return [(k, fresh if k.lower() == "x-amzn-requestid" else v) for k, v in headers]


def _error(code: str, message: str) -> Answer:
    """DynamoDB's JSON error answer (HTTP 400)."""
    body = json.dumps({"__type": _ERROR_PREFIX + code, "message": message}).encode()
    return Answer("400 Bad Request", [("Content-Type", _JSON), ("Content-Length", str(len(body))),
                                            ("x-amzn-RequestId", uuid.uuid4().hex.upper())], body)
