"""Tests for cloudorm.testing.FaultProxy against a real moto server (and a real echo server)."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from botocore.retries.standard import ExponentialBackoff
from moto.server import ThreadedMotoServer

from cloudorm.testing import FaultProxy

CONNECTION_ERRORS = (ConnectionClosedError, EndpointConnectionError)


# -- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def client(service: Literal["dynamodb", "s3"], url: str, max_attempts: int = 10, **config: Any) -> Any:
    cfg = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        **config,
    )
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url=url,
        config=cfg,
    )


def make_table(ddb: Any) -> str:
    name = unique("tbl")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def scan_keys(ddb: Any, table: str) -> set[str]:
    keys: set[str] = set()
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        keys.update(item["pk"]["S"] for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return keys
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# -- pass-through ---------------------------------------------------------------


def test_rate_zero_passes_dynamodb_through(moto_url: str) -> None:
    with FaultProxy(moto_url) as proxy:
        ddb = client("dynamodb", proxy.url)
        table = make_table(ddb)
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        item = ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]
        assert item == {"pk": {"S": "a"}, "n": {"N": "1"}}
        stats = proxy.stats
    assert stats["requests"] == stats["forwarded"] == 3
    assert stats["throttle"] == stats["error500"] == stats["drop"] == 0


def test_rate_zero_passes_s3_multipart_through(moto_url: str) -> None:
    data = bytes(range(256)) * (6 * 1024 * 1024 // 256)  # 6 MiB
    multipart = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    with FaultProxy(moto_url) as proxy:
        s3 = client("s3", proxy.url)
        bucket = unique("bucket")
        s3.create_bucket(Bucket=bucket)
        s3.upload_fileobj(io.BytesIO(data), bucket, "big", Config=multipart)
        assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == len(data)
        assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == data
        stats = proxy.stats
    # create, initiate, 2 x upload part, complete, head, get
    assert stats["requests"] == stats["forwarded"] == 7


# -- each fault kind alone ------------------------------------------------------


def test_latency_delays_every_request(moto_url: str) -> None:
    with FaultProxy(moto_url, latency=0.2) as proxy:
        s3 = client("s3", proxy.url)
        start = time.perf_counter()
        s3.list_buckets()
        assert time.perf_counter() - start >= 0.2
        proxy.configure(latency=0)
        assert proxy.latency == 0.0 and "latency=0.0" in repr(proxy)


def test_throttle_dynamodb(moto_url: str) -> None:
    with FaultProxy(moto_url, rate=1.0, kinds=["throttle"]) as proxy:
        ddb = client("dynamodb", proxy.url, max_attempts=1)
        with pytest.raises(ClientError) as info:
            ddb.list_tables()
        assert info.value.response["Error"]["Code"] == "ThrottlingException"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert proxy.stats["throttle"] == 1
        assert proxy.stats["forwarded"] == 0


def test_throttle_s3(moto_url: str) -> None:
    with FaultProxy(moto_url, rate=1.0, kinds=["throttle"]) as proxy:
        s3 = client("s3", proxy.url, max_attempts=1)
        with pytest.raises(ClientError) as info:
            s3.list_buckets()
        assert info.value.response["Error"]["Code"] == "SlowDown"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert proxy.stats["throttle"] == 1


def test_error500_dynamodb_and_s3(moto_url: str) -> None:
    with FaultProxy(moto_url, rate=1.0, kinds=["error500"]) as proxy:
        ddb = client("dynamodb", proxy.url, max_attempts=1)
        with pytest.raises(ClientError) as info:
            ddb.list_tables()
        assert info.value.response["Error"]["Code"] == "InternalServerError"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        s3 = client("s3", proxy.url, max_attempts=1)
        with pytest.raises(ClientError) as info:
            s3.list_buckets()
        assert info.value.response["Error"]["Code"] == "InternalError"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert proxy.stats["error500"] == 2


def test_drop_is_a_connection_error_and_not_forwarded(moto_url: str) -> None:
    with FaultProxy(moto_url) as proxy:
        ddb = client("dynamodb", proxy.url, max_attempts=1)
        table = make_table(ddb)
        proxy.configure(rate=1.0, kinds=["drop"])
        with pytest.raises(CONNECTION_ERRORS):
            ddb.put_item(TableName=table, Item={"pk": {"S": "dropped"}})
        assert proxy.stats["drop"] == 1
        proxy.configure(rate=0.0)
        assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "dropped"}})


def test_drop_after_forwards_then_drops(moto_url: str) -> None:
    with FaultProxy(moto_url) as proxy:
        ddb = client("dynamodb", proxy.url, max_attempts=1)
        table = make_table(ddb)
        proxy.configure(rate=1.0, kinds=["drop_after"])
        with pytest.raises(CONNECTION_ERRORS):
            ddb.put_item(TableName=table, Item={"pk": {"S": "landed"}})
        assert proxy.stats["drop_after"] == 1
        proxy.configure(rate=0.0)
        assert "Item" in ddb.get_item(TableName=table, Key={"pk": {"S": "landed"}})


# -- retries under faults -------------------------------------------------------


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink botocore's standard-mode back-off sleeps 20x (decisions are unchanged).

    Its 1 s base makes an unlucky item with 5 faults in a row sleep ~15 s on its own.
    """
    original = ExponentialBackoff.delay_amount

    def scaled(self: ExponentialBackoff, context: Any) -> float:
        return float(original(self, context)) / 20

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", scaled)


