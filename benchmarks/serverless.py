"""cloudorm serverless: bundle builds, unchanged redeploys and local invokes, each against what a user would script.

Run: ``python benchmarks/serverless.py`` or ``python benchmarks/serverless.py --quick``.

1. **Bundle**: a cold build (a fresh, empty ``CLOUDORM_CACHE_DIR``) against a cached rebuild of the same inputs, with
   real requirements from the package index (``six``, pure Python; ``markupsafe``, a small binary wheel) for
   python3.12 on x86_64: pip runs and seconds. Against the loop AWS's guide suggests: ``pip install --target`` with
   ``--platform manylinux2014_x86_64 --only-binary=:all:``, then zip the folder, on every deploy. ``--quick``
   builds a bundle without requirements (no pip at all).
2. **Unchanged redeploy**: ``fn.save()`` of a function whose code and settings did not change, on the local cloud
   and on the aws provider pointed at a moto server (``cloudorm serve`` in a child process), with the same
   requirements (none with ``--quick``): requests by operation and code uploads (UpdateFunctionCode: 0). Against a
   boto3 deploy of the same requirements (its zip built once by the loop above) that always calls
   ``update_function_code`` and ``update_function_configuration`` (with botocore's ``function_updated_v2`` waiter
   after each).
3. **Local invoke latency**: ``fn.invoke(event)`` on the local cloud (the handler runs in a subprocess), median and
   p95 over ``--invokes`` calls, warm (the sandbox of the previous invoke answers) and cold (the function's warm
   sandboxes closed first, so a new interpreter starts and imports the handler), against calling the handler
   in-process (a plain function call) and against a bare ``python -c`` subprocess that prints JSON, so that the
   runtime's overhead is visible.

Requests are counted per operation: cloudorm with ``Session.count_requests()``, boto3 with a ``before-send`` hook.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from _bench import environment, parser, ratio, table
from botocore.config import Config
from botocore.exceptions import ClientError
from nosql import local_server

import cloudorm
from cloudorm.providers.local.runtime import pool
from cloudorm.serverless.bundle import Bundle, build_bundle

REGION = "us-east-1"
KEY_ID = SECRET = "testing"
REQUIREMENTS = ["six==1.17.0", "markupsafe==3.0.2"]
"""A pure-Python package and a small one with binary manylinux wheels."""
HANDLER = """\
import json


def handler(event, context):
    return {"echo": event, "size": len(json.dumps(event))}
"""
EVENT = {"order": 7, "items": ["a", "b", "c"], "note": "benchmark"}


@contextmanager
def cache_at(path: Path) -> Iterator[None]:
    """Point cloudorm's cache (bundles, vendored requirements) at ``path`` for the duration."""
    before = os.environ.get("CLOUDORM_CACHE_DIR")
    os.environ["CLOUDORM_CACHE_DIR"] = str(path)
    try:
        yield
    finally:
        if before is None:
            del os.environ["CLOUDORM_CACHE_DIR"]
        else:
            os.environ["CLOUDORM_CACHE_DIR"] = before


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of one call of ``fn`` and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def ms(seconds: float) -> float:
    """Seconds as milliseconds."""
    return seconds * 1000


def per_run(total: int, runs: int) -> int | float:
    """``total / runs``, as an int when it is whole."""
    return total // runs if total % runs == 0 else total / runs


def counting(client: Any, counter: Counter[str]) -> Any:
    """Count each HTTP request ``client`` sends, by ``service.Operation``, into ``counter``; returns ``client``."""
    service = client.meta.service_model.service_name

    def count(event_name: str, **_: Any) -> None:
        counter[f"{service}.{event_name.rsplit('.', 1)[1]}"] += 1

    client.meta.events.register("before-send", count)
    return client


# ---------------------------------------------------------------------------------------------------------------
# 1. the bundle


def naive_bundle(src: Path, work: Path, requirements: list[str]) -> tuple[bytes, int]:
    """What a user scripts (AWS's guide to .zip deployments with native libraries): ``pip install --target`` for
    Lambda's platform, then zip the folder and the handler. Returns the zip and the pip runs (0 or 1)."""
    site = work / f"package-{uuid.uuid4().hex[:8]}"
    runs = 0
    if requirements:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(site), "--platform", "manylinux2014_x86_64", "--implementation", "cp",
                        "--python-version", "3.12", "--only-binary=:all:", "--upgrade", *requirements],
                       check=True, capture_output=True)
        runs = 1
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        if site.is_dir():
            for path in sorted(site.rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(site).as_posix())
        for path in sorted(src.glob("*.py")):
            z.write(path, path.name)
    return buffer.getvalue(), runs


