"""cloudorm object storage vs boto3 against one local S3 server (moto, ``cloudorm serve``) in a separate process.

Run: ``python benchmarks/storage.py`` or ``python benchmarks/storage.py --quick``.

Workloads: ``bucket.upload_many`` of many small blobs against a sequential boto3 ``put_object`` loop (target
>= 3x), once on loopback and once through a ``FaultProxy`` adding ``--latency-ms`` per request (on loopback the two
cores are the limit, not waiting; against a real endpoint waiting is what concurrency saves), and one large
file uploaded and downloaded with ``blob.upload(path)`` / ``blob.download_to(path)`` against boto3's
``upload_file`` / ``download_file`` (target >= 0.95x: the same s3transfer machinery, default settings on both
sides). Wall time is best of ``--repeat``, the two sides' runs alternating; requests are counted per operation
(cloudorm with ``Session.count_requests()``, boto3 with a ``before-send`` hook).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from _bench import environment, parser, ratio, table, verdict
from botocore.config import Config
from nosql import local_server, process_cpu

import cloudorm
from cloudorm.testing import FaultProxy

REGION = "us-east-1"
KEY_ID = SECRET = "testing"
MiB = 1024 * 1024


def boto_client(url: str, counter: Counter[str]) -> Any:
    """A boto3 S3 client with the botocore settings cloudorm uses for a custom endpoint, counting requests."""
    client = boto3.client("s3", endpoint_url=url, region_name=REGION, aws_access_key_id=KEY_ID,
                          aws_secret_access_key=SECRET,
                          config=Config(retries={"mode": "standard", "max_attempts": 3},
                                        request_checksum_calculation="when_required",
                                        response_checksum_validation="when_required"))

    def count(event_name: str, **_: Any) -> None:
        counter[event_name.split(".", 1)[1]] += 1

    client.meta.events.register("before-send", count)
    return client


def interleaved(ours: Callable[[], Any], theirs: Callable[[], Any], repeat: int,
                pid: int) -> tuple[float, float, float, float]:
    """Best wall time of each side and the server's CPU per run, alternating the runs (ABBA...) so that the
    machine's noise (these cores are shared) and the order fall on both sides alike."""
    times: tuple[list[float], list[float]] = ([], [])
    cpu = [0.0, 0.0]
    for i in range(repeat):
        for side in (0, 1) if i % 2 == 0 else (1, 0):
            fn = (ours, theirs)[side]
            before = process_cpu(pid)
            start = time.perf_counter()
            fn()
            times[side].append(time.perf_counter() - start)
            cpu[side] += process_cpu(pid) - before
    return min(times[0]), min(times[1]), cpu[0] / repeat, cpu[1] / repeat


