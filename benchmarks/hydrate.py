"""Hydrating 1,000-item Query pages: cloudorm vs boto3's Table resource, boto3's client and plain http.client.

Run: ``python benchmarks/hydrate.py`` or ``python benchmarks/hydrate.py --quick``.

A tiny HTTP server (``http.server`` on 127.0.0.1, in a child process so its CPU is not this process's) answers
every DynamoDB Query with the same canned 1,000-item body (with its ``x-amz-crc32``). Each client runs the same
Query N times over a kept-alive connection and walks every item; wall time and this process's CPU time per page
are reported. The items are the mixed, nested items of ``benchmarks/codec.py``; nothing else differs between the
clients, so the differences are client-side work: signing, parsing and turning the body into Python values.
"""

from __future__ import annotations

import base64
import http.client
import json
import multiprocessing
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

import boto3
from _bench import environment, parser, table, verdict
from _data import make_items
from boto3.dynamodb.conditions import Key
from botocore.config import Config

import cloudorm
from cloudorm.nosql import codec

PAGE_ITEMS = 1000
TARGET_VS_RESOURCE = 2.0
TABLE = "bench_hydrate"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region": "us-east-1"}


def canned_body(n: int) -> bytes:
    """A Query response body holding ``n`` items with ``pk="x"`` and ``sk`` 0..n-1, and no next page."""
    items = make_items(n, seed=11)
    wire = []
    for i, item in enumerate(items):
        item = {"pk": "x", "sk": i, **item}
        wire.append(codec.encode_item(item))
    body = {"Items": wire, "Count": n, "ScannedCount": n}
    return json.dumps(body, default=lambda b: base64.b64encode(b).decode(), separators=(",", ":")).encode()


class _Handler(BaseHTTPRequestHandler):
    """Answers Query with the canned body and anything else with a DynamoDB-style 400."""

    protocol_version = "HTTP/1.1"
    body: bytes = b""
    crc: str = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("X-Amz-Target", "").endswith(".Query"):
            status, body, crc = 200, self.body, self.crc
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


def _serve(body: bytes, conn: Connection) -> None:
    """Child process: serve the canned body until terminated; sends the port back first."""
    _Handler.body, _Handler.crc = body, str(zlib.crc32(body))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    conn.send(server.server_address[1])
    server.serve_forever()


def _timed(fn: Callable[[], int], pages: int, warmup: int) -> tuple[float, float]:
    """Wall and CPU milliseconds per call of ``fn`` (each call one page), after ``warmup`` calls."""
    for _ in range(warmup):
        assert fn() == PAGE_ITEMS
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(pages):
        fn()
    return (time.perf_counter() - wall) * 1e3 / pages, (time.process_time() - cpu) * 1e3 / pages


def clients(url: str, request_body: bytes) -> dict[str, Callable[[], int]]:
    """One page fetch per client, each returning how many items it walked."""
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

    def orm() -> int:
        n = 0
        for item in orm_table.query(pk="x"):
            n += item["sk"] >= 0
        return n

    def resource() -> int:
        n = 0
        for item in resource_table.query(KeyConditionExpression=Key("pk").eq("x"))["Items"]:
            n += item["sk"] >= 0
        return n

    def boto_client() -> int:
        n = 0
        for item in client.query(TableName=TABLE, KeyConditionExpression="#k = :v",
                                 ExpressionAttributeNames={"#k": "pk"},
                                 ExpressionAttributeValues={":v": {"S": "x"}})["Items"]:
            n += int(item["sk"]["N"]) >= 0
        return n

    def plain_json() -> int:
        plain.request("POST", "/", request_body, headers)
        items = json.loads(plain.getresponse().read())["Items"]
        return sum(int(item["sk"]["N"]) >= 0 for item in items)

    def plain_codec() -> int:
        plain.request("POST", "/", request_body, headers)
        items = json.loads(plain.getresponse().read())["Items"]
        return sum(codec.decode_item(item)["sk"] >= 0 for item in items)

    return {
        "cloudorm  Table.query -> Items": orm,
        "boto3 resource  Table.query": resource,
        "boto3 client  query (wire dicts)": boto_client,
        "http.client + json.loads (wire dicts)": plain_json,
        "http.client + json.loads + codec.decode_item": plain_codec,
    }


def check_same(url: str, body: bytes) -> None:
    """cloudorm's items are the canned ones decoded, fetched with exactly one Query request."""
    session = cloudorm.Session("aws", creds=CREDS, endpoint_url=url)
    t = session.Table(TABLE, hash_key=("pk", "S"), range_key=("sk", "N"))
    with session.count_requests() as counter:
        items = list(t.query(pk="x"))
    assert counter.by_operation == {"dynamodb.Query": 1}, counter
    expected = [codec.decode_item(w) for w in json.loads(body)["Items"]]
    assert [dict(i) for i in items] == expected


def main(argv: list[str] | None = None) -> int:
    """Start the canned server, time every client, print the table; exit 1 if the target was missed."""
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--pages", type=int, default=None, help="timed pages per client (default 40; 3 with --quick)")
    args = p.parse_args(argv)
    pages = args.pages or (3 if args.quick else 40)
    warmup = 1 if args.quick else 3
    body = canned_body(PAGE_ITEMS)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(body, child), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{parent.recv()}"
        check_same(url, body)
        request_body = json.dumps({"TableName": TABLE, "KeyConditionExpression": "#k = :v",
                                   "ExpressionAttributeNames": {"#k": "pk"},
                                   "ExpressionAttributeValues": {":v": {"S": "x"}}}).encode()
        results = {name: _timed(fn, pages, warmup) for name, fn in clients(url, request_body).items()}
    finally:
        server.terminate()
        server.join()
    orm_wall, orm_cpu = results["cloudorm  Table.query -> Items"]
    rows = [[name, wall, cpu, f"{wall / orm_wall:.2f}x", f"{cpu / orm_cpu:.2f}x"]
            for name, (wall, cpu) in results.items()]
    res_wall = results["boto3 resource  Table.query"][0]
    print(f"hydrate: {PAGE_ITEMS:,}-item Query page ({len(body) / 1e6:.2f} MB body), {pages} pages per client after "
          f"{warmup} warm-up; server in a child process; {environment()}")
    print(table(["client", "ms/page (wall)", "CPU ms/page (client)", "wall vs cloudorm", "CPU vs cloudorm"], rows))
    speedup = res_wall / orm_wall
    print(f"cloudorm vs boto3 resource: {speedup:.2f}x faster (wall) -> {verdict(speedup, TARGET_VS_RESOURCE)}")
    return 1 if speedup < TARGET_VS_RESOURCE and not args.quick else 0


if __name__ == "__main__":
    raise SystemExit(main())
