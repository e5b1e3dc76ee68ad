"""Reading 1,000 and 10,000 nested items: cloudorm vs boto3's Table resource, boto3's client and plain http.client.

Run: ``python benchmarks/hydrate.py`` or ``python benchmarks/hydrate.py --quick``.

A tiny HTTP server (``http.server`` on 127.0.0.1, in a child process so its CPU is not this process's) answers
DynamoDB Queries from ten canned 1,000-item pages (each with its ``x-amz-crc32``, the next page chosen by
``ExclusiveStartKey``). Each client reads 1,000 items (one page) and 10,000 items (ten pages) over a kept-alive
connection, touches every item and keeps them all until the read ends, as a program holding its results does.
Python's garbage collector stays on (it is part of the cost: ``codec.py`` pauses it, this script does not).
Clients run interleaved, round after round; the medians are reported, with this process's CPU time. A last table
gives the memory each kept item costs (tracemalloc). The items are the mixed, nested items of ``codec.py``.
"""

from __future__ import annotations

import base64
import gc
import http.client
import json
import multiprocessing
import statistics
import time
import tracemalloc
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any, ClassVar

import boto3
from _bench import environment, parser, table
from _data import make_items
from boto3.dynamodb.conditions import Key
from botocore.config import Config

import cloudorm
from cloudorm.nosql import codec

PAGE_ITEMS = 1000
PAGES = 10
TARGET_VS_RESOURCE = 5.0  # cloudorm at least 5x faster than boto3's Table resource
TARGET_VS_RAW = 1.5  # and at most 1.5x the time of http.client + json.loads alone
TARGET_GROWTH = 1.3  # cost per item at 10,000 items at most 1.3x that at 1,000
TABLE = "bench_hydrate"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region": "us-east-1"}
ORM, RESOURCE, CLIENT, RAW, RAW_CODEC = ("cloudorm  Table.query -> Items", "boto3 resource  Table.query",
                                         "boto3 client  query (wire dicts)", "http.client + json.loads (wire dicts)",
                                         "http.client + json.loads + codec.decode_item")


def canned_bodies(pages: int) -> list[bytes]:
    """Query response bodies of ``PAGE_ITEMS`` items each (``pk="x"``, ``sk`` numbering every item), each but the
    last with a ``LastEvaluatedKey`` naming its last item."""
    items = make_items(PAGE_ITEMS, seed=11)
    bodies = []
    for page in range(pages):
        wire = [codec.encode_item({"pk": "x", "sk": page * PAGE_ITEMS + i, **item}) for i, item in enumerate(items)]
        body: dict[str, Any] = {"Items": wire, "Count": len(wire), "ScannedCount": len(wire)}
        if page < pages - 1:
            body["LastEvaluatedKey"] = {"pk": {"S": "x"}, "sk": {"N": str((page + 1) * PAGE_ITEMS - 1)}}
        bodies.append(json.dumps(body, default=lambda b: base64.b64encode(b).decode(), separators=(",", ":")).encode())
    return bodies


class _Handler(BaseHTTPRequestHandler):
    """Answers Query with the canned page after ``ExclusiveStartKey`` and anything else with a DynamoDB-style 400."""

    protocol_version = "HTTP/1.1"
    bodies: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.headers.get("X-Amz-Target", "").endswith(".Query"):
            start = request.get("ExclusiveStartKey")
            page = 0 if start is None else (int(start["sk"]["N"]) + 1) // PAGE_ITEMS
            status, (body, crc) = 200, self.bodies[page]
        else:
            body = b'{"__type":"com.amazon.coral.validate#ValidationException","message":"only Query here"}'
            status, crc = 400, str(zlib.crc32(body))
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-crc32", crc)
        self.send_header("x-amzn-RequestId", "canned")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _serve(bodies: list[bytes], conn: Connection) -> None:
    """Child process: serve the canned pages until terminated; sends the port back first."""
    _Handler.bodies = [(body, str(zlib.crc32(body))) for body in bodies]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    conn.send(server.server_address[1])
    server.serve_forever()