def small_blobs(ours: cloudorm.Bucket, client: Any, theirs: str, small: dict[str, bytes], pid: int, repeat: int,
                sent: Counter[str], where: str) -> tuple[list[list[Any]], float]:
    """``upload_many`` of the small blobs vs a sequential ``put_object`` loop: table rows and the ratio."""
    def loop() -> None:
        for key, data in small.items():
            client.put_object(Bucket=theirs, Key=key, Body=data)

    sent.clear()
    with ours.session.count_requests() as c:
        t_ours, t_boto, server_ours, server_boto = interleaved(
            lambda: ours.upload_many(small, concurrency=8).raise_for_errors(), loop, repeat, pid)
    n = len(small)
    rows = [[f"{n} small blobs, {where}: cloudorm upload_many(concurrency=8)", t_ours, n / t_ours,
             c.total // repeat, f"server CPU {server_ours:.2f} s/run"],
            [f"{n} small blobs, {where}: boto3 put_object loop", t_boto, n / t_boto, sum(sent.values()) // repeat,
             f"server CPU {server_boto:.2f} s/run"]]
    return rows, t_boto / t_ours


def main() -> int:
    p = parser(__doc__ or "")
    p.add_argument("--blobs", type=int, default=200, help="small blobs for upload_many (default 200)")
    p.add_argument("--size-mb", type=int, default=50, help="the large file's size in MB (default 50)")
    p.add_argument("--latency-ms", type=float, default=10.0,
                   help="latency added by a proxy for the second small-blob run (default 10 ms)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each workload; the best counts (default 3)")
    args = p.parse_args()
    if args.quick:
        args.blobs, args.size_mb, args.repeat = 20, 9, 1
    print(environment())
    small = {f"small/{i:05}.json": os.urandom(1024) for i in range(args.blobs)}
    rows: list[list[Any]] = []
    ratios: list[tuple[str, float, float]] = []
    with local_server() as (url, pid), tempfile.TemporaryDirectory() as tmp:
        creds = {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET, "region": REGION}
        s = cloudorm.Session("aws", creds=creds, endpoint_url=url)
        sent: Counter[str] = Counter()
        client = boto_client(url, sent)
        ours = s.Bucket(f"bench-cloudorm-{uuid.uuid4().hex[:8]}").save()
        theirs = s.Bucket(f"bench-boto3-{uuid.uuid4().hex[:8]}").save()
        ours.upload_many({"warm": b"x"}).raise_for_errors()
        client.put_object(Bucket=theirs.name, Key="warm", Body=b"x")

        # many small blobs: on loopback (CPU-bound: client and server share the machine's cores), then through a
        # FaultProxy that adds the latency of an endpoint some distance away (what waiting on S3 is like)
        rows_small, value = small_blobs(ours, client, theirs.name, small, pid, args.repeat, sent, "loopback")
        rows += rows_small
        ratios.append(("upload_many vs put_object loop (loopback)", value, 3.0))
        where = f"+{args.latency_ms:g} ms latency"
        with FaultProxy(url, latency=args.latency_ms / 1000) as proxy:
            far = cloudorm.Session("aws", creds=creds, endpoint_url=proxy.url)
            rows_small, value = small_blobs(far.Bucket(ours.name), boto_client(proxy.url, sent), theirs.name, small,
                                            pid, args.repeat, sent, where)
            far.close()
        rows += rows_small
        ratios.append((f"upload_many vs put_object loop ({where})", value, 3.0))

        # one large file
        big = Path(tmp) / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.size_mb):
                f.write(os.urandom(MiB))
        blob = ours.blob("big.bin")
        sent.clear()
        with s.count_requests() as up:
            t_up, t_up_boto, _, _ = interleaved(lambda: blob.upload(big),
                                                lambda: client.upload_file(str(big), theirs.name, "big.bin"),
                                                args.repeat, pid)
        up_boto = sum(sent.values()) // args.repeat
        blob.refresh()
        sent.clear()
        with s.count_requests() as down:
            t_down, t_down_boto, _, _ = interleaved(
                lambda: blob.download_to(Path(tmp) / "ours.bin"),
                lambda: client.download_file(theirs.name, "big.bin", str(Path(tmp) / "theirs.bin")), args.repeat, pid)
        down_boto = sum(sent.values()) // args.repeat
        assert (Path(tmp) / "ours.bin").read_bytes() == (Path(tmp) / "theirs.bin").read_bytes() == big.read_bytes()
        mb = args.size_mb
        rows.append([f"{mb} MB upload: cloudorm blob.upload(path)", t_up, mb / t_up, up.total // args.repeat, "MB/s"])
        rows.append([f"{mb} MB upload: boto3 upload_file", t_up_boto, mb / t_up_boto, up_boto, "MB/s"])
        rows.append([f"{mb} MB download: cloudorm blob.download_to(path)", t_down, mb / t_down,
                     down.total // args.repeat, "MB/s"])
        rows.append([f"{mb} MB download: boto3 download_file", t_down_boto, mb / t_down_boto, down_boto, "MB/s"])
        ratios.append((f"{mb} MB upload vs upload_file", t_up_boto / t_up, 0.95))
        ratios.append((f"{mb} MB download vs download_file", t_down_boto / t_down, 0.95))
        by_op = {name: {op: n // args.repeat for op, n in counter.by_operation.items()}
                 for name, counter in (("upload", up), ("download_to", down))}
        ours.delete(force=True)
        theirs.delete(force=True)
    print(table(["workload", "best wall s", "per s", "requests/run", ""], rows,
                title=f"\nobject storage (best of {args.repeat}; 'per s' is blobs/s or MB/s)"))
    print(table(["comparison", "measured", "target"],
                [[name, ratio(1.0, 1.0 / value), verdict(value, target)] for name, value, target in ratios],
                title="\nratios (boto3 time / cloudorm time)"))
    print("\ncloudorm requests per run, by operation:", by_op)
    from _bench import check_requests  # (the cloudorm rows' requests must not grow: benchmarks/request_counts.json)
    check_requests("storage.py", {**{row[0]: row[3] for row in rows if ": cloudorm" in row[0]},
                                  **{f"{w}: {op}": n for w, ops in by_op.items() for op, n in ops.items()}},
                   quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
