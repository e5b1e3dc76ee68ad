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
"""

from __future__ import annotations

import os
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from _bench import environment, parser, ratio, table, verdict
from nosql import local_server
from storage import KEY_ID, REGION, SECRET, boto_client, interleaved

import cloudorm
from cloudorm.testing import FaultProxy


def main() -> int:
    p = parser(__doc__ or "")
    p.add_argument("--blobs", type=int, default=200, help="objects per workload (default 200)")
    p.add_argument("--latency-ms", type=float, default=10.0, help="latency added per request (default 10 ms)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each workload; the best counts (default 3)")
    args = p.parse_args()
    if args.quick:
        args.blobs, args.repeat = 20, 1
    print(environment())
    data = {f"in/{i:05}.json": os.urandom(1024) for i in range(args.blobs)}
    keys = list(data)
    rows: list[list[Any]] = []
    ratios: list[tuple[str, float]] = []
    creds = {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET, "region": REGION}
    with local_server() as (url, pid), FaultProxy(url, latency=args.latency_ms / 1000) as proxy:
        s = cloudorm.Session("aws", creds=creds, endpoint_url=proxy.url)
        fill = cloudorm.Session("aws", creds=creds, endpoint_url=url)  # setup goes straight to the server
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
