"""cloudorm vs boto3 (client and resource) vs PynamoDB against one local DynamoDB server in a separate process.

Run: ``python benchmarks/nosql.py`` or ``python benchmarks/nosql.py --quick``.

The server is ``cloudorm serve`` (moto) in a child process, so this process's CPU time (``time.process_time()``) is
the client libraries' own work: building, validating, signing and sending requests, parsing responses, turning
items into Python values. Wall time includes the server (moto is slow, so wall-clock items/s mostly measure it).
Each library writes and reads the same items in its own table. Workloads: single puts, single gets of the same keys,
a batch write, then a paged Query (1,000 items per page) of half the batch-written items.

Requests are counted per operation: cloudorm with ``Session.count_requests()``; boto3 (client and resource) and
PynamoDB with a ``before-send`` hook on their botocore client (PynamoDB's is ``Model._get_connection().connection
.client``). ``before-send`` fires once per HTTP request, retries included.
"""

from __future__ import annotations

import gc
import os
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from _bench import environment, parser, table
from _data import floats_to_decimal, make_items
from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import TypeSerializer
from botocore.config import Config
from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.models import Model

import cloudorm
from cloudorm.testing import ServeProcess

REGION = "us-east-1"
KEY_ID = SECRET = "testing"  # any keys do for the local server
PAGE = 1000


# ---------------------------------------------------------------------------------------------------------------
# the server


@contextmanager
def local_server() -> Iterator[tuple[str, int]]:
    """``cloudorm serve`` on a free port in a child process; yields its URL and pid, stops it afterwards."""
    with ServeProcess() as server:
        yield server.url, server.pid


