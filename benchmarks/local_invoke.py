"""Warm invokes on the local cloud: cloudorm's ``fn.invoke()`` and a plain boto3 ``invoke`` loop, embedded and
against ``cloudorm serve`` in a child process.

Run: ``python benchmarks/local_invoke.py`` (``--invokes N``, default 200) or ``--quick``.

A trivial handler (it echoes its event) is created once per server; after a warm-up invoke (which starts the
sandbox), ``--invokes`` warm invokes are timed one by one: median and p95 in ms, and the HTTP requests each sent
(cloudorm: ``Session.count_requests()``; boto3: a ``before-send`` hook). Where the invocation runs is what changed
in issue 13: before it, cloudorm ran the handler in the caller's process (a sandbox of the caller's pool) and boto3
reached moto, which could not run it; since, the local cloud's server runs every invocation, whoever sends it.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from _bench import environment, parser, table
from botocore.config import Config

import cloudorm
from cloudorm.testing import ServeProcess

REGION = "us-east-1"
HANDLER = "def handler(event, context):\n    return {'echo': event}\n"
EVENT = {"order": 7, "items": ["a", "b", "c"]}


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def timed_loop(call: Callable[[], Any], n: int) -> list[float]:
    """Seconds of each of ``n`` calls."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def row(what: str, times: list[float], requests: float | str) -> list[Any]:
    """A table row: median and p95 in ms, requests per invoke."""
    return [what, statistics.median(times) * 1e3, percentile(times, 0.95) * 1e3, requests]


def bench_cloudorm(s: cloudorm.Session, where: str, source: Path, n: int) -> tuple[list[Any], str]:
    """``fn.invoke(EVENT)`` warm, ``n`` times: a row, and the function's name (for boto3 to invoke too)."""
    tag = uuid.uuid4().hex[:8]
    role = s.Role(f"bench-li-{tag}", service="lambda").save()
    fn = s.Function(f"bench-li-{tag}", handler="app.handler", source=source, role=role, timeout=10).save()
    assert fn.invoke(EVENT) == {"echo": EVENT}  # warm-up: starts the sandbox
    with s.count_requests() as c:
        times = timed_loop(lambda: fn.invoke(EVENT), n)
    return row(f"{where}: cloudorm fn.invoke()", times, c.total / n), fn.name


def bench_boto3(url: str, where: str, name: str, n: int) -> list[Any]:
    """A plain boto3 ``invoke`` loop on the function ``name``: a row (n/a when the server cannot run it)."""
    client = boto3.client("lambda", endpoint_url=url, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing", config=Config(retries={"mode": "standard"}))
    sent: Counter[str] = Counter()
    client.meta.events.register("before-send", lambda **_: sent.update(["request"]))
    payload = json.dumps(EVENT).encode()

    def call() -> None:
        answer = client.invoke(FunctionName=name, Payload=payload)
        body = answer["Payload"].read()
        if answer.get("FunctionError") or b"echo" not in body:
            raise RuntimeError(f"the server did not run the handler: {body[:200]!r}")

    try:
        call()
    except RuntimeError as e:
        print(f"   {where}: boto3 invoke: {str(e)[:100]}")
        return [f"{where}: boto3 invoke", "n/a", "n/a", "not run"]
    sent.clear()
    times = timed_loop(call, n)
    return row(f"{where}: boto3 invoke", times, sent["request"] / n)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--invokes", type=int, default=None, help="warm invokes timed per row (default 200; 5 quick)")
    args = p.parse_args(argv)
    n = args.invokes or (5 if args.quick else 200)
    print(f"local_invoke: cloudorm {cloudorm.__version__}, warm invokes of a trivial handler; {environment()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "app.py"
        source.write_text(HANDLER)
        embedded = cloudorm.Session()
        cloudorm_row, name = bench_cloudorm(embedded, "embedded", source, n)
        rows += [cloudorm_row, bench_boto3(embedded.endpoint_url or "", "embedded", name, n)]
        embedded.close()
        with ServeProcess() as server:
            remote = cloudorm.Session("local", endpoint_url=server.url)
            cloudorm_row, name = bench_cloudorm(remote, "cloudorm serve (child process)", source, n)
            rows += [cloudorm_row, bench_boto3(server.url, "cloudorm serve (child process)", name, n)]
            remote.close()
    print(table(["warm invoke", "median ms", "p95 ms", "requests/invoke"], rows, title=f"\n{n} warm invokes each"))
    from _bench import check_requests  # (cloudorm's requests must not grow: benchmarks/request_counts.json)
    check_requests("local_invoke.py", {f"{r[0]}, {n} invokes": round(r[3] * n) for r in rows if ": cloudorm" in r[0]},
                   quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