Reader = Callable[[int], list[Any]]
"""Reads ``n`` items (n / 1,000 pages), touching each, and returns them all."""


def clients(url: str) -> dict[str, Reader]:
    """One reader per client."""
    session = cloudorm.Session("aws", creds=CREDS, endpoint_url=url)
    orm_table = session.Table(TABLE, hash_key=("pk", "S"), range_key=("sk", "N"))
    # The same botocore settings cloudorm uses for a custom endpoint, so only the response handling differs.
    config = Config(retries={"mode": "standard", "max_attempts": 3}, request_checksum_calculation="when_required",
                    response_checksum_validation="when_required")
    kwargs: dict[str, Any] = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "testing",
                              "aws_secret_access_key": "testing", "config": config}
    resource_table = boto3.resource("dynamodb", **kwargs).Table(TABLE)
    client = boto3.client("dynamodb", **kwargs)
    host, port = url.removeprefix("http://").split(":")
    plain = http.client.HTTPConnection(host, int(port))
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.Query"}
    query = {"TableName": TABLE, "KeyConditionExpression": "#k = :v", "ExpressionAttributeNames": {"#k": "pk"},
             "ExpressionAttributeValues": {":v": {"S": "x"}}}

    def orm(n: int) -> list[Any]:
        items = list(orm_table.query(pk="x").limit(n))
        assert sum(item["sk"] >= 0 for item in items) == n
        return items

    def paged(fetch: Callable[[dict[str, Any]], dict[str, Any]], n: int) -> list[Any]:
        items: list[Any] = []
        start: dict[str, Any] = {}
        while len(items) < n:
            page = fetch(start)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        return items[:n]

    def resource(n: int) -> list[Any]:
        items = paged(lambda start: resource_table.query(KeyConditionExpression=Key("pk").eq("x"), **start), n)
        assert sum(item["sk"] >= 0 for item in items) == n
        return items

    def boto_client(n: int) -> list[Any]:
        items = paged(lambda start: client.query(**query, **start), n)
        assert sum(int(item["sk"]["N"]) >= 0 for item in items) == n
        return items

    def raw_page(start: dict[str, Any]) -> dict[str, Any]:
        plain.request("POST", "/", json.dumps({**query, **start}).encode(), headers)
        page: dict[str, Any] = json.loads(plain.getresponse().read())
        return page

    def plain_json(n: int) -> list[Any]:
        items = paged(raw_page, n)
        assert sum(int(item["sk"]["N"]) >= 0 for item in items) == n
        return items

    def plain_codec(n: int) -> list[Any]:
        items = [codec.decode_item(w) for w in paged(raw_page, n)]
        assert sum(item["sk"] >= 0 for item in items) == n
        return items

    return {ORM: orm, RESOURCE: resource, CLIENT: boto_client, RAW: plain_json, RAW_CODEC: plain_codec}


def _timed(read: Reader, n: int) -> tuple[float, float]:
    """Wall and CPU microseconds per item of one read of ``n`` items (what it kept is dropped after timing). Each read
    starts from a collected heap, so no client pays for collections another one deferred."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    kept = read(n)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del kept
    return wall * 1e6 / n, cpu * 1e6 / n


def memory_per_item(read: Reader) -> float:
    """Bytes each item of a 1,000-item read keeps (tracemalloc, after a collection)."""
    gc.collect()
    tracemalloc.start()
    try:
        kept = read(PAGE_ITEMS)
        gc.collect()
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return size / PAGE_ITEMS


def check_same(url: str, bodies: list[bytes]) -> dict[str, int]:
    """cloudorm's items are the canned ones decoded, one Query request per page; returns the request counts."""
    session = cloudorm.Session("aws", creds=CREDS, endpoint_url=url)
    t = session.Table(TABLE, hash_key=("pk", "S"), range_key=("sk", "N"))
    counts = {}
    for pages in (1, len(bodies)):
        with session.count_requests() as counter:
            items = list(t.query(pk="x").limit(pages * PAGE_ITEMS))
        counts[f"read {pages * PAGE_ITEMS} items"] = counter.total
        assert counter.by_operation == {"dynamodb.Query": pages}, counter
    expected = [codec.decode_item(w) for body in bodies for w in json.loads(body)["Items"]]
    assert [dict(i) for i in items] == expected
    return counts