def bench_bundle(src: Path, work: Path, requirements: list[str], repeat: int) -> tuple[list[list[Any]], list[str]]:
    """Cold builds (each in a fresh cache), cached rebuilds and the naive loop: table rows and notes."""
    cold: list[float] = []
    warm: list[float] = []
    naive: list[float] = []
    cold_runs = warm_runs = naive_runs = 0
    bundle: Bundle | None = None
    hashes: set[str] = set()
    for i in range(repeat):
        with cache_at(work / f"cache-{i}"):
            seconds, bundle = timed(lambda: build_bundle(source=src, handler="app.handler", runtime="python3.12",
                                                         requirements=requirements or None))
            cold.append(seconds)
            cold_runs += bundle.pip_runs
            hashes.add(bundle.sha256)
            seconds, again = timed(lambda: build_bundle(source=src, handler="app.handler", runtime="python3.12",
                                                        requirements=requirements or None))
            warm.append(seconds)
            warm_runs += again.pip_runs
            assert again.cached and again.sha256 == bundle.sha256
        seconds, (data, runs) = timed(lambda: naive_bundle(src, work, requirements))
        naive.append(seconds)
        naive_runs += runs
    assert bundle is not None
    bundle_size = bundle.size
    what = f"{', '.join(requirements)}" if requirements else "no requirements"
    rows = [
        [f"cloudorm cold build ({what})", ms(statistics.median(cold)), ms(min(cold)), per_run(cold_runs, repeat),
         bundle_size],
        ["cloudorm cached rebuild (same inputs)", ms(statistics.median(warm)), ms(min(warm)),
         per_run(warm_runs, repeat), bundle_size],
        ["pip install --target + zip, every deploy", ms(statistics.median(naive)), ms(min(naive)),
         per_run(naive_runs, repeat), len(data)],
    ]
    notes = [f"cold builds in {repeat} fresh caches gave {len(hashes)} distinct hash(es) (deterministic: 1)",
             f"cached rebuild vs the pip + zip loop: {ratio(statistics.median(naive), statistics.median(warm))} "
             f"faster; cold build vs the loop: {ratio(statistics.median(naive), statistics.median(cold))}"]
    return rows, notes


# ---------------------------------------------------------------------------------------------------------------
# 2. unchanged redeploys


def naive_deploy(client: Any, name: str, code: bytes, role_arn: str) -> None:
    """A boto3 deploy as commonly scripted: create, or update the code and the configuration every time."""
    settings = {"Runtime": "python3.12", "Handler": "app.handler", "Role": role_arn, "MemorySize": 128,
                "Timeout": 10}
    try:
        client.get_function(FunctionName=name)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        client.create_function(FunctionName=name, Code={"ZipFile": code}, **settings)
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
        return
    client.update_function_code(FunctionName=name, ZipFile=code)
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    client.update_function_configuration(FunctionName=name, **settings)
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})


