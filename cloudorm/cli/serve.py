"""``cloudorm serve``: the local cloud as a standalone process. The address is checked and bound before anything slow
is imported, so a busy port, a bad host or a port out of range is refused at once (one line, exit code 2)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import urllib.parse
from collections.abc import Sequence
from typing import Any

from cloudorm.errors import InvalidInput
from cloudorm.listening import check_port, listen, plain_host


def serve(host: str, port: int, allow_origins: Sequence[str] = (), allow_hosts: Sequence[str] = (),
          state_dir: str | None = None, *, verbose: bool = False) -> int:
    """Run the local cloud on ``host:port`` until interrupted; sessions reach it with ``endpoint_url``. Pages of
    ``allow_origins`` may use it from a browser; ``allow_hosts`` are more ``Host`` names it answers to; with
    ``state_dir`` its state is kept there across restarts; ``verbose`` logs each request on stderr. Returns the exit
    code (2: the address or the state directory cannot be used)."""
    host = plain_host(host)
    try:
        sock = listen(host, port)  # before the local cloud (moto) is imported: a refusal comes at once
    except InvalidInput as e:
        return refuse(str(e))
    except OSError as e:
        return refuse(e.strerror or str(e))
    log_to_stderr(verbose)
    from cloudorm.providers.local.server import LocalCloudServer

    try:
        server = LocalCloudServer(host, port, allow_origins=allow_origins, allow_hosts=allow_hosts,
                                  state_dir=state_dir).start(sock)
    except InvalidInput as e:
        sock.close()
        return refuse(str(e))
    url = server.url
    stopped = threading.Event()

    def stop(*_: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    shown = urllib.parse.urlsplit(url).hostname
    where = "" if shown == host else f" (listening on {host or '0.0.0.0'}, port {server.port})"  # e.g. 0.0.0.0
    print(f"cloudorm local cloud on {url}{where}", flush=True)
    print(f"use it with cloudorm.Session('local', endpoint_url={url!r}); Ctrl-C stops it", flush=True)
    stopped.wait()
    server.stop()
    return 0


def refuse(message: str) -> int:
    """Print why the server cannot start, in one line; the exit code (2)."""
    print(f"cloudorm serve: {' '.join(message.split())}", file=sys.stderr)
    return 2


def log_to_stderr(verbose: bool) -> None:
    """Warnings (a non-loopback --host, refused browser requests) go to stderr, one line each; with ``verbose``,
    one line per request too."""
    logging.basicConfig(level=logging.WARNING, format="cloudorm serve: %(levelname)s: %(message)s")
    if verbose:
        requests = logging.getLogger("cloudorm.requests")
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(message)s", datefmt="%H:%M:%S"))
        requests.addHandler(handler)
        requests.setLevel(logging.INFO)
        requests.propagate = False


def port_number(text: str) -> int:
    """argparse's type of ``--port``: a TCP port number."""
    try:
        return check_port(int(text))
    except (ValueError, InvalidInput):
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0 to 65535; 0 picks a free one)") from None


def add(commands: Any) -> None:
    """Register ``cloudorm serve``."""
    p = commands.add_parser("serve", help="run the local cloud as a standalone server")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything but a loopback address is warned about)")
    p.add_argument("--port", type=port_number, default=4566,
                   help="port to listen on (default 4566; 0 picks a free one)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="let web pages of ORIGIN (e.g. http://localhost:3000) use the local cloud from a browser; "
                        "repeatable; other cross-origin requests are refused")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host is NAME (e.g. this machine's LAN name, with --host); "
                        "repeatable; by default only loopback names and --host are answered")
    p.add_argument("--state", metavar="DIR", default=None,
                   help="keep the state (tables, buckets, IAM, functions, APIs, clusters) in DIR across restarts; "
                        "an answered change is on disk")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log each request on stderr (method, path, status, milliseconds, service and operation)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``cloudorm serve`` with its parsed arguments."""
    return serve(args.host, args.port, args.allow_origin, args.allow_host, args.state, verbose=args.verbose)