def main(argv: list[str] | None = None) -> int:
    """Start the canned server, time every client at 1,000 and 10,000 items, print the tables; exit 1 if a
    target was missed (never with ``--quick``)."""
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--rounds", type=int, default=None, help="rounds per client and size (default 7; 1 with --quick)")
    args = p.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 7)
    pages = 2 if args.quick else PAGES
    sizes = (PAGE_ITEMS, pages * PAGE_ITEMS)
    bodies = canned_bodies(pages)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(bodies, child), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{parent.recv()}"
        counts = check_same(url, bodies)
        readers = clients(url)
        for read in readers.values():  # warm-up: connections, botocore's loaders
            read(PAGE_ITEMS if not args.quick else 1)
        samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for _ in range(rounds):
            for n in sizes:
                for name, read in readers.items():
                    samples.setdefault((name, n), []).append(_timed(read, n))
        memory = {name: memory_per_item(readers[name]) for name in (ORM, RESOURCE, RAW, RAW_CODEC)}
    finally:
        server.terminate()
        server.join()
    med = {key: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for key, v in samples.items()}
    small, large = sizes
    rows = []
    for name in readers:
        (w1, c1), (w2, c2) = med[name, small], med[name, large]
        rows.append([name, f"{w1:.1f}", f"{c1:.1f}", f"{w2:.1f}", f"{c2:.1f}", f"{c2 / c1:.2f}x",
                     f"{c1 / med[ORM, small][1]:.2f}x", f"{c2 / med[ORM, large][1]:.2f}x"])
    print(f"hydrate: reads of {small:,} and {large:,} items ({len(bodies[0]) / 1e6:.2f} MB per {PAGE_ITEMS:,}-item "
          f"page), collector on, median of {rounds} interleaved rounds; server in a child process; {environment()}")
    print(table(["client", f"µs/item {small:,} (wall)", "CPU", f"µs/item {large:,} (wall)", "CPU",
                 f"CPU {large:,} vs {small:,}", f"CPU vs cloudorm ({small:,})", f"CPU vs cloudorm ({large:,})"], rows))
    print(table(["client", "bytes per kept item", "vs boto3 resource"],
                [[name, f"{size:,.0f}", f"{size / memory[RESOURCE]:.2f}x"] for name, size in memory.items()]))
    print(table(["cloudorm operation", "requests"], [[k, v] for k, v in counts.items()]))
    cpu = {key: c for key, (_, c) in med.items()}  # client CPU: the wall time also holds the server's share
    checks = []
    for n in sizes:
        checks.append((f"{n:,} items, CPU: cloudorm vs boto3 resource (faster by)", cpu[RESOURCE, n] / cpu[ORM, n],
                       TARGET_VS_RESOURCE, True))
        checks.append((f"{n:,} items, CPU: cloudorm vs http.client + json.loads (time of)", cpu[ORM, n] / cpu[RAW, n],
                       TARGET_VS_RAW, False))
    checks.append((f"CPU per item, {large:,} vs {small:,} items", cpu[ORM, large] / cpu[ORM, small], TARGET_GROWTH,
                   False))
    checks.append(("memory per item vs boto3 resource", memory[ORM] / memory[RESOURCE], 1.0, False))
    missed = False
    for label, value, target, at_least in checks:
        met = value >= target if at_least else value <= target
        missed |= not met
        print(f"{label}: {value:.2f}x (target {'>=' if at_least else '<='} {target}x) -> {'met' if met else 'MISSED'}")
    from _bench import check_requests  # (they must not grow: benchmarks/request_counts.json)
    check_requests("hydrate.py", counts, quick=args.quick)
    return 1 if missed and not args.quick else 0


if __name__ == "__main__":
    raise SystemExit(main())
