"""cloudorm jobs: what each operation of a fire-and-forget command costs, on SSH nodes and on local ones.

Run: ``python benchmarks/jobs.py`` or ``python benchmarks/jobs.py --quick``.

Each job operation is one round trip running cloudorm's job script through the node's shell. Measured on droplets of
``cloudorm.testing.FakeDigitalOcean`` (real OpenSSH ``sshd`` stand-ins reached by paramiko) and on the local cloud's
working directories, median of ``--repeat`` rounds, connections opened before timing:

1. **operations**: a blocking ``node.run("true")`` (the baseline round trip), ``node.run(cmd, wait=False)`` (start:
   the job's process is running when it returns), ``status()``, ``logs()``, ``stop()`` of a sleeping job (TERM, its
   group gone) and ``forget()``.
2. **wait**: how long after a job that sleeps ``--work`` seconds ends ``wait()`` returns (the node answers a waiting
   round trip as soon as the job ends, checking every 0.1 s).
3. **cluster**: ``cluster.run(cmd, wait=False)`` on ``--nodes`` nodes (the call returns while the commands run) and
   its ``jobs.wait()``, against the blocking ``cluster.run(cmd)``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench import environment, parser, table

import cloudorm
from cloudorm.testing.digitalocean import FakeDigitalOcean
from cloudorm.testing.sshd import sshd_unavailable


def median_ms(fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> float:
    """The median wall time of ``repeat`` calls of ``fn`` (given ``setup()``'s value if any), in milliseconds."""
    times = []
    for _ in range(repeat):
        value = setup() if setup is not None else None
        start = time.perf_counter()
        fn() if setup is None else fn(value)  # type: ignore[call-arg]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench(label: str, cluster: cloudorm.Cluster, work: float, repeat: int) -> tuple[list[list[Any]], list[str]]:
    """Rows of the three measures on ``cluster``'s nodes."""
    node = cluster[0]
    node.run("true")
    baseline = median_ms(lambda: node.run("true"), repeat)
    started: list[Any] = []
    start = median_ms(lambda: started.append(node.run("sleep 300", wait=False)), repeat)
    job = started[-1]
    status = median_ms(job.status, repeat)
    logs = median_ms(job.logs, repeat)
    stop = median_ms(lambda j: j.stop(grace=5), len(started), setup=lambda: started.pop())
    assert job.state == "stopped", job
    finished = [node.run("true", wait=False) for _ in range(repeat)]
    for j in finished:
        j.wait()
    forget = median_ms(lambda j: j.forget(), repeat, setup=lambda: finished.pop())

    def late() -> float:
        j = node.run(f"sleep {work}", wait=False)
        t0 = time.perf_counter()
        j.wait()
        return (time.perf_counter() - t0 - work) * 1000
    overshoot = statistics.median(late() for _ in range(repeat))

    cmd = f"sleep {work}; echo done"
    nodes = len(cluster.nodes)
    blocking = median_ms(lambda: cluster.run(cmd, check=True), repeat)
    jobs_holder: list[Any] = []
    fire = median_ms(lambda: jobs_holder.append(cluster.run(cmd, wait=False)), repeat)
    both = median_ms(lambda: cluster.run(cmd, wait=False).wait(check=True), repeat)
    for jobs in jobs_holder:
        jobs.wait()
    cluster.forget_jobs()
    rows = [
        [f"{label}: node.run('true') (blocking)", 1, baseline],
        [f"{label}: node.run(cmd, wait=False)", 1, start],
        [f"{label}: job.status()", 1, status],
        [f"{label}: job.logs()", 1, logs],
        [f"{label}: job.stop() of a sleeping job", 1, stop],
        [f"{label}: job.forget()", 1, forget],
        [f"{label}: wait() returns after the job ends", 1, overshoot],
        [f"{label}: cluster.run(cmd) (blocking)", nodes, blocking],
        [f"{label}: cluster.run(cmd, wait=False)", nodes, fire],
        [f"{label}: cluster.run(cmd, wait=False).wait()", nodes, both],
    ]
    notes = [f"{label}: a start costs {start / baseline:.1f}x a blocking round trip; starting on {nodes} nodes "
             f"returns in {fire:.0f} ms while the {work * 1000:.0f} ms commands run; start + wait "
             f"{both - blocking:+.0f} ms against the blocking run"]
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=4, help="nodes of the cluster measures (default 4)")
    p.add_argument("--work", type=float, default=None, help="seconds each command sleeps (default 0.5; 0.1 quick)")
    p.add_argument("--repeat", type=int, default=None, help="rounds per measure (default 7; 2 quick)")
    args = p.parse_args(argv)
    work = args.work if args.work is not None else (0.1 if args.quick else 0.5)
    repeat = args.repeat or (2 if args.quick else 7)
    nodes = 2 if args.quick else args.nodes
    print(environment())
    rows: list[list[Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("CLOUDORM_STATE_DIR", str(Path(tmp, "state")))

        def measure(label: str, s: cloudorm.Session) -> None:
            cluster = s.Cluster(f"bench-jobs-{uuid.uuid4().hex[:6]}", size=nodes, runtime=None, progress=False)
            try:
                r, n = bench(label, cluster.save(), work, repeat)
                rows.extend(r)
                notes.extend(n)
            finally:
                cluster.delete(missing_ok=True)

        measure("local", cloudorm.Session())
        reason = sshd_unavailable()
        if reason:
            notes.append(f"SSH nodes skipped: {reason}")
        else:
            with FakeDigitalOcean(root=Path(tmp, "do"), boot_delay=0.2) as do:
                measure("ssh", cloudorm.Session("digitalocean", creds={"access_token": do.token},
                                                endpoint_url=do.url))
    print(table(["cloudorm jobs (median)", "nodes", "ms"], rows,
                f"\ncommands sleeping {work:g} s, {repeat} rounds"))
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
