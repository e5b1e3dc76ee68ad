"""The ``cloudorm`` command: ``cloudorm serve`` runs the local cloud as a standalone process."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from cloudorm.errors import InvalidInput


def serve(host: str, port: int, allow_origins: Sequence[str] = (), allow_hosts: Sequence[str] = (),
          state_dir: str | None = None) -> int:
    """Run the local cloud on ``host:port`` until interrupted; sessions reach it with ``endpoint_url``. Pages of
    ``allow_origins`` may use it from a browser; ``allow_hosts`` are more ``Host`` names it answers to."""
    from cloudorm.providers.local.server import LocalCloudServer

    # warnings (a non-loopback --host, refused browser requests) go to stderr, one line each
    logging.basicConfig(level=logging.WARNING, format="cloudorm serve: %(levelname)s: %(message)s")
    try:
        server = LocalCloudServer(host, port, allow_origins=allow_origins, allow_hosts=allow_hosts,
                                  state_dir=state_dir).start()
    except InvalidInput as e:
        print(f"cloudorm serve: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"cloudorm serve: cannot listen on {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    url = server.url
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
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything but a loopback address is warned about)")
    p.add_argument("--port", type=int, default=4566, help="port to listen on (default 4566; 0 picks a free one)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="let web pages of ORIGIN (e.g. http://localhost:3000) use the local cloud from a browser; "
                        "repeatable; other cross-origin requests are refused")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host is NAME (e.g. this machine's LAN name, with --host); "
                        "repeatable; by default only loopback names and --host are answered")
    p.add_argument("--state", metavar="DIR", default=None,
                   help="keep the state (tables, buckets, IAM, functions, APIs, clusters) in DIR across restarts; "
                        "an answered change is on disk")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.host, args.port, args.allow_origin, args.allow_host, args.state)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
