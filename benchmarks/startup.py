"""The local cloud's start and ``import cloudorm`` (issue 16).

Run: ``python benchmarks/startup.py`` or ``python benchmarks/startup.py --quick``.

1. **Start to first put**: from spawning a fresh Python process to its first answered DynamoDB PutItem (a table
   created first), for ``cloudorm.Session()`` (the embedded local cloud) and for boto3 against a bare moto server
   (``moto.server.ThreadedMotoServer`` started in the same process); interleaved, median of ``--rounds``.
2. **Import**: ``import cloudorm`` and ``import boto3``, each in a fresh process (timed inside it), interleaved,
   median of ``--rounds``.

One untimed run of each contender comes first (the OS's file cache; Python's compiled modules, which the children
may write even where ``PYTHONDONTWRITEBYTECODE`` is set, as a user's Python does).

The requests the local cloud's session sends from ``Session()`` to its first answered put are counted (they are
deterministic): more than ``EXPECTED_REQUESTS`` fails the run (exit 1). No time is asserted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import parser, table

EXPECTED_REQUESTS = 3
"""Requests ``Session()`` sends up to its first answered put: CreateTable, the DescribeTable of ``save()`` waiting
for the table to be ACTIVE, and PutItem. More means the start or the first put costs a round trip it did not."""

CLOUDORM_FIRST_PUT = """
import cloudorm
s = cloudorm.Session()
with s.count_requests() as counted:
    table = s.Table("startup", hash_key=("id", "S")).save()
    table.put({"id": "first"})
print("ready", counted.total, dict(counted.by_operation), flush=True)
"""

BOTO3_FIRST_PUT = """
import logging
import boto3
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # as the local cloud does: no line per request
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
ddb = boto3.client("dynamodb", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
ddb.create_table(TableName="startup", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                 AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
ddb.put_item(TableName="startup", Item={"id": {"S": "first"}})
print("ready", 2, {"dynamodb.CreateTable": 1, "dynamodb.PutItem": 1}, flush=True)
"""

ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
"""The children's environment: Python may cache compiled modules, as it does for users (the warm-up run writes
cloudorm's ``__pycache__``; site-packages have theirs)."""

IMPORT = """
import time
started = time.perf_counter()
import {module}
print("ready", time.perf_counter() - started, flush=True)
"""


def first_put(code: str) -> tuple[float, str]:
    """Seconds from spawning a process running ``code`` to its ``ready`` line, and the rest of that line."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    seconds = time.perf_counter() - started
    proc.stdout.close()
    if proc.wait(timeout=120) != 0 or not line.startswith("ready"):
        raise RuntimeError(f"the first put did not happen: {line!r}")
    return seconds, line.split(" ", 1)[1].strip()


def import_time(module: str) -> float:
    """Seconds ``import module`` takes in a fresh process."""
    out = subprocess.run([sys.executable, "-c", IMPORT.format(module=module)], capture_output=True, text=True,
                         check=True, env=ENV).stdout
    return float(out.split()[1])


def main() -> int:
    p = parser(__doc__ or "")
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    rounds = 1 if args.quick else args.rounds
    puts: dict[str, list[float]] = {"cloudorm.Session()": [], "boto3 + ThreadedMotoServer": []}
    imports: dict[str, list[float]] = {"import cloudorm": [], "import boto3": []}
    counted = ""
    first_put(CLOUDORM_FIRST_PUT), first_put(BOTO3_FIRST_PUT)  # warm-up (not timed): caches, compiled modules
    for _ in range(rounds):
        seconds, counted = first_put(CLOUDORM_FIRST_PUT)
        puts["cloudorm.Session()"].append(seconds)
        puts["boto3 + ThreadedMotoServer"].append(first_put(BOTO3_FIRST_PUT)[0])
        imports["import cloudorm"].append(import_time("cloudorm"))
        imports["import boto3"].append(import_time("boto3"))

    def rows(results: dict[str, list[float]]) -> list[list[object]]:
        base = statistics.median(list(results.values())[1])
        return [[name, f"{statistics.median(times) * 1000:.0f}", f"{min(times) * 1000:.0f}",
                 f"{statistics.median(times) / base:.2f}x"] for name, times in results.items()]

    print(table(["start to first put", "median ms", "min ms", "ratio"], rows(puts),
                f"cloudorm startup: {rounds} rounds, each in a fresh process, interleaved"))
    print()
    print(table(["import", "median ms", "min ms", "ratio"], rows(imports)))
    total = int(counted.split(" ", 1)[0])
    print(f"\nrequests from Session() to the first answered put: {total} {counted.split(' ', 1)[1]}"
          f" (expected {EXPECTED_REQUESTS})")
    if total > EXPECTED_REQUESTS:
        print(f"FAIL: the local cloud's session sent {total} requests up to its first put, more than the "
              f"{EXPECTED_REQUESTS} expected (EXPECTED_REQUESTS in benchmarks/startup.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