def process_cpu(pid: int) -> float:
    """Seconds of CPU a process has used (all its threads), from /proc; 0.0 where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------------------------
# the libraries


def _counting(client: Any, counter: Counter[str]) -> None:
    """Count each HTTP request ``client`` sends, by ``service.Operation``, into ``counter``."""

    def count(event_name: str, **_: Any) -> None:
        counter[event_name.split(".", 1)[1]] += 1

    client.meta.events.register("before-send", count)


def _boto_config() -> Config:
    """The botocore settings cloudorm uses for a custom endpoint, so that only the library code differs."""
    return Config(retries={"mode": "standard", "max_attempts": 3}, request_checksum_calculation="when_required",
                  response_checksum_validation="when_required")


def _create_table(url: str, name: str) -> None:
    """Create a pk (S) / sk (N) on-demand table and wait until it is active (untimed, the same for everyone)."""
    client = boto3.client("dynamodb", endpoint_url=url, region_name=REGION, aws_access_key_id=KEY_ID,
                          aws_secret_access_key=SECRET)
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "N"}])
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


class Library(ABC):
    """One client library doing the four workloads on its own table; ``sent`` counts its requests."""

    name = ""

    def __init__(self, url: str) -> None:
        self.url = url
        self.table_name = f"bench-{re.sub(r'[^a-z0-9]+', '-', self.name.lower())}-{uuid.uuid4().hex[:8]}"
        self.sent: Counter[str] = Counter()

    @abstractmethod
    def put(self, items: list[dict[str, Any]]) -> int:
        """Write each item with its own PutItem."""

    @abstractmethod
    def get(self, keys: list[tuple[str, int]]) -> int:
        """Read each key with its own GetItem; returns how many were found."""

    @abstractmethod
    def batch(self, items: list[dict[str, Any]]) -> int:
        """Write the items with BatchWriteItem (25 per request)."""

    @abstractmethod
    def query(self, pk: str) -> int:
        """Read every item of ``pk`` with Query, 1,000 items per page; returns how many."""

    def close(self) -> None:  # noqa: B027 - only cloudorm has something to close
        """Leave no count open."""


class Cloudorm(Library):
    """cloudorm: ``Table.put/get``, ``batch_write()``, ``query().page_size()``; items are ``Item`` objects."""

    name = "cloudorm"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        creds = {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET, "region": REGION}
        self.session = cloudorm.Session("aws", creds=creds, endpoint_url=url)
        self.table = self.session.Table(self.table_name, hash_key=("pk", "S"), range_key=("sk", "N")).save()
        self._counter = self.session.count_requests().__enter__()
        self.sent = self._counter.by_operation

    def close(self) -> None:
        """Stop counting."""
        self._counter.__exit__(None, None, None)

    def put(self, items: list[dict[str, Any]]) -> int:
        """``table.put(item)`` each."""
        for item in items:
            self.table.put(item)
        return len(items)

    def get(self, keys: list[tuple[str, int]]) -> int:
        """``table.get(pk=..., sk=...)`` each."""
        return sum(self.table.get(pk=pk, sk=sk) is not None for pk, sk in keys)

    def batch(self, items: list[dict[str, Any]]) -> int:
        """One ``batch_write()`` block."""
        with self.table.batch_write() as b:
            for item in items:
                b.put(item)
        return len(items)

    def query(self, pk: str) -> int:
        """Iterate ``table.query(pk=...).page_size(1000)``."""
        return sum(1 for _ in self.table.query(pk=pk).page_size(PAGE))


class BotoClient(Library):
    """boto3's low-level client: items serialized with ``TypeSerializer``; reads return raw wire dicts."""

    name = "boto3 client"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        _create_table(url, self.table_name)
        self.client = boto3.client("dynamodb", endpoint_url=url, region_name=REGION, config=_boto_config(),
                                   aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
        _counting(self.client, self.sent)
        self.serialize = TypeSerializer().serialize

    def _wire(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self.serialize(v) for k, v in item.items()}

    def put(self, items: list[dict[str, Any]]) -> int:
        """``put_item`` each."""
        for item in items:
            self.client.put_item(TableName=self.table_name, Item=self._wire(item))
        return len(items)

    def get(self, keys: list[tuple[str, int]]) -> int:
        """``get_item`` each."""
        found = 0
        for pk, sk in keys:
            r = self.client.get_item(TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"N": str(sk)}})
            found += "Item" in r
        return found

    def batch(self, items: list[dict[str, Any]]) -> int:
        """``batch_write_item`` 25 at a time, resending ``UnprocessedItems`` until none are left."""
        for start in range(0, len(items), 25):
            pending: dict[str, Any] = {self.table_name: [{"PutRequest": {"Item": self._wire(x)}}
                                                         for x in items[start:start + 25]]}
            while pending:
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        return len(items)

    def query(self, pk: str) -> int:
        """``query`` with ``Limit=1000`` following ``LastEvaluatedKey``."""
        params: dict[str, Any] = {"TableName": self.table_name, "KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": {":pk": {"S": pk}}, "Limit": PAGE}
        n = 0
        while True:
            r = self.client.query(**params)
            n += len(r["Items"])
            if "LastEvaluatedKey" not in r:
                return n
            params["ExclusiveStartKey"] = r["LastEvaluatedKey"]


class BotoResource(Library):
    """boto3's ``Table`` resource: Python values in and out (Decimal for every number)."""

    name = "boto3 resource"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        _create_table(url, self.table_name)
        resource = boto3.resource("dynamodb", endpoint_url=url, region_name=REGION, config=_boto_config(),
                                  aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
        _counting(resource.meta.client, self.sent)
        self.table = resource.Table(self.table_name)

    def put(self, items: list[dict[str, Any]]) -> int:
        """``put_item`` each."""
        for item in items:
            self.table.put_item(Item=item)
        return len(items)

    def get(self, keys: list[tuple[str, int]]) -> int:
        """``get_item`` each."""
        return sum("Item" in self.table.get_item(Key={"pk": pk, "sk": sk}) for pk, sk in keys)

    def batch(self, items: list[dict[str, Any]]) -> int:
        """One ``batch_writer()`` block."""
        with self.table.batch_writer() as b:
            for item in items:
                b.put_item(Item=item)
        return len(items)

    def query(self, pk: str) -> int:
        """``query`` with ``Limit=1000`` following ``LastEvaluatedKey``."""
        params: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(pk), "Limit": PAGE}
        n = 0
        while True:
            r = self.table.query(**params)
            n += len(r["Items"])
            if "LastEvaluatedKey" not in r:
                return n
            params["ExclusiveStartKey"] = r["LastEvaluatedKey"]


