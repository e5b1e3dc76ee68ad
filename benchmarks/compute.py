"""cloudorm compute: a command on 32 nodes against 1, and bootstrapping 4 nodes in parallel against one at a time.

Run: ``python benchmarks/compute.py`` or ``python benchmarks/compute.py --quick``.

The nodes are droplets of ``cloudorm.testing.FakeDigitalOcean`` — pydo speaks to it over HTTP, and every droplet is a
real OpenSSH ``sshd`` on its own 127.0.0.x address, reached by paramiko with pinned host keys — so the SSH side is
the real thing and only the cloud's API is emulated.

1. **run**: ``cluster.run(cmd)`` on all ``--nodes`` (32) nodes against ``cluster.run(cmd, nodes=[0])`` with the
   default ``max_parallel`` (target: the 32-node wall time at most 1.2x the single node's), and against two plain
   loops over the same nodes: ``node.run`` one node
   after the other (connections kept), and a loop of fresh paramiko connections, one per node per command (what the
   Cloud package's ``SendCommand`` did). The command sleeps ``--work`` seconds (a stand-in for a remote task) and
   prints a line. Median of ``--repeat`` rounds. Counted, and checked (exit 1 if exceeded): the API requests the
   warm runs send (none: SSH only), and that the default ``max_parallel`` covers every node.
2. **bootstrap**: ``Cluster(size=4, files=..., setup=[...]).save()`` with ``max_parallel=4`` against
   ``max_parallel=1``: wall time of the whole save, requests to the DigitalOcean API by operation (create, polls,
   key), and the bootstrap alone. The setup sleeps ``--setup-work`` seconds per node (a stand-in for apt/pip waiting
   on the network), then writes a file; ``--requirements`` adds a local wheel installed into a virtualenv on every
   node (CPU-bound: 2 cores here; the stand-ins read the wheel from this machine's /tmp).
3. **dask throughput** (``cluster.dask()``): ``--dask-tasks`` tasks that each sleep ``--dask-work`` seconds, mapped
   over clusters of 1, 2 and 4 local nodes (one worker thread each), against a plain loop. Sleep-bound, so the
   2 cores of this machine do not cap it: the ideal is the node count.
4. **dask round trip**: one ``client.submit(...).result()``, median of ``--repeat`` x 20, through the SSH forward to
   a droplet's scheduler, against a local node's scheduler (no tunnel) and Dask's own ``LocalCluster``. Needs
   ``distributed``; the droplet's venv gets it from the package index (it is skipped with ``--quick``: a minute).
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench import environment, parser, table

import cloudorm
from cloudorm.testing.digitalocean import FakeDigitalOcean
from cloudorm.testing.sshd import sshd_unavailable

TARGET = 1.2
"""The 32-node run may take at most this many times the single node's wall time."""
EXPECTED_RUN_REQUESTS = 0
"""Cloud API requests the timed ``cluster.run`` calls may send (connections are open: SSH only)."""
COUNTED: dict[str, int] = {}
"""DigitalOcean API requests of the bootstrap saves by operation, but for the polls (timed): checked against
benchmarks/request_counts.json."""


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """The median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(first: Callable[[], Any], second: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """The median wall times of ``repeat`` calls of each, alternating which goes first (ABBA...)."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(repeat):
        for side in (0, 1) if i % 2 == 0 else (1, 0):
            start = time.perf_counter()
            (first, second)[side]()
            times[side].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def paramiko_loop(cluster: cloudorm.Cluster, cmd: str) -> list[tuple[int, str]]:
    """A fresh paramiko connection per node, one node after the other (host keys checked against the cluster's)."""
    import paramiko

    key = paramiko.Ed25519Key.from_private_key(io.StringIO(cluster.key.private_openssh()))
    out = []
    for node in cluster.nodes:
        client = paramiko.SSHClient()
        client.load_host_keys(str(cluster.state_path / "known_hosts"))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(node.address or "", username="root", pkey=key, allow_agent=False, look_for_keys=False)
            _, stdout, _ = client.exec_command(cmd)
            text = stdout.read().decode()
            out.append((stdout.channel.recv_exit_status(), text))
        finally:
            client.close()
    return out


