"""The embedded local cloud's server: moto on 127.0.0.1, started once per process on first use, stopped at exit."""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any

from cloudorm.errors import CloudError, Timeout

log = logging.getLogger(__name__)
_lock = threading.Lock()
_server: Any = None
_url: str | None = None

START_TIMEOUT = 60.0
"""Seconds a moto server may take to start serving."""


def _quiet() -> None:
    for name in ("werkzeug", "moto"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def _load_aws_managed_policies() -> None:
    """Give the local cloud AWS's managed policies (``arn:aws:iam::aws:policy/ReadOnlyAccess``, ...), as AWS has;
    moto loads them (about 0.1 s) when its IAM backend is first used."""
    from moto.core.config import default_user_config

    default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True


def start_server(host: str = "127.0.0.1", port: int = 0) -> tuple[Any, str]:
    """Start a moto server (a free port when ``port`` is 0); returns the server and its URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as e:  # pragma: no cover - depends on the install
        raise CloudError("the local cloud needs moto: pip install 'cloudorm[local]'") from e
    _quiet()
    _load_aws_managed_policies()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    # moto's start() waits without a limit for its serving thread: a thread that died would hang us forever
    starter = threading.Thread(target=server.start, name="cloudorm-moto-start", daemon=True)
    starter.start()
    starter.join(START_TIMEOUT)
    if starter.is_alive():
        raise Timeout(f"the local cloud's moto server on {host}:{port or 'a free port'} did not start within "
                      f"{START_TIMEOUT:g} s")
    bound_host, bound_port = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound_port}"


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
