"""cloudorm containers: one request to a node's Docker engine over SSH against this machine's engine, a container
run on 4 nodes against 1, and the SSH sessions a node's engine holds.

Run: ``python benchmarks/containers.py`` or ``python benchmarks/containers.py --quick``.

The SSH nodes are droplets of ``cloudorm.testing.FakeDigitalOcean`` (real OpenSSH ``sshd`` stand-ins on 127.0.0.x);
they all reach this machine's engine (through ``docker system dial-stdio``), so the engine itself is shared and the
numbers show what SSH and the relay add. The image is ``cloudorm.testing.rootfs``'s, imported once.

1. **request**: ``node.containers.list()`` (one ``GET /containers/json``), median of ``--repeat``, on a local node
   (the SDK on this machine's Unix socket) and on an SSH node (the SDK on cloudorm's relay socket, each connection a
   session channel of the node's pinned paramiko connection); and the first call on a node, which opens the engine
   (over SSH: ``docker version`` on the node, then the relay).
2. **run**: ``cluster.containers.run(image, ["sh", "-c", ":"])`` on every node against ``nodes=[0]`` (create,
   start, wait, logs, remove per node, the nodes in parallel).
3. **sessions**: the SSH sessions a node's engine holds open after a mixed series of calls (list, inspect, logs,
   top, exec, each ``--repeat`` times): cloudorm's one pool of 2 against the SDK's own Unix socket adapter, which
   keeps a pool per URL (sshd allows 10 sessions per connection by default).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench import environment, parser, table
from compute import median_time

import cloudorm
from cloudorm.testing.digitalocean import FakeDigitalOcean
from cloudorm.testing.rootfs import TINY_IMAGE, engine_unavailable
from cloudorm.testing.sshd import sshd_unavailable

NOTHING = ["sh", "-c", ":"]
"""A command that does nothing (the image has no ``true``)."""


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    """The median wall time of ``repeat`` calls, in milliseconds."""
    return 1000 * median_time(fn, repeat)


def first_call_ms(node: Any) -> float:
    node.close()
    start = time.perf_counter()
    node.containers.list()
    return 1000 * (time.perf_counter() - start)


def sessions(node: Any) -> int:
    """The relayed connections (SSH sessions) open for ``node`` now."""
    return sum(1 for t in threading.enumerate() if t.name.startswith("cloudorm-docker-relay-")
               and t.name.endswith("-conn") and str(node.address) in t.name)


def mixed(node: Any, name: str, repeat: int) -> None:
    c = node.containers.get(name)
    for _ in range(repeat):
        node.containers.list()
        c.refresh()
        c.logs()
        c.top()
        c.exec(NOTHING)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=None, help="calls per measure (default 25; 3 quick)")
    args = p.parse_args(argv)
    reason = sshd_unavailable() or engine_unavailable()
    if reason:
        print(f"cloudorm containers benchmark skipped: {reason}")
        return 0
    repeat = args.repeat or (3 if args.quick else 25)
    nodes = 2 if args.quick else 4
    print(environment())
    with tempfile.TemporaryDirectory() as tmp, FakeDigitalOcean(root=Path(tmp, "do"), boot_delay=0.1) as do:
        os.environ.setdefault("CLOUDORM_STATE_DIR", str(Path(tmp, "state")))
        local = cloudorm.Session().Cluster(f"bench-ctr-{uuid.uuid4().hex[:6]}", size=1, runtime=None,
                                           progress=False).save()
        ssh = cloudorm.Session("digitalocean", creds={"access_token": do.token}, endpoint_url=do.url).Cluster(
            f"bench-ctr-{uuid.uuid4().hex[:6]}", size=nodes, runtime=None, progress=False, boot_timeout=60).save()
        name = f"bench-{uuid.uuid4().hex[:6]}"
        try:
            rows = []
            for label, node in (("local node (this machine's socket)", local[0]), ("SSH node (relay)", ssh[0])):
                first = first_call_ms(node)
                rows.append([label, first, median_ms(node.containers.list, repeat)])
            print(table(["cloudorm containers.list()", "first call ms", "then ms (median)"], rows,
                        f"\n1. one request, {repeat} calls"))

            runs = max(1, repeat // 5)
            one = median_ms(lambda: ssh.containers.run(TINY_IMAGE, NOTHING, nodes=[0], check=True), runs)
            every = median_ms(lambda: ssh.containers.run(TINY_IMAGE, NOTHING, check=True), runs)
            print(table(["cloudorm containers.run", "nodes", "wall ms (median)", "vs 1 node"],
                        [["nodes=[0]", 1, one, 1.0], ["every node", nodes, every, every / one]],
                        "\n2. a container run per node (one engine behind every stand-in here)"))

            node = ssh[0]
            node.containers.start(name, TINY_IMAGE, ["sleep", "600"])
            node.close()
            mixed(node, name, repeat)
            ours = sessions(node)
            engine = node.containers._open()
            import docker

            sdk_adapter = docker.transport.UnixHTTPAdapter(f"http+unix://{engine._relay.path}", 60)
            engine.client.api.mount("http+docker://", sdk_adapter)  # (the SDK's own adapter again: a pool per URL)
            mixed(node, name, repeat)
            sdk = sessions(node)
            print(table(["cloudorm sessions held", "SSH sessions"],
                        [["one pool (cloudorm)", ours], ["the SDK's pool per URL", sdk]],
                        f"\n3. after {repeat} rounds of list, inspect, logs, top, exec"))
        finally:
            ssh[0].close()
            with contextlib.suppress(cloudorm.errors.NotFound):
                ssh[0].containers.get(name).remove(force=True)
            local.delete()
            ssh.delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
