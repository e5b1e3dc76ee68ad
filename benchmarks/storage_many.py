"""cloudorm's operations on many objects vs the boto3 loops a user would write, against one local S3 server (moto,
``cloudorm serve``) in a separate process, through a ``FaultProxy`` adding ``--latency-ms`` per request (a stand-in
for the distance to a real endpoint; on loopback the two shared cores are the limit, not waiting).

Run: ``python benchmarks/storage_many.py`` or ``python benchmarks/storage_many.py --quick``.

Workloads, each on ``--blobs`` small objects: ``bucket.delete_many`` (DeleteObjects, 1,000 keys a request) against a
``delete_object`` loop; ``bucket.exists_many`` (HEADs, ``concurrency=8``) against a ``head_object`` loop;
``bucket.read_many`` (s3transfer into memory, ``concurrency=8``) against a ``get_object`` loop; and
``bucket.rename_prefix`` (per key a verified copy and a delete, ``concurrency=8``) against a ``copy_object`` +
``delete_object`` loop (which checks nothing). Wall time is best of ``--repeat``, the sides alternating; requests
are counted per operation.

Then (issue 16) ``bucket.download_many`` of the ``--blobs`` small objects into a folder, by key and from a listing,
against what a user would write for speed: a thread pool of 8 threads with one boto3 client each (made before the
timing), each ``get_object`` + writing the file. On loopback, straight to the server (in another process), so this
process's CPU is the two clients' own: wall and CPU time (``time.process_time``) per run, medians of ``--rounds``
rounds, the sides alternating (ABBA). Requests are counted and checked: one GetObject per object, no HEAD
(``EXPECTED_DOWNLOAD``); the script exits 1 when a count is exceeded.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _bench import environment, parser, ratio, table, verdict
from nosql import local_server
from storage import KEY_ID, REGION, SECRET, boto_client, interleaved

import cloudorm
from cloudorm.testing import FaultProxy

EXPECTED_DOWNLOAD = {"s3.GetObject": 1.0, "s3.HeadObject": 0.0}
"""Requests per object of ``download_many`` of small objects (by key or from a listing): one GET, no HEAD."""
THREADS = 8
"""Threads of the boto3 pool, and ``download_many``'s ``concurrency`` (its default)."""


def boto3_pool_download(url: str, bucket: str, keys: list[str], sent: Counter[str]) -> Callable[[Path], None]:
    """A download into a folder by a pool of ``THREADS`` threads, one boto3 client each (made now, not timed)."""
    local = threading.local()
    pool = ThreadPoolExecutor(THREADS)

    def client() -> Any:
        if not hasattr(local, "client"):
            local.client = boto_client(url, sent)
        return local.client

    list(pool.map(lambda _: client(), range(THREADS * 4)))  # (every thread has made its client)

    def get(key: str, folder: Path) -> None:
        data = client().get_object(Bucket=bucket, Key=key)["Body"].read()
        target = folder / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    return lambda folder: list(pool.map(lambda k: get(k, folder), keys))


def bench_downloads(url: str, fill: cloudorm.Session, data: dict[str, bytes], rounds: int) -> tuple[list[list[Any]],
                                                                                                 list[str], bool]:
    """``download_many`` (by key, and from a listing) vs the boto3 pool, on loopback: rows, notes, counts ok."""
    creds = {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET, "region": REGION}
    s = cloudorm.Session("aws", creds=creds, endpoint_url=url)
    bucket = fill.Bucket(f"bench-dl-{uuid.uuid4().hex[:8]}").save()
    bucket.upload_many(data, concurrency=16).raise_for_errors()
    keys = list(data)
    ours = s.Bucket(bucket.name)
    listed = list(ours.blobs())
    sent: Counter[str] = Counter()
    pool = boto3_pool_download(url, bucket.name, keys, sent)
    sides: dict[str, Callable[[Path], Any]] = {
        "cloudorm download_many(keys)": lambda d: ours.download_many(keys, d).raise_for_errors(),
        "cloudorm download_many(listing)": lambda d: ours.download_many(listed, d).raise_for_errors(),
        f"boto3: {THREADS} threads, a client each": pool}
    wall: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    counts: dict[str, Counter[str]] = {name: Counter() for name in sides}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for name in order:
                folder = Path(tmp) / f"{r}-{len(wall[name])}-{name[:8]}"
                sent.clear()
                with s.count_requests() as c:
                    start, start_cpu = time.perf_counter(), time.process_time()
                    sides[name](folder)
                    wall[name].append(time.perf_counter() - start)
                    cpu[name].append(time.process_time() - start_cpu)
                counts[name].update(c.by_operation if name.startswith("cloudorm") else
                                    sent)
                assert all((folder / k).read_bytes() == v for k, v in data.items()), name
    n, base = len(keys), f"boto3: {THREADS} threads, a client each"
    rows, notes, ok = [], [], True
    for name in sides:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        per = {op: k / rounds / n for op, k in sorted(counts[name].items())}
        rows.append([name, w, n / w, c, statistics.median(wall[base]) / w, statistics.median(cpu[base]) / c,
                     ", ".join(f"{op.split('.')[1]} {v:g}" for op, v in per.items())])
        if name.startswith("cloudorm"):
            for op, most in EXPECTED_DOWNLOAD.items():
                if per.get(op, 0.0) > most:
                    notes.append(f"REQUEST COUNT REGRESSED: {name} sent {per.get(op, 0.0):g} {op} per object, "
                                 f"expected at most {most:g}")
                    ok = False
    fill.Bucket(bucket.name).delete(force=True)
    s.close()
    return rows, notes, ok