def bench_redeploy(s: cloudorm.Session, where: str, src: Path, work: Path, requirements: list[str],
                   redeploys: int) -> tuple[list[list[Any]], dict[str, dict[str, int]]]:
    """Deploy once with each side, then redeploy unchanged ``redeploys`` times: rows and requests by operation.
    The boto3 side's zip (with the same requirements) is built once, outside the timing: only deploys are timed."""
    tag = uuid.uuid4().hex[:8]
    role = s.Role(f"bench-fn-{tag}", service="lambda").save()
    client = boto3.client("lambda", endpoint_url=s.endpoint_url, region_name=REGION, aws_access_key_id=KEY_ID,
                          aws_secret_access_key=SECRET,
                          config=Config(retries={"mode": "standard", "max_attempts": 3}))
    sent: Counter[str] = Counter()
    counting(client, sent)
    reqs = requirements or None
    ours = s.Function(f"bench-ours-{tag}", handler="app.handler", source=src, role=role, timeout=10,
                      requirements=reqs).save()
    theirs = f"bench-boto3-{tag}"
    code = naive_bundle(src, work, requirements)[0]
    naive_deploy(client, theirs, code, role.arn)
    try:
        times_ours: list[float] = []
        with s.count_requests() as c:
            for _ in range(redeploys):
                fn = s.Function(ours.name, handler="app.handler", source=src, role=role, timeout=10,
                                requirements=reqs)
                times_ours.append(timed(fn.save)[0])
        sent.clear()
        times_boto: list[float] = []
        for _ in range(redeploys):
            times_boto.append(timed(functools.partial(naive_deploy, client, theirs, code, role.arn))[0])
        ops_ours = {op: n // redeploys for op, n in sorted(c.by_operation.items())}
        ops_boto = {op: n // redeploys for op, n in sorted(sent.items())}
        uploads_ours = ops_ours.get("lambda.UpdateFunctionCode", 0)
        uploads_boto = ops_boto.get("lambda.UpdateFunctionCode", 0)
        assert uploads_ours == 0, f"an unchanged redeploy uploaded code: {ops_ours}"
        rows = [[f"{where}: cloudorm fn.save()", ms(statistics.median(times_ours)), sum(ops_ours.values()),
                 uploads_ours, uploads_ours * (ours.code_size or 0)],
                [f"{where}: boto3 update_function_code + configuration", ms(statistics.median(times_boto)),
                 sum(ops_boto.values()), uploads_boto, uploads_boto * len(code)]]
        ops = {f"{where} cloudorm": ops_ours, f"{where} boto3": ops_boto,
               f"{where} time": {"boto3 / cloudorm": ratio(statistics.median(times_boto),
                                                           statistics.median(times_ours))}}
        return rows, ops
    finally:
        ours.delete(missing_ok=True)
        client.delete_function(FunctionName=theirs)
        role.delete(cascade=True)


# ---------------------------------------------------------------------------------------------------------------
# 3. local invoke latency


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def bench_invoke(s: cloudorm.Session, src: Path, n: int) -> tuple[list[list[Any]], list[str]]:
    """``fn.invoke`` on the local cloud (warm, and cold: a new sandbox each time) vs an in-process call vs a bare
    ``python -c`` subprocess."""
    tag = uuid.uuid4().hex[:8]
    role = s.Role(f"bench-invoke-{tag}", service="lambda").save()
    fn = s.Function(f"bench-invoke-{tag}", handler="app.handler", source=src, role=role, timeout=10).save()
    try:
        expected = fn.invoke(EVENT)  # warm-up (and a check that it answers)
        warm = [timed(lambda: fn.invoke(EVENT))[0] for _ in range(n)]
        cold: list[float] = []
        for _ in range(n):
            pool().discard(fn.name)  # close the warm sandbox: the next invoke starts a new one
            cold.append(timed(lambda: fn.invoke(EVENT))[0])
        with s.count_requests() as c:
            for _ in range(n):
                fn.invoke(EVENT)
    finally:
        fn.delete(missing_ok=True)
        role.delete(cascade=True)
    spec = importlib.util.spec_from_file_location("bench_app", src / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.handler(EVENT, None) == expected
    in_process = [timed(lambda: module.handler(EVENT, None))[0] for _ in range(max(n, 1000))]
    code = "import json, sys; print(json.dumps({'echo': json.loads(sys.argv[1])}))"
    bare = [timed(lambda: subprocess.run([sys.executable, "-c", code, '{"order": 7}'], check=True,
                                         capture_output=True))[0] for _ in range(n)]

    def row(what: str, times: list[float]) -> list[Any]:
        return [f"{what} ({len(times)})", statistics.median(times) * 1e6, percentile(times, 0.95) * 1e6]

    rows = [row("cloudorm fn.invoke(), warm sandbox", warm), row("cloudorm fn.invoke(), cold: a new sandbox", cold),
            row("handler called in-process", in_process), row("bare `python -c` subprocess", bare)]
    median_warm, median_cold, median_bare = (statistics.median(x) for x in (warm, cold, bare))
    notes = [f"requests per invoke: {({op: k / n for op, k in c.by_operation.items()})}",
             f"warm invoke - in-process call: {(median_warm - statistics.median(in_process)) * 1e3:.2f} ms; "
             f"cold invoke / bare subprocess: {median_cold / median_bare:.2f}x "
             f"({(median_cold - median_bare) * 1e3:+.1f} ms)"]
    return rows, notes


# ---------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--repeat", type=int, default=None, help="cold/cached/naive bundle builds (default 3; 1 quick)")
    p.add_argument("--redeploys", type=int, default=None, help="unchanged redeploys per side (default 10; 2 quick)")
    p.add_argument("--invokes", type=int, default=None, help="invokes for the latency (default 50; 5 quick)")
    args = p.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    redeploys = args.redeploys or (2 if args.quick else 10)
    invokes = args.invokes or (5 if args.quick else 50)
    requirements = [] if args.quick else REQUIREMENTS
    print(f"serverless: cloudorm on the local cloud and on the aws provider -> cloudorm serve (moto); {environment()}")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / "src"
        src.mkdir()
        (src / "app.py").write_text(HANDLER)

        rows, notes = bench_bundle(src, work, requirements, repeat)
        print(table(["build", "median ms", "best ms", "pip runs", "zip bytes"], rows,
                    title=f"\n1. bundle for python3.12 x86_64 ({repeat} run(s) each)"))
        for note in notes:
            print("  ", note)

        with cache_at(work / "deploy-cache"):
            local = cloudorm.Session()
            rows, ops = bench_redeploy(local, "local cloud", src, work, requirements, redeploys)
            with local_server() as (url, _):
                aws = cloudorm.Session("aws", creds={"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET,
                                                     "region": REGION}, endpoint_url=url)
                more, more_ops = bench_redeploy(aws, "aws -> moto", src, work, requirements, redeploys)
                aws.close()
            rows += more
            ops.update(more_ops)
            print(table(["redeploy, nothing changed", "median ms", "requests", "code uploads", "bytes up"], rows,
                        title=f"\n2. unchanged redeploy (median of {redeploys}; per redeploy)"))
            for who, by_op in ops.items():
                print(f"   {who}: {by_op}")

            rows, notes = bench_invoke(local, src, invokes)
            print(table(["call", "median µs", "p95 µs"], rows, title="\n3. invoke latency, on the local cloud"))
            for note in notes:
                print("  ", note)
            local.close()
    from _bench import check_requests  # (cloudorm's requests must not grow: benchmarks/request_counts.json)
    check_requests("serverless.py", {f"redeploy, {who}: {op}": n for who, by_op in ops.items()
                                     if who.endswith(" cloudorm") for op, n in by_op.items()}, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