def _pynamo_model(url: str, table_name: str) -> type[Model]:
    """A PynamoDB model of the benchmark items, bound to ``table_name`` on ``url``."""

    class Order(Model):
        class Meta:
            host = url
            region = REGION

        pk = UnicodeAttribute(hash_key=True)
        sk = NumberAttribute(range_key=True)
        customer = UnicodeAttribute()
        placed = NumberAttribute()
        status = UnicodeAttribute()
        title = UnicodeAttribute()
        total = NumberAttribute()
        weight_kg = NumberAttribute()
        quantity = NumberAttribute()
        gift = BooleanAttribute()
        paid = BooleanAttribute()
        coupon = UnicodeAttribute(null=True)
        tags = UnicodeSetAttribute()
        warehouses = NumberSetAttribute()
        address = MapAttribute()  # type: ignore[no-untyped-call,var-annotated]
        thumbnail = BinaryAttribute(null=True, legacy_encoding=False)
        note = UnicodeAttribute(null=True)
        ratio = NumberAttribute(null=True)
        serial = NumberAttribute(null=True)

    Order.Meta.table_name = table_name  # type: ignore[attr-defined]
    return Order


def _as_float(v: Any) -> Any:
    """PynamoDB numbers are floats (its ``NumberAttribute`` cannot serialize ``Decimal``)."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dict):
        return {k: _as_float(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_as_float(x) for x in v]
    return v


class Pynamo(Library):
    """PynamoDB 6: a declared ``Model``; ``save``, ``get``, ``batch_write()``, ``query(page_size=)``."""

    name = "PynamoDB"

    def __init__(self, url: str) -> None:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", KEY_ID)  # PynamoDB's botocore session reads them from here
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET)
        super().__init__(url)
        _create_table(url, self.table_name)
        self.model = _pynamo_model(url, self.table_name)
        _counting(self.model._get_connection().connection.client, self.sent)

    def put(self, items: list[dict[str, Any]]) -> int:
        """``Model(**item).save()`` each."""
        for item in items:
            self.model(**_as_float(item)).save()
        return len(items)

    def get(self, keys: list[tuple[str, int]]) -> int:
        """``Model.get(pk, sk)`` each."""
        found = 0
        for pk, sk in keys:
            try:
                self.model.get(pk, sk)
                found += 1
            except self.model.DoesNotExist:
                pass
        return found

    def batch(self, items: list[dict[str, Any]]) -> int:
        """One ``batch_write()`` block."""
        with self.model.batch_write() as b:
            for item in items:
                b.save(self.model(**_as_float(item)))
        return len(items)

    def query(self, pk: str) -> int:
        """Iterate ``Model.query(pk, page_size=1000)``."""
        return sum(1 for _ in self.model.query(pk, page_size=PAGE))


LIBRARIES: tuple[type[Library], ...] = (Cloudorm, BotoClient, BotoResource, Pynamo)


# ---------------------------------------------------------------------------------------------------------------
# running


@dataclass
class Result:
    """One library's run of one workload."""

    workload: str
    library: str
    items: int
    wall: float
    cpu: float
    server_cpu: float
    requests: Counter[str]


def measure(workload: str, lib: Library, server_pid: int, fn: Callable[[], int]) -> Result:
    """Run ``fn`` once, timing wall clock, this process's CPU and the server's CPU, and counting requests."""
    before = Counter(lib.sent)
    gc.collect()
    server = process_cpu(server_pid)
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Result(workload, lib.name, n, wall, cpu, process_cpu(server_pid) - server, Counter(lib.sent) - before)