def main() -> int:
    p = parser(__doc__ or "")
    p.add_argument("--blobs", type=int, default=200, help="objects per workload (default 200)")
    p.add_argument("--latency-ms", type=float, default=10.0, help="latency added per request (default 10 ms)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each workload; the best counts (default 3)")
    p.add_argument("--rounds", type=int, default=7, help="rounds of the download comparison (default 7; 2 quick)")
    p.add_argument("--only-downloads", action="store_true", help="run only the download comparison (issue 16)")
    args = p.parse_args()
    if args.quick:
        args.blobs, args.repeat, args.rounds = 20, 1, 2
    print(environment())
    data = {f"in/{i:05}.json": os.urandom(1024) for i in range(args.blobs)}
    keys = list(data)
    rows: list[list[Any]] = []
    ratios: list[tuple[str, float]] = []
    creds = {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET, "region": REGION}
    with local_server() as (url, pid), FaultProxy(url, latency=args.latency_ms / 1000) as proxy:
        s = cloudorm.Session("aws", creds=creds, endpoint_url=proxy.url)
        fill = cloudorm.Session("aws", creds=creds, endpoint_url=url)  # setup goes straight to the server
        dl_rows, dl_notes, dl_ok = bench_downloads(url, fill, data, args.rounds)
        print(table(["download into a folder", "wall s", "objects/s", "CPU s", "wall: boto3/this", "CPU: boto3/this",
                     "requests per object"], dl_rows,
                    title=f"\n{len(data)} small objects on loopback (medians of {args.rounds} rounds)"))
        print("\n".join(dl_notes) or f"request counts within {EXPECTED_DOWNLOAD} per object")
        if args.only_downloads or not dl_ok:
            return 0 if dl_ok else 1
        sent: Counter[str] = Counter()
        client = boto_client(proxy.url, sent)
        ours, theirs = (s.Bucket(f"bench-{side}-{uuid.uuid4().hex[:8]}").save() for side in ("cloudorm", "boto3"))

        def refill(*names: str) -> None:
            for name in names:
                fill.Bucket(name).delete_many(list(fill.Bucket(name).blobs())).raise_for_errors()
                fill.Bucket(name).upload_many(data, concurrency=16).raise_for_errors()

        def compare(name: str, mine: Callable[[], Any], loop: Callable[[], Any], setup: bool) -> None:
            best_ours = best_boto = float("inf")
            calls: Counter[str] = Counter()
            sent.clear()
            for _ in range(args.repeat):  # (a fresh copy of the objects before each run that changes them)
                if setup:
                    refill(ours.name, theirs.name)
                with s.count_requests() as c:
                    t_ours, t_boto, _, _ = interleaved(mine, loop, 1, pid)
                calls.update(c.by_operation)
                best_ours, best_boto = min(best_ours, t_ours), min(best_boto, t_boto)
            n = len(keys)
            rows.append([f"{name}: cloudorm", best_ours, n / best_ours, sum(calls.values()) // args.repeat,
                         ", ".join(f"{op.split('.')[1]} {k // args.repeat}" for op, k in sorted(calls.items()))])
            rows.append([f"{name}: boto3 loop", best_boto, n / best_boto, sum(sent.values()) // args.repeat,
                         ", ".join(f"{op} {k // args.repeat}" for op, k in sorted(sent.items()))])
            ratios.append((name, best_boto / best_ours))

        refill(ours.name, theirs.name)
        compare("exists_many vs head_object loop", lambda: ours.exists_many(keys).raise_for_errors(),
                lambda: [client.head_object(Bucket=theirs.name, Key=k) for k in keys], False)
        compare("read_many vs get_object loop", lambda: ours.read_many(keys).raise_for_errors(),
                lambda: [client.get_object(Bucket=theirs.name, Key=k)["Body"].read() for k in keys], False)
        compare("delete_many vs delete_object loop", lambda: ours.delete_many(keys).raise_for_errors(),
                lambda: [client.delete_object(Bucket=theirs.name, Key=k) for k in keys], True)

        def copy_delete_loop() -> None:
            for k in keys:
                client.copy_object(Bucket=theirs.name, Key="out/" + k[3:], CopySource={"Bucket": theirs.name, "Key": k})
                client.delete_object(Bucket=theirs.name, Key=k)

        compare("rename_prefix vs copy_object+delete_object loop",
                lambda: ours.rename_prefix("in/", "out/", overwrite=True).raise_for_errors(), copy_delete_loop, True)
        for bucket in (ours, theirs):
            fill.Bucket(bucket.name).delete(force=True)
    print(table(["workload", "best wall s", "objects/s", "requests/run", "by operation"], rows,
                title=f"\nmany objects, +{args.latency_ms:g} ms per request (best of {args.repeat})"))
    print(table(["comparison", "measured", "target"],
                [[name, ratio(1.0, 1.0 / value), verdict(value, 3.0)] for name, value in ratios],
                title="\nratios (boto3 loop time / cloudorm time)"))
    from _bench import check_requests  # (the cloudorm rows' requests must not grow: benchmarks/request_counts.json)
    check_requests("storage_many.py", {f"{row[0]} {part.rsplit(' ', 1)[0]}": int(part.rsplit(" ", 1)[1])
                                       for row in rows if row[0].endswith(": cloudorm") for part in row[4].split(", ")},
                   quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
