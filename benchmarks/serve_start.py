"""``cloudorm serve`` start time and ``--state``'s cost (issue 13).

Run: ``python benchmarks/serve_start.py`` or ``python benchmarks/serve_start.py --quick``.

1. **Start**: from process start to the first answered request (a ListTables), without ``--state``, with an empty
   ``--state`` directory, and with a state of ``--tables`` tables of ``--items`` items each, a bucket of
   ``--objects`` 1 KiB objects and an IAM user (best of ``--repeat``).
2. **Write burst**: ``--burst`` PutItem requests (each answered once durable with ``--state``) sent by 1 and by 8
   client threads, with and without ``--state``: requests answered per second, and snapshots written.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import parser


def client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(max_pool_connections=16))


class Serve:
    """``cloudorm serve --port 0 [--state DIR]`` in a child process; ``seconds`` from spawn to the first answer."""

    def __init__(self, state: Path | None) -> None:
        started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "cloudorm.cli", "serve", "--port", "0",
                                      *(["--state", str(state)] if state else [])],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        found = re.search(r"http://\S+", self.proc.stdout.readline())
        if not found:
            raise RuntimeError("cloudorm serve did not start")
        self.url = found.group(0)
        client(self.url, "dynamodb").list_tables()
        self.seconds = time.perf_counter() - started

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def fill(url: str, tables: int, items: int, objects: int) -> None:
    ddb = client(url, "dynamodb")
    for t in range(tables):
        ddb.create_table(TableName=f"t{t}", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    put_burst(url, [(f"t{t}", i) for t in range(tables) for i in range(items)], threads=8)
    s3 = client(url, "s3")
    s3.create_bucket(Bucket="bench-bucket")
    for o in range(objects):
        s3.put_object(Bucket="bench-bucket", Key=f"o{o}", Body=b"x" * 1024)
    client(url, "iam").create_user(UserName="bench")


def put_burst(url: str, writes: list[tuple[str, int]], threads: int) -> float:
    """Send the PutItems from ``threads`` threads; returns the seconds taken."""
    clients = [client(url, "dynamodb") for _ in range(threads)]
    started = time.perf_counter()

    def run(n: int) -> None:
        for table, i in writes[n::threads]:
            clients[n].put_item(TableName=table, Item={"id": {"S": f"item-{i}"}, "n": {"N": str(i)},
                                                       "pad": {"S": "p" * 100}})

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tables", type=int, default=10)
    p.add_argument("--items", type=int, default=1000)
    p.add_argument("--objects", type=int, default=1000)
    p.add_argument("--burst", type=int, default=1000)
    args = p.parse_args()
    if args.quick:
        args.repeat, args.tables, args.items, args.objects, args.burst = 1, 2, 50, 20, 50
    print(f"cloudorm serve start (best of {args.repeat}), seconds from spawn to the first answered request")
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full"
        server = Serve(full)
        fill(server.url, args.tables, args.items, args.objects)
        server.stop()
        size = (full / "snapshot").stat().st_size
        for label, state in (("no --state", None), ("empty --state", "empty"), ("--state with data", "full")):
            best = float("inf")
            for r in range(args.repeat):
                directory = None if state is None else Path(tmp) / (f"empty{r}" if state == "empty" else state)
                server = Serve(directory)
                best = min(best, server.seconds)
                server.stop()
            print(f"  {label:<20} {best:6.2f} s")
        print(f"  (the data: {args.tables} tables x {args.items} items, {args.objects} objects of 1 KiB, "
              f"an IAM user; snapshot {size / 1e6:.1f} MB)")

        print(f"write burst: {args.burst} PutItem, each answered (with --state: once on disk)")
        for label, state in (("no --state", None), ("--state", "burst")):
            for threads in (1, 8):
                directory = None if state is None else Path(tmp) / f"{state}{threads}"
                server = Serve(directory)
                ddb = client(server.url, "dynamodb")
                ddb.create_table(TableName="b", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST")
                seconds = put_burst(server.url, [("b", i) for i in range(args.burst)], threads)
                server.stop()
                print(f"  {label:<12} {threads} thread(s): {args.burst} requests in {seconds:6.2f} s = "
                      f"{args.burst / seconds:6.0f} writes/s")


if __name__ == "__main__":
    main()