def workload_items(n_single: int, n_batch: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Items for the single puts (keys ``user-<i % 50>``/i) and the batch (half ``batch-0``, half ``batch-1``).

    The order items of ``_data.py`` without their nested ``lines``/``events`` lists (about 30 attribute values
    instead of 45): moto spends ~3 ms of CPU serializing each full item it returns, which alone would push the
    5,000-item query past a minute per library.
    """
    data = [floats_to_decimal({k: v for k, v in x.items() if k not in ("lines", "events")})
            for x in make_items(n_single + n_batch, seed=5)]
    single = [{"pk": f"user-{i % 50}", "sk": i, **x} for i, x in enumerate(data[:n_single])]
    batch = [{"pk": f"batch-{i % 2}", "sk": i, **x} for i, x in enumerate(data[n_single:])]
    return single, batch


def run(url: str, server_pid: int, n_single: int, n_batch: int) -> list[Result]:
    """Every workload, each run by every library in turn (interleaved, so drift hits everyone alike)."""
    single, batch = workload_items(n_single, n_batch)
    keys = [(x["pk"], x["sk"]) for x in single]
    libs = [cls(url) for cls in LIBRARIES]
    warm = [{**x, "pk": "warm", "sk": i} for i, x in enumerate(single[:3])]
    for lib in libs:  # connections, service models and per-operation caches, outside the timings
        lib.put(warm)
        lib.get([("warm", 0)])
        lib.batch(warm)
        lib.query("warm")
    results: list[Result] = []
    workloads: list[tuple[str, Callable[[Library], Callable[[], int]]]] = [
        (f"put x{n_single}", lambda lib: lambda: lib.put(single)),
        (f"get x{n_single}", lambda lib: lambda: lib.get(keys)),
        (f"batch write {n_batch}", lambda lib: lambda: lib.batch(batch)),
        (f"query {n_batch // 2} (pages of {PAGE})", lambda lib: lambda: lib.query("batch-0")),
    ]
    try:
        for name, make in workloads:
            for lib in libs:
                results.append(measure(name, lib, server_pid, make(lib)))
    finally:
        for lib in libs:
            lib.close()
    return results


def _requests_text(requests: Counter[str]) -> str:
    return ", ".join(f"{n} {op.split('.', 1)[1]}" for op, n in sorted(requests.items())) or "-"


def report(results: list[Result]) -> str:
    """The results table, with each library's client CPU relative to cloudorm's on the same workload."""
    ours = {r.workload: r for r in results if r.library == Cloudorm.name}
    rows = []
    for r in results:
        requests = sum(r.requests.values())
        base = ours[r.workload]
        rows.append([r.workload, r.library, r.items, _requests_text(r.requests), r.items / r.wall, r.wall,
                     r.cpu * 1e3, r.cpu * 1e6 / max(requests, 1), r.cpu * 1e6 / max(r.items, 1),
                     f"{r.cpu / base.cpu:.2f}x" if base.cpu else "-", r.server_cpu * 1e3])
    return table(["workload", "library", "items", "requests", "items/s", "wall s", "client CPU ms",
                  "CPU µs/req", "CPU µs/item", "CPU vs cloudorm", "server CPU ms"], rows)


def main(argv: list[str] | None = None) -> int:
    """Start the server, run every workload with every library and print the table."""
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--single", type=int, default=None, help="single puts and gets (default 500; 30 with --quick)")
    p.add_argument("--batch", type=int, default=None, help="batch-written items (default 10,000; 400 quick)")
    args = p.parse_args(argv)
    n_single = args.single or (30 if args.quick else 500)
    n_batch = args.batch or (400 if args.quick else 10_000)
    with local_server() as (url, pid):
        results = run(url, pid, n_single, n_batch)
    print(f"nosql: cloudorm serve (moto) in a child process; client CPU = this process's CPU time; {environment()}")
    print(report(results))
    from _bench import check_requests  # (the cloudorm rows' requests must not grow: benchmarks/request_counts.json)
    check_requests("nosql.py", {f"{r.workload}: {op}": n for r in results if r.library == "cloudorm"
                                for op, n in r.requests.items()}, quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