def bench_run(s: cloudorm.Session, nodes: int, work: float, repeat: int) -> tuple[list[list[Any]], list[str], bool]:
    """Rows for the run table, notes, and whether the counts are within what is expected."""
    cluster = s.Cluster(f"bench-run-{uuid.uuid4().hex[:6]}", size=nodes, runtime=None, progress=False).save()
    cmd = f"sleep {work}; echo done on $(hostname)"
    try:
        cluster.run("true")                                   # connections opened once, like a warm script
        with s.count_requests() as counted:  # 1 node and all of them, alternating (ABBA...), medians
            one, many = interleaved_medians(lambda: cluster.run(cmd, nodes=[0], check=True),
                                            lambda: cluster.run(cmd, check=True), repeat)
        rounds = max(1, repeat // 3)  # (the loops take nodes x work each: fewer rounds)
        loop = median_time(lambda: [n.run(cmd, check=True) for n in cluster.nodes], rounds)
        fresh = median_time(lambda: paramiko_loop(cluster, cmd), rounds)
        results = cluster.run(cmd)
        assert results.ok and len(results) == nodes, results
    finally:
        cluster.delete()
    ratio = many / one
    rows = [
        ["cloudorm cluster.run, 1 node", 1, one * 1000, "1.00x"],
        [f"cloudorm cluster.run, {nodes} nodes", nodes, many * 1000, f"{ratio:.2f}x"],
        [f"loop: node.run over {nodes} nodes", nodes, loop * 1000, f"{loop / one:.2f}x"],
        ["loop: new paramiko connection per node", nodes, fresh * 1000, f"{fresh / one:.2f}x"],
    ]
    verdict = "ok" if ratio <= TARGET else "MISSED"
    notes = [f"{nodes} nodes vs 1: {ratio:.2f}x the single-node wall time ({verdict}: target <= {TARGET:g}x); "
             f"{loop / many:.1f}x faster than the node.run loop, {fresh / many:.1f}x faster than fresh connections",
             f"max_parallel {cluster.max_parallel} (default) for {nodes} nodes; API requests of the timed runs: "
             f"{counted.total} (expected <= {EXPECTED_RUN_REQUESTS})"]
    within = True
    if counted.total > EXPECTED_RUN_REQUESTS:
        notes.append(f"REQUEST COUNT REGRESSED: cluster.run sent {counted.total} API requests "
                     f"({dict(counted.by_operation)}), expected at most {EXPECTED_RUN_REQUESTS}")
        within = False
    if cluster.max_parallel < nodes:
        notes.append(f"FAN-OUT REGRESSED: the default max_parallel ({cluster.max_parallel}) is below the {nodes} "
                     "nodes: cluster.run would drive them in waves")
        within = False
    return rows, notes, within


def make_wheel(folder: Path) -> Path:
    """A tiny pure-Python wheel (``benchpkg``), installed without an index."""
    wheel = folder / "benchpkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("benchpkg/__init__.py", "VALUE = 42\n")
        z.writestr("benchpkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: benchpkg\nVersion: 1.0\n")
        z.writestr("benchpkg-1.0.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("benchpkg-1.0.dist-info/RECORD", "")
    return wheel


def bench_bootstrap(s: cloudorm.Session, nodes: int, setup_work: float, requirements: bool,
                    folder: Path) -> tuple[list[list[Any]], list[str]]:
    """Rows for the bootstrap table: the same cluster saved with every node at once, then one at a time."""
    task = folder / "task.py"
    task.write_text("print('task')\n")
    files: list[Any] = [task]
    reqs: list[str] = []
    if requirements:
        wheel = make_wheel(folder)             # the stand-ins share this machine's /tmp (only /root is theirs)
        reqs = [f"benchpkg @ {wheel.as_uri()}"]
    rows, times = [], {}
    for parallel in (nodes, 1):
        cluster = s.Cluster(f"bench-boot-{uuid.uuid4().hex[:6]}", size=nodes, files=files, requirements=reqs,
                            setup=[f"sleep {setup_work}", "mkdir -p out && echo ready > out/state"],
                            max_parallel=parallel, progress=False)
        try:
            with s.count_requests() as counted:
                start = time.perf_counter()
                cluster.save()
                total = time.perf_counter() - start
            assert cluster.run("cat out/state", check=True).ok
            booted = sum(r.duration for n in cluster.nodes for r in n.bootstrap_log)
        finally:
            cluster.delete()
        times[parallel] = total
        ops = counted.by_operation
        COUNTED.update({f"save(), max_parallel={parallel}: {op}": n for op, n in ops.items()
                        if op != "GET /v2/droplets"})
        requests = ", ".join(f"{n} {op}" for op, n in sorted(ops.items()))
        rows.append([f"save(), max_parallel={parallel}", nodes, total, booted,
                     ops.get("POST /v2/droplets", 0), counted.total])
    notes = [f"bootstrapping {nodes} nodes at once: {times[1] / times[nodes]:.2f}x faster than one at a time "
             f"(same requests either way)", f"DigitalOcean API requests of one save(): {requests}"]
    return rows, notes


def nap(seconds: float) -> float:
    """A sleep-bound task (sent by value: it is defined in ``__main__``)."""
    time.sleep(seconds)
    return seconds


def bench_dask_throughput(s: cloudorm.Session, counts: list[int], tasks: int, work: float) -> list[list[Any]]:
    """``tasks`` naps of ``work`` s over clusters of each node count (one thread per node), and a plain loop."""
    start = time.perf_counter()
    for _ in range(tasks):
        nap(work)
    loop = time.perf_counter() - start
    rows: list[list[Any]] = [["plain loop", "-", f"{loop:.2f}", f"{tasks / loop:.1f}", "1.00"]]
    for count in counts:
        cluster = s.Cluster(f"bench-dask-{count}-{uuid.uuid4().hex[:6]}", size=count, progress=False,
                            engine=cloudorm.Dask(threads=1))
        cluster.save()
        try:
            client = cluster.dask()
            client.gather(client.map(nap, [0.0] * count, pure=False))  # (warm: every worker has run a task)
            start = time.perf_counter()
            client.gather(client.map(nap, [work] * tasks, pure=False))
            wall = time.perf_counter() - start
            rows.append([f"cloudorm dask, {count} node(s)", count, f"{wall:.2f}", f"{tasks / wall:.1f}",
                         f"{loop / wall:.2f}"])
        finally:
            cluster.delete()
    return rows


def submit_ms(client: Any, repeat: int) -> float:
    """The median milliseconds of one ``submit(...).result()`` round trip."""
    client.submit(nap, 0.0, pure=False).result()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.submit(nap, 0.0, pure=False).result()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_dask_round_trip(droplets: cloudorm.Session | None, local: cloudorm.Session,
                          repeat: int) -> list[list[Any]]:
    """One submit's round trip: Dask's LocalCluster, a local node's scheduler, a droplet's through the forward."""
    from distributed import Client, LocalCluster

    rows: list[list[Any]] = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            Client(lc) as client:
        base = submit_ms(client, repeat)
    rows.append(["Dask LocalCluster (same machine, no SSH)", f"{base:.2f}", "1.00"])
    sessions = [("cloudorm local node (no tunnel)", local)]
    if droplets is not None:
        sessions.append(("cloudorm droplet (SSH forward)", droplets))
    for label, session in sessions:
        cluster = session.Cluster(f"bench-rtt-{uuid.uuid4().hex[:6]}", size=1, progress=False, boot_timeout=600,
                                  engine=cloudorm.Dask(threads=1))
        cluster.save()
        try:
            ms = submit_ms(cluster.dask(), repeat)
            rows.append([label, f"{ms:.2f}", f"{ms / base:.2f}"])
        finally:
            cluster.delete()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=32, help="nodes of the run benchmark (default 32; 2 quick)")
    p.add_argument("--work", type=float, default=None, help="seconds each command sleeps (default 0.5; 0.1 quick)")
    p.add_argument("--repeat", type=int, default=None, help="rounds per measure (default 7; 2 quick)")
    p.add_argument("--setup-work", type=float, default=None, help="seconds of setup per node (default 2; 0.2 quick)")
    p.add_argument("--requirements", action="store_true", help="also install a local wheel into a venv per node")
    p.add_argument("--dask-tasks", type=int, default=None, help="tasks of the Dask throughput (default 64; 8 quick)")
    p.add_argument("--dask-work", type=float, default=None, help="seconds each Dask task sleeps (default 0.25)")
    args = p.parse_args(argv)
    reason = sshd_unavailable()
    if reason:
        print(f"cloudorm compute benchmark skipped: {reason}")
        return 0
    work = args.work if args.work is not None else (0.1 if args.quick else 0.5)
    repeat = args.repeat or (2 if args.quick else 7)
    setup_work = args.setup_work if args.setup_work is not None else (0.2 if args.quick else 2.0)
    nodes = 2 if args.quick else args.nodes
    print(environment())
    with tempfile.TemporaryDirectory() as tmp, FakeDigitalOcean(root=Path(tmp, "do"), boot_delay=0.2) as do:
        os.environ.setdefault("CLOUDORM_STATE_DIR", str(Path(tmp, "state")))
        s = cloudorm.Session("digitalocean", creds={"access_token": do.token}, endpoint_url=do.url)
        rows, notes, within = bench_run(s, nodes, work, repeat)
        print(table(["cloudorm run (ms, median)", "nodes", "wall ms", "vs 1 node"], rows,
                    f"\n1. a command sleeping {work:g} s, {repeat} rounds"))
        print("\n".join(notes))
        if not within:
            return 1
        rows, notes = bench_bootstrap(s, 2 if args.quick else 4, setup_work, args.requirements, Path(tmp))
        print(table(["cloudorm bootstrap", "nodes", "wall s", "bootstrap s (sum)", "create requests",
                     "API requests"], rows, f"\n2. bootstrap: files, runtime check, setup sleeping {setup_work:g} s"
                                            + (", a wheel into a venv" if args.requirements else "")))
        print("\n".join(notes))
        from _bench import check_requests  # (creates must not grow: benchmarks/request_counts.json; polls are timed)
        check_requests("compute.py", COUNTED, quick=args.quick)
        if args.quick:  # (Dask starts processes and installs packages: tests/test_dask*.py run it on every change)
            print("\n3-4. dask: skipped with --quick")
            return 0
        try:
            import distributed  # noqa: F401
        except ImportError:
            print("\n3-4. dask: skipped (pip install 'cloudorm[dask]')")
            return 0
        local = cloudorm.Session()
        tasks = args.dask_tasks or (8 if args.quick else 64)
        work = args.dask_work if args.dask_work is not None else 0.25
        print(table(["cloudorm dask throughput", "nodes", "wall s", "tasks/s", "vs plain loop"],
                    bench_dask_throughput(local, [1, 2] if args.quick else [1, 2, 4], tasks, work),
                    f"\n3. {tasks} tasks sleeping {work:g} s each, one worker thread per node"))
        print(table(["cloudorm dask submit round trip", "ms (median)", "vs LocalCluster"],
                    bench_dask_round_trip(None if args.quick else s, local, repeat * 20),
                    f"\n4. one client.submit(...).result(), {repeat * 20} rounds"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
