"""The local cloud's start and ``import cloudorm`` (issue 16).

Run: ``python benchmarks/startup.py`` or ``python benchmarks/startup.py --quick``.

1. **Start to first put**: from spawning a fresh Python process to its first answered DynamoDB PutItem (a table
   created first), for ``cloudorm.Session()`` (the embedded local cloud) and for boto3 against a bare moto server
   (``moto.server.ThreadedMotoServer`` started in the same process); interleaved, median of ``--rounds``. The
   CPU time the child used by then (all its threads: the server's too) is printed as well: on a shared machine it
   varies much less than the wall clock.
2. **Import**: ``import cloudorm`` and ``import boto3``, each in a fresh process (timed inside it), interleaved,
   median of ``--rounds``.

Ratios are the median of each round's ratio (a round runs both contenders one after the other).

One untimed run of each contender comes first (the OS's file cache; Python's compiled modules, which the children
may write even where ``PYTHONDONTWRITEBYTECODE`` is set, as a user's Python does).

The requests the local cloud's session sends from ``Session()`` to its first answered put are counted (they are
deterministic): more than ``benchmarks/request_counts.json`` records fails the run (exit 1). No time is asserted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import parser, table

"""Requests ``Session()`` sends up to its first answered put: CreateTable, the DescribeTable of ``save()`` waiting
for the table to be ACTIVE, and PutItem. More means the start or the first put costs a round trip it did not."""

CLOUDORM_FIRST_PUT = """
import json, time
import cloudorm
s = cloudorm.Session()
with s.count_requests() as counted:
    table = s.Table("startup", hash_key=("id", "S")).save()
    table.put({"id": "first"})
print(json.dumps([time.process_time(), dict(counted.by_operation)]), flush=True)
"""

BOTO3_FIRST_PUT = """
import json, logging, time
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
print(json.dumps([time.process_time(), {"dynamodb.CreateTable": 1, "dynamodb.PutItem": 1}]), flush=True)
"""

IMPORT = """
import json, time
started, cpu = time.perf_counter(), time.process_time()
import {module}
print(json.dumps([time.perf_counter() - started, time.process_time() - cpu]), flush=True)
"""

ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
"""The children's environment: Python may cache compiled modules, as it does for users (the warm-up run writes
cloudorm's ``__pycache__``; site-packages have theirs)."""

Timing = tuple[float, float]
"""Wall-clock and CPU seconds (every thread of the child process)."""


def first_put(code: str) -> tuple[Timing, dict[str, int]]:
    """Seconds from spawning a process running ``code`` to its first answered put (wall clock; and the CPU the
    child used by then), and the requests it counted."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    seconds = time.perf_counter() - started
    proc.stdout.close()
    if proc.wait(timeout=120) != 0 or not line.startswith("["):
        raise RuntimeError(f"the first put did not happen: {line!r}")
    cpu, counted = json.loads(line)
    return (seconds, cpu), counted


def import_time(module: str) -> Timing:
    """Seconds ``import module`` takes in a fresh process (wall clock, CPU)."""
    out = subprocess.run([sys.executable, "-c", IMPORT.format(module=module)], capture_output=True, text=True,
                         check=True, env=ENV).stdout
    wall, cpu = json.loads(out)
    return wall, cpu


def rows(results: dict[str, list[Timing]]) -> list[list[object]]:
    """Median and min wall ms, median CPU ms, and the median of each round's ratio to the last contender (the
    baseline of the same round: paired ratios cancel much of what other jobs on the machine do to a round)."""
    base = list(results.values())[-1]
    out: list[list[object]] = []
    for name, times in results.items():
        walls, cpus = [t[0] for t in times], [t[1] for t in times]
        ratio = statistics.median(t[0] / b[0] for t, b in zip(times, base, strict=True))
        cpu_ratio = statistics.median(t[1] / b[1] for t, b in zip(times, base, strict=True))
        out.append([name, f"{statistics.median(walls) * 1000:.0f}", f"{min(walls) * 1000:.0f}",
                    f"{ratio:.2f}x", f"{statistics.median(cpus) * 1000:.0f}", f"{cpu_ratio:.2f}x"])
    return out


def main() -> int:
    p = parser(__doc__ or "")
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args()
    rounds = 1 if args.quick else args.rounds
    puts: dict[str, list[Timing]] = {"cloudorm.Session()": [], "boto3 + ThreadedMotoServer": []}
    imports: dict[str, list[Timing]] = {"import cloudorm": [], "import boto3": []}
    counted: dict[str, int] = {}
    first_put(CLOUDORM_FIRST_PUT), first_put(BOTO3_FIRST_PUT)  # warm-up (not timed): caches, compiled modules
    for _ in range(rounds):
        timing, counted = first_put(CLOUDORM_FIRST_PUT)
        puts["cloudorm.Session()"].append(timing)
        puts["boto3 + ThreadedMotoServer"].append(first_put(BOTO3_FIRST_PUT)[0])
        imports["import cloudorm"].append(import_time("cloudorm"))
        imports["import boto3"].append(import_time("boto3"))

    headers = ["median ms", "min ms", "ratio", "CPU ms", "CPU ratio"]
    print(table(["start to first put", *headers], rows(puts),
                f"cloudorm startup: {rounds} rounds, each contender in a fresh process, interleaved"))
    print()
    print(table(["import", *headers], rows(imports)))
    print(f"\nrequests from Session() to the first answered put: {sum(counted.values())} {counted}")
    from _bench import check_requests  # (they must not grow: benchmarks/request_counts.json)
    check_requests("startup.py", counted, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
