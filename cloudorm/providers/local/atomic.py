"""DynamoDB requests to the local cloud applied one at a time, and TransactWriteItems' ClientRequestToken honoured.

moto checks a write's condition and applies the write as separate steps, with no lock: two writers racing on one
item can both pass ``version = :seen`` and both win (a lost update). Scans and queries iterate the dicts that
writes change. ``AtomicDynamoDB`` runs every DynamoDB (and DynamoDB Streams) request of the process under one lock,
so each conditional write, batch and transaction is atomic, as on DynamoDB. moto's DynamoDB state is one per
process, so the lock and the remembered transactions are too, whatever the number of servers.

A ``TransactWriteItems`` carrying a ``ClientRequestToken`` that was applied less than ``TOKEN_WINDOW`` seconds ago
is answered with the first call's answer and not applied again; the same token with other parameters is answered
``IdempotentParameterMismatchException``, as DynamoDB does. Only applied transactions are remembered: one that was
refused (cancelled, invalid) runs again when re-sent. A reset of the local cloud (``AtomicDynamoDB.reset``) forgets
them with the tables they wrote.

moto's TransactWriteItems deep-copies every table it touches (to roll back), so its cost grows with the tables'
size, under the lock. A transaction of one Put, Update or Delete (what cloudorm sends for a write that must apply
once) is run as that PutItem / UpdateItem / DeleteItem and answered as the transaction: ``{"ConsumedCapacity": [],
"ItemCollectionMetrics": {}}`` as moto does, or its failed condition as ``TransactionCanceledException``
[ConditionalCheckFailed] (with the item when ``ALL_OLD`` was asked). Any other refusal is left to moto's own
transaction, which then gives the answer it always gave (the item an UpdateItem may have half-changed is put back
first).
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import attrs
from moto.dynamodb.exceptions import TransactionCanceledException

from cloudorm.providers.local.guard import WSGIApp
from cloudorm.providers.local.wsgi import Answer, collect, read_body

TOKEN_WINDOW = 600.0
"""Seconds a TransactWriteItems ClientRequestToken is remembered (DynamoDB's idempotency window: 10 minutes)."""

_TARGETS = ("DynamoDB_", "DynamoDBStreams_")
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_JSON = "application/x-amz-json-1.0"
_SINGLE = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
"""The single-item operation each kind of transaction action is run as."""
_ACTION_FIELDS = frozenset({"TableName", "Item", "Key", "ConditionExpression", "UpdateExpression",
                            "ExpressionAttributeNames", "ExpressionAttributeValues",
                            "ReturnValuesOnConditionCheckFailure"})
_APPLIED = json.dumps({"ConsumedCapacity": [], "ItemCollectionMetrics": {}}).encode()
"""moto's answer to an applied TransactWriteItems."""


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

    def clear(self) -> None:
        """Forget every token."""
        self._entries.clear()

    def dump(self) -> list[tuple[tuple[str, str], float, str, Answer]]:
        """The tokens still remembered, each with its expiry as wall-clock time (``time.time()``), for ``--state``."""
        self._expire()
        offset = time.time() - self.clock()
        return [(key, entry.expires + offset, entry.fingerprint, entry.answer) for key, entry in self._entries.items()]

    def load(self, state: list[tuple[tuple[str, str], float, str, Answer]]) -> None:
        """Remember again the tokens ``dump()`` gave (those not expired since)."""
        offset = time.time() - self.clock()
        self._entries = OrderedDict((tuple(key), _Applied(expires - offset, fingerprint, answer))  # type: ignore[misc]
                                    for key, expires, fingerprint, answer in sorted(state, key=lambda e: e[1]))
        self._expire()

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

    @property
    def tokens(self) -> TokenCache:
        """The ClientRequestTokens of applied transactions (one memory per process)."""
        return self._state.tokens

    def reset(self, forget_tables: Callable[[], None]) -> None:
        """Run ``forget_tables`` (moto's reset) and forget every remembered transaction, under the DynamoDB lock: a
        transaction is wholly before the reset or wholly after it, and one sent again afterwards is applied again."""
        with self._state.lock:
            forget_tables()
            self._state.tokens.clear()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET") or ""
        if not target.startswith(_TARGETS):
            return self.app(environ, start_response)
        body = read_body(environ)  # read before locking: a slow client never holds the lock
        operation = target.rpartition(".")[2]
        params = _params(body) if operation == "TransactWriteItems" else None
        token = _token(params) if params is not None else None
        one = _one_action(params) if params is not None else None
        with self._state.lock:
            answer = self._answer(environ, token, one)
        start_response(answer.status, answer.headers)
        return [answer.body]

    def _answer(self, environ: dict[str, Any], token: tuple[str, str] | None,
                one: tuple[str, dict[str, Any]] | None) -> Answer:
        if token is None:
            return self._transact(environ, one)
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
        answer = self._transact(environ, one)
        if answer.status.startswith("200"):
            tokens.remember(key, fingerprint, answer)
        return answer

    def _transact(self, environ: dict[str, Any], one: tuple[str, dict[str, Any]] | None) -> Answer:
        """The answer to the request of ``environ``; a one-action TransactWriteItems (``one``: the single-item
        operation and its parameters) is run as that operation, without moto's copy of the whole table."""
        if one is None:
            return self._call(environ)
        operation, params = one
        before = self._item(environ, params) if operation == "UpdateItem" else None
        answer = self._call(_request(environ, operation, params))
        if answer.status.startswith("200"):
            return _rewritten(answer, _APPLIED)
        cancelled = _cancelled(answer)
        if cancelled is not None:
            return cancelled
        if before is not None and self._item(environ, params) != before:
            self._put_back(environ, params, before)
        return self._call(environ)  # refused: moto's transaction gives the answer it always gave

    def _item(self, environ: dict[str, Any], params: dict[str, Any]) -> tuple[bool, Any]:
        """(whether the table answered, the item of ``params``' Key or None), read consistently."""
        answer = self._call(_request(environ, "GetItem", {"TableName": params["TableName"], "Key": params["Key"],
                                                          "ConsistentRead": True}))
        if not answer.status.startswith("200"):
            return False, None
        return True, json.loads(answer.body).get("Item")

    def _put_back(self, environ: dict[str, Any], params: dict[str, Any], before: tuple[bool, Any]) -> None:
        """Put back the item a refused UpdateItem changed part of (moto applies an update's actions one by one)."""
        found, item = before
        if not found:
            return
        if item is None:
            self._call(_request(environ, "DeleteItem", {"TableName": params["TableName"], "Key": params["Key"]}))
        else:
            self._call(_request(environ, "PutItem", {"TableName": params["TableName"], "Item": item}))

    def _call(self, environ: dict[str, Any]) -> Answer:
        return collect(self.app, environ)


def _params(body: bytes) -> dict[str, Any] | None:
    """The parameters of a JSON request body; None if it is not a JSON object."""
    try:
        params = json.loads(body)
    except ValueError:
        return None
    return params if isinstance(params, dict) else None


def _token(params: dict[str, Any]) -> tuple[str, str] | None:
    """(ClientRequestToken, the fingerprint of every other parameter) of a TransactWriteItems, if it has one."""
    token = params.get("ClientRequestToken")
    if not isinstance(token, str) or not token:
        return None
    rest = {k: v for k, v in params.items() if k != "ClientRequestToken"}
    return token, json.dumps(rest, sort_keys=True, separators=(",", ":"))


def _one_action(params: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(PutItem/UpdateItem/DeleteItem, its parameters) of a TransactWriteItems of exactly one Put, Update or Delete
    holding only the fields those operations share with it; None for any other transaction."""
    items = params.get("TransactItems")
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict) or len(items[0]) != 1:
        return None
    kind, action = next(iter(items[0].items()))
    if kind not in _SINGLE or not isinstance(action, dict) or not action.keys() <= _ACTION_FIELDS:
        return None
    key = action.get("Item" if kind == "Put" else "Key")
    if not isinstance(action.get("TableName"), str) or not isinstance(key, dict):
        return None
    if kind != "Put" and any(value in ({"S": ""}, {"B": ""}) for value in key.values()):
        return None  # moto's transaction refuses an empty key before its condition; UpdateItem would check that first
    return _SINGLE[kind], action


def _request(environ: dict[str, Any], operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``environ`` (a DynamoDB request) asking for ``operation`` with ``params`` instead."""
    body = json.dumps(params).encode()
    target = environ["HTTP_X_AMZ_TARGET"].rpartition(".")[0]
    return {**environ, "HTTP_X_AMZ_TARGET": f"{target}.{operation}", "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body))}


def _cancelled(answer: Answer) -> Answer | None:
    """A single write's failed condition (``answer``) as moto answers it for a one-action transaction; None for any
    other answer."""
    try:
        error = json.loads(answer.body)
    except ValueError:
        return None
    if not isinstance(error, dict) or error.get("__type") != _ERROR_PREFIX + "ConditionalCheckFailedException":
        return None
    reason = ("ConditionalCheckFailed", error.get("message"), error.get("Item"))
    return _rewritten(answer, TransactionCanceledException([reason]).description.encode(),
                      "TransactionCanceledException")


def _rewritten(answer: Answer, body: bytes, error_type: str | None = None) -> Answer:
    """``answer`` with ``body`` (its length and CRC32 headers to match) and, for an error, ``error_type``."""
    fixed = {"content-length": str(len(body)), "x-amz-crc32": str(zlib.crc32(body))}
    if error_type is not None:
        fixed["x-amzn-errortype"] = error_type
    return attrs.evolve(answer, headers=[(k, fixed.get(k.lower(), v)) for k, v in answer.headers], body=body)


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
