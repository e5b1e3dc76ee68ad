"""Warm invokes on the local cloud: cloudorm's ``fn.invoke()`` and a plain boto3 ``invoke`` loop, embedded and
against ``cloudorm serve`` in a child process.

Run: ``python benchmarks/local_invoke.py`` (``--invokes N``, default 200) or ``--quick``.

A trivial handler (it echoes its event) is created once per server; after a warm-up invoke (which starts the
sandbox), ``--invokes`` warm invokes are timed one by one: median and p95 in ms, and the HTTP requests each sent
(cloudorm: ``Session.count_requests()``; boto3: a ``before-send`` hook). Where the invocation runs is what changed
in issue 13: before it, cloudorm ran the handler in the caller's process (a sandbox of the caller's pool) and boto3
reached moto, which could not run it; since, the local cloud's server runs every invocation, whoever sends it.

Issue 16: an invoke after a pause. ``--pauses`` times, the script sleeps ``--pause`` seconds (1.5) and times one
invoke, alternating with rounds of back-to-back invokes; the table gives the median of each and their ratio, for
cloudorm and boto3 alike (a slowdown both show is the machine waking up, not a cache). Nothing about the function
is kept on the client between invokes (an invoke is one Invoke request, and a change by any client is what the
next invoke runs: tests/test_functions.py), so the expected count is one request per invoke, paused or not
(``EXPECTED_REQUESTS_PER_INVOKE``); the script exits 1 when cloudorm sends more.
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
EXPECTED_REQUESTS_PER_INVOKE = 1
"""HTTP requests of one warm ``fn.invoke()``, back to back or after a pause: the Invoke itself."""


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


def paused_vs_back_to_back(call: Callable[[], Any], pauses: int, pause: float,
                           burst: int = 5) -> tuple[list[float], list[float]]:
    """Seconds of invokes each after a ``pause`` s sleep (``pauses`` of them), and of back-to-back invokes
    (``burst`` after each paused one, the first of which is not counted: it follows the paused one at once)."""
    paused: list[float] = []
    back_to_back: list[float] = []
    for _ in range(pauses):
        time.sleep(pause)
        paused += timed_loop(call, 1)
        back_to_back += timed_loop(call, burst)[1:]
    return paused, back_to_back


def bench_cloudorm(s: cloudorm.Session, where: str, source: Path, n: int, pauses: int,
                   pause: float) -> tuple[list[list[Any]], list[Any], str, float]:
    """``fn.invoke(EVENT)`` warm, ``n`` times: a row; paused vs back-to-back: a row; the function's name (for
    boto3 to invoke too); and the most requests an invoke sent."""
    tag = uuid.uuid4().hex[:8]
    role = s.Role(f"bench-li-{tag}", service="lambda").save()
    fn = s.Function(f"bench-li-{tag}", handler="app.handler", source=source, role=role, timeout=10).save()
    assert fn.invoke(EVENT) == {"echo": EVENT}  # warm-up: starts the sandbox
    with s.count_requests() as c:
        times = timed_loop(lambda: fn.invoke(EVENT), n)
    per_invoke = c.total / n
    with s.count_requests() as c:
        paused, back = paused_vs_back_to_back(lambda: fn.invoke(EVENT), pauses, pause)
    per_paused = c.total / (len(paused) + len(back) + pauses)
    return ([row(f"{where}: cloudorm fn.invoke()", times, per_invoke)],
            pause_row(f"{where}: cloudorm fn.invoke()", paused, back, per_paused), fn.name,
            max(per_invoke, per_paused))


def pause_row(what: str, paused: list[float], back: list[float], requests: float | str) -> list[Any]:
    """A row of the pause table: medians in ms, their ratio, requests per invoke."""
    p, b = statistics.median(paused) * 1e3, statistics.median(back) * 1e3
    return [what, b, p, f"{p / b:.2f}x", requests]


def bench_boto3(url: str, where: str, name: str, n: int, pauses: int, pause: float) -> tuple[list[Any], list[Any]]:
    """A plain boto3 ``invoke`` loop on the function ``name``: a row, and one of paused vs back-to-back (n/a when
    the server cannot run it)."""
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
        return [f"{where}: boto3 invoke", "n/a", "n/a", "not run"], [f"{where}: boto3 invoke", "n/a", "n/a", "", ""]
    sent.clear()
    times = timed_loop(call, n)
    looped = row(f"{where}: boto3 invoke", times, sent["request"] / n)
    if not pauses:
        return looped, [f"{where}: boto3 invoke", "-", "-", "", ""]
    sent.clear()
    paused, back = paused_vs_back_to_back(call, pauses, pause)
    return looped, pause_row(f"{where}: boto3 invoke", paused, back, sent["request"] / (len(paused) + len(back)
                                                                                      + pauses))


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--invokes", type=int, default=None, help="warm invokes timed per row (default 200; 5 quick)")
    p.add_argument("--pauses", type=int, default=None, help="invokes after a pause per row (default 9; 1 quick)")
    p.add_argument("--pause", type=float, default=1.5, help="seconds of each pause (default 1.5)")
    args = p.parse_args(argv)
    n = args.invokes or (5 if args.quick else 200)
    pauses = args.pauses if args.pauses is not None else (1 if args.quick else 9)
    print(f"local_invoke: cloudorm {cloudorm.__version__}, warm invokes of a trivial handler; {environment()}")
    rows: list[list[Any]] = []
    paused: list[list[Any]] = []
    most = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "app.py"
        source.write_text(HANDLER)
        embedded = cloudorm.Session()
        looped, pause_line, name, sent = bench_cloudorm(embedded, "embedded", source, n, pauses, args.pause)
        boto_looped, boto_paused = bench_boto3(embedded.endpoint_url or "", "embedded", name, n,
                                               0 if args.quick else pauses, args.pause)
        rows += [*looped, boto_looped]
        paused += [pause_line, boto_paused]
        most = max(most, sent)
        embedded.close()
        with ServeProcess() as server:
            remote = cloudorm.Session("local", endpoint_url=server.url)
            where = "cloudorm serve (child process)"
            looped, pause_line, name, sent = bench_cloudorm(remote, where, source, n, pauses, args.pause)
            boto_looped, boto_paused = bench_boto3(server.url, where, name, n, 0 if args.quick else pauses,
                                                   args.pause)
            rows += [*looped, boto_looped]
            paused += [pause_line, boto_paused]
            most = max(most, sent)
            remote.close()
    print(table(["warm invoke", "median ms", "p95 ms", "requests/invoke"], rows, title=f"\n{n} warm invokes each"))
    print(table(["warm invoke", "back to back ms", f"after {args.pause:g} s ms", "paused/back", "requests/invoke"],
                paused, title=f"\n{pauses} invokes after a {args.pause:g} s pause each, vs back-to-back invokes "
                              "between them (medians)"))
    if most > EXPECTED_REQUESTS_PER_INVOKE:
        print(f"REQUEST COUNT REGRESSED: a cloudorm invoke sent {most:g} requests, expected "
              f"{EXPECTED_REQUESTS_PER_INVOKE} (the Invoke alone; nothing to revalidate)")
        return 1
    print(f"requests per cloudorm invoke: {most:g} (expected {EXPECTED_REQUESTS_PER_INVOKE})")
    from _bench import check_requests  # (cloudorm's requests must not grow: benchmarks/request_counts.json)
    check_requests("local_invoke.py", {f"{r[0]}, {n} invokes": round(r[3] * n) for r in rows if ": cloudorm" in r[0]},
                   quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
