"""The ``cloudorm`` command: ``cloudorm serve`` runs the local cloud as a standalone process."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any


def serve(host: str, port: int) -> int:
    """Run the local cloud on ``host:port`` until interrupted; sessions reach it with ``endpoint_url``."""
    from cloudorm.providers.local.server import start_server

    server, url = start_server(host, port)
    stopped = threading.Event()

    def stop(*_: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"cloudorm local cloud on {url}", flush=True)
    print(f"use it with cloudorm.Session('local', endpoint_url={url!r}); Ctrl-C stops it", flush=True)
    stopped.wait()
    server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cloudorm`` console script."""
    parser = argparse.ArgumentParser(prog="cloudorm", description="cloudorm command line")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("serve", help="run the local cloud as a standalone server")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4566, help="port to listen on (default 4566; 0 picks a free one)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.host, args.port)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
