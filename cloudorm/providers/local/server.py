"""The local cloud's server: moto's AWS APIs on 127.0.0.1 behind the local cloud's own guards, started once per
process on first use (the embedded local cloud), or standalone by ``cloudorm serve``.

Requests pass ``BrowserGuard`` (web pages and DNS rebinding are refused), then reach this process's ``LocalCloud``
(``app.py``: cloudorm's parts, then ``ConditionalS3`` and ``AtomicDynamoDB`` in front of moto); werkzeug's threaded
server serves them, as moto's own server does.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from collections.abc import Iterable
from typing import Any

from cloudorm.listening import listen, server_url
from cloudorm.providers.local import aws_policies
from cloudorm.providers.local.app import local_cloud
from cloudorm.providers.local.guard import BrowserGuard, is_loopback
from cloudorm.providers.local.persistence import Persistence, attach, detach
from cloudorm.providers.local.requestlog import RequestLog

log = logging.getLogger(__name__)
_lock = threading.Lock()
_server: LocalCloudServer | None = None
_url: str | None = None


def _quiet() -> None:
    for name in ("werkzeug", "moto"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def _load_aws_managed_policies() -> None:
    """Give the local cloud AWS's managed policies (``arn:aws:iam::aws:policy/ReadOnlyAccess``, ...), as AWS has;
    each IAM backend makes them when first read (``aws_policies.py``), not on the first request."""
    from moto.core.config import default_user_config

    aws_policies.install()
    default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True


class LocalCloudServer:
    """The local cloud's HTTP server on ``host:port`` (0: a free port). ``allow_origins`` are the web pages' origins
    allowed to use it, ``allow_hosts`` the ``Host`` names it answers to besides the loopback ones and ``host``.
    With ``state_dir``, the state is kept there (``persistence.py``): loaded before the first request is served,
    every answered change on disk, a last snapshot on ``stop()``; a process keeps its state in one directory."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, allow_origins: Iterable[str] = (),
                 allow_hosts: Iterable[str] = (), state_dir: str | os.PathLike[str] | None = None) -> None:
        """Check the options (InvalidInput); ``start()`` binds and serves."""
        self.requested = (host, port)
        self.state_dir = state_dir
        self._persistence: Persistence | None = None
        self.cloud = local_cloud()
        """What it serves (one per process)."""
        self.app = RequestLog(BrowserGuard(self.cloud, allow_origins=allow_origins,
                                           allow_hosts=(*allow_hosts, *([host] if host else []))))
        """What each request goes through (logged on ``cloudorm.requests`` when that logger is enabled)."""
        self._httpd: Any = None
        self._thread: threading.Thread | None = None

    def start(self, sock: socket.socket | None = None) -> LocalCloudServer:
        """Bind (``cloudorm.listening.listen``: an ``OSError`` if the address is taken or not this machine's) and
        serve in a daemon thread; ``sock``: serve this socket, already listening on the requested address."""
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        if self._httpd is not None:
            raise RuntimeError("the local cloud's server is already started")
        _quiet()
        _load_aws_managed_policies()
        host, port = self.requested
        try:
            if self.state_dir is not None:  # loaded before the server thread runs: no request sees the state before
                self._persistence = attach(self.cloud, self.state_dir)
            # bound here rather than by werkzeug, which prints the error and calls sys.exit() when the bind fails
            with sock or listen(host, port) as bound:
                self._httpd = make_server(bound.getsockname()[0], port, self.app, threaded=True,
                                          request_handler=MotoRequestHandler, fd=bound.fileno())
        except BaseException:
            if sock is not None:
                sock.close()
            self._detach()
            raise
        if not is_loopback(host):
            log.warning("the local cloud listens on %s, which is not a loopback address: other machines can reach "
                        "it, and it checks no credentials", host)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="cloudorm-local-cloud", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        """The port it listens on."""
        if self._httpd is None:
            raise RuntimeError("the local cloud's server is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Its URL for clients of this machine, e.g. ``http://127.0.0.1:4566`` (``http://[::1]:4566`` for an IPv6
        address; the loopback address for a wildcard one: ``--host 0.0.0.0`` serves ``http://127.0.0.1:4566``)."""
        return server_url(self.requested[0], self.port)

    def stop(self) -> None:
        """Stop serving and close the socket (the state stays in this process's moto; with ``state_dir``, a last
        snapshot is written and the directory unlocked); safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._detach()

    def _detach(self) -> None:
        persistence, self._persistence = self._persistence, None
        if persistence is not None:
            detach(persistence)


def start_server(host: str = "127.0.0.1", port: int = 0, *, allow_origins: Iterable[str] = (),
                 allow_hosts: Iterable[str] = (),
                 state_dir: str | os.PathLike[str] | None = None) -> tuple[LocalCloudServer, str]:
    """Start the local cloud's server (a free port when ``port`` is 0); returns the server and its URL. See
    ``LocalCloudServer`` for the options."""
    server = LocalCloudServer(host, port, allow_origins=allow_origins, allow_hosts=allow_hosts,
                              state_dir=state_dir).start()
    return server, server.url


def embedded_url() -> str:
    """The URL of this process's embedded local cloud, starting it on first call."""
    global _server, _url
    if _url is not None:
        return _url
    with _lock:
        if _url is None:
            _server, _url = start_server()
            log.debug("embedded local cloud listening on %s", _url)
            atexit.register(stop_embedded)
    return _url


def stop_embedded() -> None:
    """Stop the embedded server (its state is gone; the next local session starts a new one)."""
    global _server, _url
    with _lock:
        if _server is not None:
            _server.stop()
        _server, _url = None, None
