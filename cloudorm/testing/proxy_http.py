"""The HTTP side of ``FaultProxy``: the threaded server and the handler that forwards each request upstream or
answers it with a fault (the proxy decides which)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Sequence
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class Proxy(Protocol):
    """What the server needs from the proxy it serves: one call per request read."""

    def _handle(self, handler: ProxyHandler) -> None: ...


logger = logging.getLogger("cloudorm.testing.fault_proxy")

STAT_KEYS = (
    "requests",
    "forwarded",
    "throttle",
    "error500",
    "drop",
    "drop_after",
    "unprocessed_batches",
    "unprocessed_items",
)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

BATCH_WRITE_TARGET = "DynamoDB_20120810.BatchWriteItem"
DDB_PREFIX = "com.amazonaws.dynamodb.v20120810#"
HANDLER_IDLE_TIMEOUT = 60.0
UPSTREAM_TIMEOUT = 60.0
MAX_LINE = 65536


class BadRequest(Exception):
    """The client's request could not be parsed."""


def connection_tokens(values: list[str]) -> set[str]:
    """The header names a ``Connection`` header lists (they are hop-by-hop too)."""
    tokens: set[str] = set()
    for value in values:
        tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def is_hop_by_hop(name: str, extra: set[str]) -> bool:
    """True for a header a proxy must not forward (RFC 9110 7.6.1), including those named in ``extra``."""
    lower = name.lower()
    return lower in HOP_BY_HOP or lower.startswith("proxy-") or lower in extra


class ProxyServer(ThreadingHTTPServer):
    """The HTTP server; tracks open client sockets so ``stop()`` can close them."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ProxyHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_open_sockets(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client disconnects and stop() are routine for a fault proxy: log quietly.
        logger.debug("fault proxy: error handling %s", client_address, exc_info=True)


class ProxyHandler(BaseHTTPRequestHandler):
    """Handles one client connection (possibly many keep-alive requests)."""

    protocol_version = "HTTP/1.1"
    timeout = HANDLER_IDLE_TIMEOUT
    server: ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fault proxy: " + format, *args)

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(MAX_LINE + 1)
            if len(self.raw_requestline) > MAX_LINE:
                self.requestline = ""
                self.request_version = ""
                self.command = ""
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self.server.proxy._handle(self)
            self.wfile.flush()
        except OSError:  # includes TimeoutError and client disconnects
            self.close_connection = True
        except Exception:
            logger.exception("fault proxy: unexpected error handling %r", self.requestline)
            self.close_connection = True

    # -- helpers used by FaultProxy._handle ---------------------------------

    def read_body(self) -> tuple[bytes, bool, list[tuple[str, str]]]:
        """Read the request body; return (body, had_body_framing, trailers)."""
        te = connection_tokens(self.headers.get_all("Transfer-Encoding") or [])
        if "chunked" in te:
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b"", False, []
        try:
            length = int(length_header)
        except ValueError as exc:
            raise BadRequest(f"bad Content-Length {length_header!r}") from exc
        if length < 0:
            raise BadRequest(f"bad Content-Length {length_header!r}")
        body = self._read_exact(length)
        return body, True, []

    def _read_exact(self, length: int) -> bytes:
        data = self.rfile.read(length)
        if len(data) != length:
            raise BadRequest("client closed the connection mid-body")
        return data

    def _read_chunked(self) -> tuple[bytes, bool, list[tuple[str, str]]]:
        parts: list[bytes] = []
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            if not line or len(line) > MAX_LINE:
                raise BadRequest("bad chunk size line")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise BadRequest(f"bad chunk size {size_text!r}") from exc
            if size < 0:
                raise BadRequest(f"bad chunk size {size_text!r}")
            if size == 0:
                break
            parts.append(self._read_exact(size))
            if self.rfile.readline(MAX_LINE + 1).strip():
                raise BadRequest("missing CRLF after chunk")
        trailers: list[tuple[str, str]] = []
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            if not line or line in (b"\r\n", b"\n"):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                trailers.append((name.strip(), value.strip()))
        return b"".join(parts), True, trailers

    def send_full_response(
        self,
        status: int,
        reason: str | None,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        *,
        keep_content_length: bool = False,
    ) -> None:
        """Write a complete response in one write; Content-Length is always set (or kept)."""
        if reason is None:
            reason = self.responses.get(status, ("",))[0]
        lines = [f"{self.protocol_version} {status} {reason}"]
        has_date = False
        for name, value in headers:
            lower = name.lower()
            if lower == "content-length" and not keep_content_length:
                continue
            has_date = has_date or lower == "date"
            lines.append(f"{name}: {value}")
        if not has_date:
            lines.append(f"Date: {formatdate(usegmt=True)}")
        bodiless_status = status in (204, 304) or 100 <= status < 200
        if not keep_content_length and not bodiless_status:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        send_body = bool(body) and self.command != "HEAD" and not bodiless_status
        # One write for head and body avoids Nagle / delayed-ACK stalls on small responses.
        self.wfile.write(head + body if send_body else head)
        self.log_request(status, len(body))

    def drop(self) -> None:
        """Close the client connection without sending a response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


