"""A fault-injecting HTTP proxy for testing code that talks to cloud services.

``FaultProxy`` is a real HTTP server on ``127.0.0.1`` (random free port) that
forwards every request to an upstream HTTP endpoint (for example a moto
server) and, with a configurable probability, answers with a fault instead:
a throttling error, an internal server error, or a dropped connection.  It can
also make DynamoDB ``BatchWriteItem`` calls partially fail by moving some
write requests into ``UnprocessedItems``.  Only the standard library is used.

Usage::

    from moto.server import ThreadedMotoServer
    from cloudorm.testing import FaultProxy

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    with FaultProxy(f"http://{host}:{port}", rate=0.3, seed=1) as proxy:
        client = boto3.client("dynamodb", endpoint_url=proxy.url, ...)
        ...
        print(proxy.stats)  # {"requests": ..., "throttle": ..., ...}
    server.stop()

Fault kinds (``kinds``):

* ``"throttle"``: DynamoDB ``ThrottlingException`` (HTTP 400, JSON) for
  requests with an ``X-Amz-Target`` header, S3 ``SlowDown`` (HTTP 503, XML)
  for the others.  Nothing is forwarded.
* ``"error500"``: HTTP 500, JSON ``InternalServerError`` or XML
  ``InternalError``.  Nothing is forwarded.
* ``"drop"``: the request is read, then the connection is closed without a
  response.  Nothing is forwarded.
* ``"drop_after"``: the request is forwarded upstream, then the connection is
  closed without relaying the response (the operation did happen).
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
import uuid
import zlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from cloudorm.testing.proxy_http import (
    BATCH_WRITE_TARGET,
    DDB_PREFIX,
    STAT_KEYS,
    UPSTREAM_TIMEOUT,
    BadRequest,
    ProxyHandler,
    ProxyServer,
    connection_tokens,
    is_hop_by_hop,
)
from cloudorm.testing.service import TestService

__all__ = ["FAULT_KINDS", "FaultProxy"]

logger = logging.getLogger(__name__)

FAULT_KINDS: tuple[str, ...] = ("throttle", "error500", "drop", "drop_after")
"""Every fault kind that ``FaultProxy`` knows how to inject."""

def _validate_rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return rate


def _validate_latency(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 60.0:
        raise ValueError(f"latency must be seconds between 0 and 60, got {value!r}")
    return float(value)


def _validate_kinds(kinds: object) -> tuple[str, ...]:
    if isinstance(kinds, (str, bytes)) or not isinstance(kinds, Sequence):
        raise ValueError(f"kinds must be a sequence of fault kind names, got {kinds!r}")
    result = tuple(kinds)
    if not result:
        raise ValueError("kinds must not be empty")
    for kind in result:
        if kind not in FAULT_KINDS:
            raise ValueError(f"kinds contains unknown fault kind {kind!r}; known: {FAULT_KINDS}")
    return result



class FaultProxy(TestService):
    """A forwarding HTTP proxy that injects throttling, 500s and dropped connections.

    See the module docstring for the fault kinds and an example.
    """

    def __init__(
        self,
        upstream: str,
        rate: float = 0.0,
        kinds: Sequence[str] = ("throttle", "error500", "drop"),
        unprocessed_rate: float = 0.0,
        seed: int | None = None,
        latency: float = 0.0,
    ) -> None:
        """Configure the proxy; call ``start()`` (or use ``with``) to serve."""
        self._upstream_host, self._upstream_port, self._upstream_prefix = self._parse_upstream(upstream)
        self.upstream = upstream
        """The upstream base URL requests are forwarded to."""
        self._rate = _validate_rate("rate", rate)
        self._kinds = _validate_kinds(kinds)
        self._unprocessed_rate = _validate_rate("unprocessed_rate", unprocessed_rate)
        self._latency = _validate_latency(latency)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self._server: ProxyServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int = 0
        """The local port the proxy listens on (0 until started)."""

    # -- configuration ---------------------------------------------------------

    @staticmethod
    def _parse_upstream(upstream: object) -> tuple[str, int, str]:
        if not isinstance(upstream, str):
            raise ValueError(f"upstream must be an http:// URL string, got {upstream!r}")
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http://host[:port] URL, got {upstream!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"upstream must not have a query or fragment, got {upstream!r}")
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise ValueError(f"upstream has an invalid port: {upstream!r}") from exc
        return parts.hostname, port, parts.path.rstrip("/")

    def configure(
        self,
        *,
        rate: float | None = None,
        kinds: Sequence[str] | None = None,
        unprocessed_rate: float | None = None,
        latency: float | None = None,
    ) -> None:
        """Change the fault settings of a running proxy; ``None`` keeps a setting."""
        new_rate = self._rate if rate is None else _validate_rate("rate", rate)
        new_kinds = self._kinds if kinds is None else _validate_kinds(kinds)
        new_unprocessed = (
            self._unprocessed_rate if unprocessed_rate is None else _validate_rate("unprocessed_rate", unprocessed_rate)
        )
        new_latency = self._latency if latency is None else _validate_latency(latency)
        with self._rng_lock:
            self._rate, self._kinds, self._unprocessed_rate = new_rate, new_kinds, new_unprocessed
            self._latency = new_latency

    @property
    def rate(self) -> float:
        """Share of requests answered with a fault instead of being forwarded."""
        return self._rate

    @property
    def kinds(self) -> tuple[str, ...]:
        """Fault kinds picked from (uniformly) when a request is faulted."""
        return self._kinds

    @property
    def latency(self) -> float:
        """Seconds every request waits before it is answered or forwarded (a stand-in for network distance)."""
        return self._latency

    @property
    def unprocessed_rate(self) -> float:
        """Probability that a forwarded BatchWriteItem is made partially unprocessed."""
        return self._unprocessed_rate

    # -- stats -------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, int]:
        """A copy of the counters: requests, forwarded, one per fault kind, unprocessed_*.

        ``forwarded`` counts requests sent upstream (``drop_after`` ones included).
        """
        with self._stats_lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        with self._stats_lock:
            self._stats = dict.fromkeys(STAT_KEYS, 0)

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self._stats[key] += n

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread; return self."""
        if self._server is not None:
            raise RuntimeError("FaultProxy is already started")
        server = ProxyServer(self)
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"FaultProxy:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every client connection (idempotent)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = None
        self._thread = None
        server.shutdown()
        server.close_open_sockets()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def url(self) -> str:
        """The proxy's base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("FaultProxy is not started")
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        """Show upstream, port and fault settings."""
        return (
            f"FaultProxy(upstream={self.upstream!r}, port={self.port}, rate={self._rate}, "
            f"kinds={self._kinds!r}, unprocessed_rate={self._unprocessed_rate}, latency={self._latency})"
        )

    # -- request handling --------------------------------------------------------

    def _pick_fault(self) -> str | None:
        with self._rng_lock:
            if self._rate > 0.0 and self._rng.random() < self._rate:
                return self._rng.choice(self._kinds)
        return None

    def _split_batch(self, body: bytes) -> tuple[bytes, dict[str, list[Any]]] | None:
        """Maybe move some BatchWriteItem write requests out; return (new body, held back)."""
        with self._rng_lock:
            if not (self._unprocessed_rate > 0.0 and self._rng.random() < self._unprocessed_rate):
                return None
        try:
            payload = json.loads(body)
            request_items = payload["RequestItems"]
            flat = [(table, wr) for table, wrs in request_items.items() for wr in wrs]
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        if len(flat) < 2:
            return None
        with self._rng_lock:
            keep_count = self._rng.randint(1, len(flat) - 1)
            keep = set(self._rng.sample(range(len(flat)), keep_count))
        forwarded: dict[str, list[Any]] = {}
        held: dict[str, list[Any]] = {}
        for index, (table, wr) in enumerate(flat):
            (forwarded if index in keep else held).setdefault(table, []).append(wr)
        payload["RequestItems"] = forwarded
        return json.dumps(payload).encode(), held

    def _handle(self, handler: ProxyHandler) -> None:
        self._count("requests")
        try:
            body, framed, trailers = handler.read_body()
        except BadRequest as exc:
            handler.close_connection = True
            handler.send_full_response(400, None, [("Content-Type", "text/plain")], f"{exc}\n".encode())
            return
        if self._latency:
            time.sleep(self._latency)
        target = handler.headers.get("X-Amz-Target")
        fault = self._pick_fault()
        if fault in ("throttle", "error500"):
            self._count(fault)
            self._send_fault(handler, fault, is_json=target is not None)
            return
        if fault == "drop":
            self._count("drop")
            handler.drop()
            return

        held: dict[str, list[Any]] | None = None
        if target == BATCH_WRITE_TARGET and fault is None:
            split = self._split_batch(body)
            if split is not None:
                body, held = split

        self._count("forwarded")
        try:
            status, reason, headers, resp_body = self._forward(handler, body, framed, trailers, held)
        except (OSError, http.client.HTTPException) as exc:
            if fault == "drop_after":
                self._count("drop_after")
                handler.drop()
                return
            handler.send_full_response(
                502,
                "Bad Gateway",
                [("Content-Type", "text/plain")],
                f"fault proxy: upstream error: {exc!r}\n".encode(),
            )
            return
        if fault == "drop_after":
            self._count("drop_after")
            handler.drop()
            return
        if held is not None and status == 200:
            merged = self._merge_unprocessed(resp_body, held)
            if merged is not None:
                resp_body = merged
                headers = self._fix_crc32(headers, resp_body)
                self._count("unprocessed_batches")
                self._count("unprocessed_items", sum(len(v) for v in held.values()))
        handler.send_full_response(status, reason, headers, resp_body, keep_content_length=handler.command == "HEAD")

    def _forward(
        self,
        handler: ProxyHandler,
        body: bytes,
        framed: bool,
        trailers: list[tuple[str, str]],
        held: dict[str, list[Any]] | None,
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request upstream and read the full response."""
        extra = connection_tokens(handler.headers.get_all("Connection") or [])
        conn = http.client.HTTPConnection(self._upstream_host, self._upstream_port, timeout=UPSTREAM_TIMEOUT)
        try:
            conn.putrequest(
                handler.command,
                self._upstream_prefix + handler.path,
                skip_host=True,
                skip_accept_encoding=True,
            )
            host = self._upstream_host
            if ":" in host:  # IPv6 literal
                host = f"[{host}]"
            if self._upstream_port != 80:
                host = f"{host}:{self._upstream_port}"
            conn.putheader("Host", host)
            for name, value in [*handler.headers.items(), *trailers]:
                lower = name.lower()
                if lower in ("host", "content-length", "expect") or is_hop_by_hop(name, extra):
                    continue
                if held is not None and lower == "accept-encoding":
                    continue  # the response body must stay readable for merging
                conn.putheader(name, value)
            if framed or body:
                conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Connection", "close")
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            resp_body = resp.read()
            resp_extra = connection_tokens(resp.headers.get_all("Connection") or [])
            headers = [(name, value) for name, value in resp.getheaders() if not is_hop_by_hop(name, resp_extra)]
            return resp.status, resp.reason, headers, resp_body
        finally:
            conn.close()

    @staticmethod
    def _merge_unprocessed(resp_body: bytes, held: dict[str, list[Any]]) -> bytes | None:
        try:
            payload = json.loads(resp_body)
            unprocessed = payload.get("UnprocessedItems") or {}
            if not isinstance(unprocessed, dict):
                return None
        except (ValueError, AttributeError):
            return None
        for table, wrs in held.items():
            unprocessed.setdefault(table, []).extend(wrs)
        payload["UnprocessedItems"] = unprocessed
        return json.dumps(payload).encode()

    @staticmethod
    def _fix_crc32(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
        crc = str(zlib.crc32(body) & 0xFFFFFFFF)
        return [(name, crc if name.lower() == "x-amz-crc32" else value) for name, value in headers]

    @staticmethod
    def _send_fault(handler: ProxyHandler, kind: str, *, is_json: bool) -> None:
        request_id = uuid.uuid4().hex.upper()
        if is_json:
            if kind == "throttle":
                status = 400
                error = {
                    "__type": DDB_PREFIX + "ThrottlingException",
                    "message": "Rate of requests exceeds the allowed throughput.",
                }
            else:
                status = 500
                error = {
                    "__type": DDB_PREFIX + "InternalServerError",
                    "message": "Internal server error (injected by FaultProxy).",
                }
            body = json.dumps(error).encode()
            headers = [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("x-amzn-RequestId", request_id),
            ]
        else:
            if kind == "throttle":
                status, code, message = 503, "SlowDown", "Please reduce your request rate."
            else:
                status, code = 500, "InternalError"
                message = "We encountered an internal error. Please try again."
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>{request_id}</RequestId></Error>"
            ).encode()
            headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
        handler.send_full_response(status, None, headers, body)