@pytest.mark.usefixtures("fast_backoff")
def test_retries_survive_faults(moto_url: str) -> None:
    with FaultProxy(moto_url, seed=7) as proxy:
        ddb = client("dynamodb", proxy.url, max_attempts=10, max_pool_connections=25)
        table = make_table(ddb)
        proxy.configure(rate=0.3)

        def put(i: int) -> None:
            ddb.put_item(TableName=table, Item={"pk": {"S": f"item-{i}"}})

        with ThreadPoolExecutor(max_workers=25) as pool:  # many concurrent keep-alive clients
            list(pool.map(put, range(200)))
        proxy.configure(rate=0.0)
        assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 200
        stats = proxy.stats
    assert stats["throttle"] > 0 and stats["error500"] > 0 and stats["drop"] > 0
    assert stats["requests"] == stats["forwarded"] + stats["throttle"] + stats["error500"] + stats["drop"]


# -- partial BatchWriteItem -----------------------------------------------------


def test_unprocessed_items(moto_url: str) -> None:
    with FaultProxy(moto_url, unprocessed_rate=1.0, seed=3) as proxy:
        ddb = client("dynamodb", proxy.url)
        table = make_table(ddb)
        keys = {f"k{i:02d}" for i in range(25)}
        response = ddb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": k}}}} for k in sorted(keys)]}
        )
        unprocessed = response["UnprocessedItems"]
        assert set(unprocessed) == {table}
        held = {wr["PutRequest"]["Item"]["pk"]["S"] for wr in unprocessed[table]}
        assert 0 < len(held) < 25
        assert scan_keys(ddb, table) == keys - held
        stats = proxy.stats
    assert stats["unprocessed_batches"] == 1
    assert stats["unprocessed_items"] == len(held)


# -- HTTP mechanics against a real echo server -----------------------------------


class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        payload = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": [[k.lower(), v] for k, v in self.headers.items()],
                "body": body.decode("latin-1"),
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", "yes")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_MOVE = _echo


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_forwarding_preserves_request_and_decodes_chunked(echo_url: str) -> None:
    upstream_port = int(echo_url.rsplit(":", 1)[1])
    with FaultProxy(echo_url) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        conn.putrequest("MOVE", "/a/b?x=1&y=%20", skip_accept_encoding=True)
        conn.putheader("X-Custom", "v1")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.putheader("Keep-Alive", "timeout=5")
        conn.endheaders()
        for chunk in (b"hello ", b"chunked ", b"world"):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        echoed = json.loads(resp.read())
        assert resp.status == 201 and resp.getheader("X-Echo") == "yes"
        headers = dict(echoed["headers"])
        assert echoed["method"] == "MOVE" and echoed["path"] == "/a/b?x=1&y=%20"
        assert echoed["body"] == "hello chunked world"
        assert headers["content-length"] == "19" and headers["x-custom"] == "v1"
        assert headers["host"] == f"127.0.0.1:{upstream_port}"
        assert "transfer-encoding" not in headers and "keep-alive" not in headers

        # Same keep-alive connection: HEAD gets upstream's Content-Length but no body.
        conn.request("HEAD", "/head")
        resp = conn.getresponse()
        assert resp.read() == b"" and int(resp.getheader("Content-Length") or 0) > 0
        conn.request("DELETE", "/gone", headers={"Connection": "close"})
        resp = conn.getresponse()
        assert json.loads(resp.read())["method"] == "DELETE"
        assert resp.getheader("Connection") == "close"
        conn.close()
        assert proxy.stats["forwarded"] == 3


def test_stop_does_not_hang_on_idle_keepalive(echo_url: str) -> None:
    proxy = FaultProxy(echo_url).start()
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    conn.request("GET", "/")
    conn.getresponse().read()  # connection stays open (keep-alive)
    started = time.monotonic()
    proxy.stop()
    assert time.monotonic() - started < 3
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", proxy.port), timeout=1):
        pass
    conn.close()


def test_argument_validation() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"upstream": "ftp://x"}, "upstream"),
        ({"upstream": "http://h", "rate": 1.5}, "rate"),
        ({"upstream": "http://h", "rate": -0.1}, "rate"),
        ({"upstream": "http://h", "kinds": []}, "kinds"),
        ({"upstream": "http://h", "kinds": ["nope"]}, "kinds"),
        ({"upstream": "http://h", "kinds": "throttle"}, "kinds"),
        ({"upstream": "http://h", "unprocessed_rate": 2}, "unprocessed_rate"),
        ({"upstream": "http://h", "seed": "x"}, "seed"),
        ({"upstream": "http://h", "latency": -1}, "latency"),
        ({"upstream": "http://h", "latency": "1"}, "latency"),
    ]
    for kwargs, word in cases:
        with pytest.raises(ValueError, match=word):
            FaultProxy(**kwargs)
