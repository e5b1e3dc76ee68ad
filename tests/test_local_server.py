"""The local cloud's server, over real HTTP with plain boto3 / http.client: DynamoDB writes are atomic (racing
conditional writers never both win), TransactWriteItems honours ClientRequestToken, and web pages (Origin) and
foreign Host names (DNS rebinding) are refused."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cloudorm.errors import InvalidInput
from cloudorm.providers.local.atomic import Answer, Mismatch, TokenCache
from cloudorm.providers.local.guard import is_loopback
from cloudorm.providers.local.server import LocalCloudServer, start_server
from cloudorm.testing import ServeProcess

PAGE = "http://localhost:3000"


def dynamodb(url: str, origin: str | None = None) -> Any:
    """A plain boto3 DynamoDB client of ``url`` (no retries); with ``origin``, it sends ``Origin`` as a page would."""
    client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing",
                          config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    if origin is not None:
        def add_origin(request: Any, **_: Any) -> None:
            request.headers["Origin"] = origin

        client.meta.events.register("before-sign.dynamodb", add_origin)
    return client


def new_table(client: Any) -> str:
    name = f"srv-{uuid.uuid4().hex[:10]}"
    client.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    return name


def raw(url: str, method: str, path: str = "/", headers: dict[str, str] | None = None,
         body: bytes | None = None, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """One raw request (``host``: the Host header to send); returns status, headers (lowercase names) and body."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=host is not None, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------ atomic DynamoDB writes


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every 10 µs instead of 5 ms, so that a race in the server shows within a few rounds."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


def test_racing_conditional_writers_never_both_win(moto_url: str, fast_switching: None) -> None:
    """Each round, four writers see version r and each try to make it r+1, conditionally, by UpdateItem,
    PutItem and TransactWriteItems. Exactly one may win. (moto alone: 4 to 11 double wins in 40 rounds here.)"""
    rounds, writers = 60, 4
    table = new_table(dynamodb(moto_url))
    dynamodb(moto_url).put_item(TableName=table, Item={"id": {"S": "x"}, "v": {"N": "0"}})
    key = {"id": {"S": "x"}}
    cond = {"ConditionExpression": "v = :old"}

    def write(client: Any, kind: int, r: int) -> None:
        old, new = {":old": {"N": str(r)}}, {"N": str(r + 1)}
        item = {"TableName": table, "Item": {"id": {"S": "x"}, "v": new}, **cond, "ExpressionAttributeValues": old}
        update = {"TableName": table, "Key": key, "UpdateExpression": "SET v = :new", **cond,
                  "ExpressionAttributeValues": {**old, ":new": new}}
        if kind == 0:
            client.update_item(**update)
        elif kind == 1:
            client.put_item(**item)
        elif kind == 2:
            client.transact_write_items(TransactItems=[{"Update": update}])
        else:
            client.transact_write_items(TransactItems=[{"Put": item}])

    wins = [[False] * rounds for _ in range(writers)]
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def writer(kind: int) -> None:
        client = dynamodb(moto_url)
        for r in range(rounds):
            barrier.wait(timeout=30)
            try:
                write(client, kind, r)
                wins[kind][r] = True
            except ClientError as e:
                if e.response["Error"]["Code"] not in ("ConditionalCheckFailedException",
                                                       "TransactionCanceledException"):
                    failures.append(e)
            except BaseException as e:  # pragma: no cover - reported below
                failures.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    winners = [sum(wins[k][r] for k in range(writers)) for r in range(rounds)]
    double = [r for r, n in enumerate(winners) if n > 1]
    assert not double, f"{len(double)} of {rounds} rounds had more than one winner"
    assert winners == [1] * rounds
    stored = dynamodb(moto_url).get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert stored["v"] == {"N": str(rounds)}


def test_reads_and_writes_of_one_item_do_not_collide(moto_url: str, fast_switching: None) -> None:
    """moto changes an item in place while other requests copy or serialise it: without the lock, concurrent
    UpdateItem / GetItem / Scan of one item fail with HTTP 500 ("dictionary changed size during iteration", about
    2 to 6 of 120 requests here)."""
    client = dynamodb(moto_url)
    table = new_table(client)
    client.put_item(TableName=table, Item={"id": {"S": "x"}, **{f"a{i}": {"N": str(i)} for i in range(50)}})
    key = {"id": {"S": "x"}}
    failures: list[str] = []

    def run(kind: str) -> None:
        c = dynamodb(moto_url)
        for i in range(40):
            try:
                if kind.startswith("update"):
                    c.update_item(TableName=table, Key=key, UpdateExpression=f"SET {kind}_{i} = :one",
                                  ExpressionAttributeValues={":one": {"N": "1"}})
                elif kind == "get":
                    c.get_item(TableName=table, Key=key)
                else:
                    c.scan(TableName=table)
            except ClientError as e:
                failures.append(f"{kind}: {e}"[:120])

    threads = [threading.Thread(target=run, args=(k,)) for k in ("update0", "update1", "get", "scan")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, f"{len(failures)} failed requests: {failures[:3]}"
    item = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert len(item) == 1 + 50 + 80


# ---------------------------------------------------------------------------- TransactWriteItems ClientRequestToken


def increment(table: str, token: str, by: int = 1) -> dict[str, Any]:
    return {"TransactItems": [{"Update": {"TableName": table, "Key": {"id": {"S": "c"}},
                                          "UpdateExpression": "ADD n :by",
                                          "ExpressionAttributeValues": {":by": {"N": str(by)}}}}],
            "ClientRequestToken": token}


def count(client: Any, table: str) -> int:
    item = client.get_item(TableName=table, Key={"id": {"S": "c"}}, ConsistentRead=True).get("Item")
    return int(item["n"]["N"]) if item else 0


def test_a_repeated_transaction_token_is_applied_once(moto_url: str) -> None:
    client = dynamodb(moto_url)
    table = new_table(client)
    token = str(uuid.uuid4())
    first = client.transact_write_items(**increment(table, token))
    again = client.transact_write_items(**increment(table, token))
    assert count(client, table) == 1  # moto alone: 2
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert {k: v for k, v in again.items() if k != "ResponseMetadata"} == \
        {k: v for k, v in first.items() if k != "ResponseMetadata"}
    assert again["ResponseMetadata"]["RequestId"] != first["ResponseMetadata"]["RequestId"]
    client.transact_write_items(**increment(table, str(uuid.uuid4())))  # another token: another transaction
    client.transact_write_items(**{k: v for k, v in increment(table, token).items() if k != "ClientRequestToken"})
    assert count(client, table) == 3
    other_region = boto3.client("dynamodb", endpoint_url=moto_url, region_name="eu-west-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")
    other = new_table(other_region)
    other_region.transact_write_items(**increment(other, token))  # tokens are per region
    assert count(other_region, other) == 1


def test_a_token_with_other_parameters_is_a_mismatch(moto_url: str) -> None:
    client = dynamodb(moto_url)
    table = new_table(client)
    token = str(uuid.uuid4())
    client.transact_write_items(**increment(table, token))
    with pytest.raises(ClientError) as err:
        client.transact_write_items(**increment(table, token, by=5))
    assert err.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert "client token" in err.value.response["Error"]["Message"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert count(client, table) == 1


def test_a_refused_transaction_is_not_remembered(moto_url: str) -> None:
    """Only applied transactions are remembered: one cancelled by its condition runs again when re-sent."""
    client = dynamodb(moto_url)
    table = new_table(client)
    token = str(uuid.uuid4())
    guarded = increment(table, token)
    guarded["TransactItems"][0]["Update"]["ConditionExpression"] = "attribute_exists(id)"
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(**guarded)
    client.put_item(TableName=table, Item={"id": {"S": "c"}, "n": {"N": "0"}})
    client.transact_write_items(**guarded)
    client.transact_write_items(**guarded)
    assert count(client, table) == 1


@pytest.mark.parametrize("reset", ["/_cloudorm/reset", "/moto-api/reset"])
def test_a_reset_forgets_the_tokens_of_applied_transactions(reset: str) -> None:
    """After a reset the tables a transaction wrote are gone: the same transaction sent again is applied again, not
    answered as already applied."""
    with ServeProcess() as server:
        client = dynamodb(server.url)
        table = new_table(client)
        token = str(uuid.uuid4())
        client.transact_write_items(**increment(table, token))
        status, _, _ = raw(server.url, "POST", reset)
        assert status == 200
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        client.transact_write_items(**increment(table, token))
        assert count(client, table) == 1  # before: 0, the re-send answered from the forgotten state


def test_token_cache_forgets_after_its_window() -> None:
    now = [0.0]
    cache = TokenCache(window=600.0, clock=lambda: now[0])
    answer = Answer("200 OK", [], b"{}")
    cache.remember(("us-east-1", "t"), "params", answer)
    now[0] = 599.0
    assert cache.lookup(("us-east-1", "t"), "params") == answer
    assert cache.lookup(("eu-west-1", "t"), "params") is None
    with pytest.raises(Mismatch):
        cache.lookup(("us-east-1", "t"), "other params")
    now[0] = 600.5
    assert cache.lookup(("us-east-1", "t"), "other params") is None
    assert len(cache) == 0


# ------------------------------------------------------------------------------- one-action TransactWriteItems

CANCELLED = "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed]"
FAILED = "The conditional request failed"
STORED = {"id": {"S": "x"}, "v": {"N": "1"}}


def one_action(table: str, kind: str, condition: str | None = None, all_old: bool = False,
               key: str = "x") -> dict[str, Any]:
    """A Put / Update / Delete of item ``key`` of ``table`` (``condition``: its ConditionExpression)."""
    action: dict[str, Any] = {"TableName": table}
    if kind == "Put":
        action["Item"] = {"id": {"S": key}, "v": {"N": "2"}}
    else:
        action["Key"] = {"id": {"S": key}}
    if kind == "Update":
        action["UpdateExpression"] = "SET v = :two"
        action["ExpressionAttributeValues"] = {":two": {"N": "2"}}
    if condition is not None:
        action["ConditionExpression"] = condition
    if all_old:
        action["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {kind: action}


def check_elsewhere(table: str) -> dict[str, Any]:
    """A second action that always holds, making a transaction one that moto's own transaction path runs."""
    return {"ConditionCheck": {"TableName": table, "Key": {"id": {"S": "elsewhere"}},
                               "ConditionExpression": "attribute_not_exists(id)"}}


def refusal(client: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        client.transact_write_items(TransactItems=items, ClientRequestToken=str(uuid.uuid4()))
    return {k: v for k, v in err.value.response.items() if k != "ResponseMetadata"}


@pytest.mark.parametrize("kind", ["Put", "Update", "Delete"])
def test_a_one_action_transaction_is_applied_and_answered_as_a_transaction(moto_url: str, kind: str) -> None:
    client = dynamodb(moto_url)
    table = new_table(client)
    client.put_item(TableName=table, Item=STORED)
    answer = client.transact_write_items(TransactItems=[one_action(table, kind, "attribute_exists(id)")],
                                         ClientRequestToken=str(uuid.uuid4()))
    stored = client.get_item(TableName=table, Key={"id": {"S": "x"}}, ConsistentRead=True).get("Item")
    assert stored == (None if kind == "Delete" else {"id": {"S": "x"}, "v": {"N": "2"}})
    two = client.transact_write_items(TransactItems=[one_action(table, "Put", key="y"), check_elsewhere(table)])
    assert {k: v for k, v in answer.items() if k != "ResponseMetadata"} == \
        {k: v for k, v in two.items() if k != "ResponseMetadata"}  # what moto's transaction path answers


@pytest.mark.parametrize("all_old", [False, True])
@pytest.mark.parametrize("kind", ["Put", "Update", "Delete"])
def test_a_one_action_transaction_whose_condition_fails_is_cancelled(moto_url: str, kind: str,
                                                                     all_old: bool) -> None:
    client = dynamodb(moto_url)
    table = new_table(client)
    client.put_item(TableName=table, Item=STORED)
    answer = refusal(client, [one_action(table, kind, "attribute_not_exists(id)", all_old)])
    reason = {"Code": "ConditionalCheckFailed", "Message": FAILED, **({"Item": STORED} if all_old else {})}
    assert answer == {"Error": {"Code": "TransactionCanceledException", "Message": CANCELLED},
                      "CancellationReasons": [reason], "Message": CANCELLED}
    assert client.get_item(TableName=table, Key={"id": {"S": "x"}}, ConsistentRead=True)["Item"] == STORED
    missing = refusal(client, [one_action(table, kind, "attribute_exists(id)", all_old, key="none")])
    assert missing["CancellationReasons"] == [{"Code": "ConditionalCheckFailed", "Message": FAILED}]  # no Item
    assert client.scan(TableName=table)["Count"] == 1


@pytest.mark.parametrize("kind", ["Put", "Update", "Delete"])
def test_one_action_transactions_are_refused_as_before(moto_url: str, kind: str) -> None:
    """A missing table, a bad expression: the answer moto's transaction path gives (checked on a two-action
    transaction, whose refusal comes from the one bad action, or spelled out where moto names the action)."""
    client = dynamodb(moto_url)
    table = new_table(client)
    gone = refusal(client, [one_action("no-such-table", kind)])
    if kind == "Delete":  # moto's transaction checks a Delete's table only when it applies it
        assert gone["Error"]["Code"] == "TransactionCanceledException"
        assert [r["Code"] for r in gone["CancellationReasons"]] == ["ResourceNotFoundException"]
    else:
        assert gone == refusal(client, [one_action("no-such-table", kind), check_elsewhere(table)])
        assert gone["Error"] == {"Code": "ResourceNotFoundException", "Message": "Requested resource not found"}
    bad = one_action(table, kind, "attribute_exists(id)")
    if kind == "Update":
        bad["Update"]["UpdateExpression"] = "SET v = = :two"
    else:
        bad[kind]["ExpressionAttributeNames"] = {"#unused": "v"}
    assert refusal(client, [bad]) == refusal(client, [bad, check_elsewhere(table)])
    assert refusal(client, [bad])["Error"]["Code"] == "ValidationException"
    unparsable = one_action(table, kind, "attribute_exists(id) AND")  # moto answers HTTP 500 (its parser raises)
    assert refusal(client, [unparsable]) == refusal(client, [unparsable, check_elsewhere(table)])
    assert client.scan(TableName=table)["Count"] == 0


def test_an_update_refused_halfway_leaves_the_item_as_it_was(moto_url: str) -> None:
    """moto's UpdateItem applies an expression's actions one by one and stops at one that makes the item too big:
    the item is put back before the refusal is answered, as moto's transaction rolls back."""
    client = dynamodb(moto_url)
    table = new_table(client)
    big = {"id": {"S": "x"}, "v": {"N": "1"}, "big": {"S": "a" * 300_000}}
    client.put_item(TableName=table, Item=big)
    values = {":two": {"N": "2"}, ":more": {"S": "b" * 150_000}}
    for key, expression in (("x", "SET v = :two, more = :more"), ("new", "SET v = :two, a = :more, b = :more, "
                                                                           "c = :more")):
        update = {"TableName": table, "Key": {"id": {"S": key}}, "UpdateExpression": expression,
                  "ExpressionAttributeValues": values}
        answer = refusal(client, [{"Update": update}])
        assert answer["Error"] == {"Code": "ValidationException",
                                   "Message": "Item size to update has exceeded the maximum allowed size"}
    assert client.get_item(TableName=table, Key={"id": {"S": "x"}}, ConsistentRead=True)["Item"] == big
    assert "Item" not in client.get_item(TableName=table, Key={"id": {"S": "new"}}, ConsistentRead=True)


def test_an_update_of_an_empty_key_is_refused_before_its_condition(moto_url: str) -> None:
    client = dynamodb(moto_url)
    table = new_table(client)
    update = one_action(table, "Update", "attribute_exists(id)", key="")
    answer = refusal(client, [update])
    assert answer["Error"]["Code"] == "ValidationException"  # UpdateItem alone: ConditionalCheckFailed
    assert answer == refusal(client, [update, check_elsewhere(table)])


def test_a_repeated_one_action_token_answers_the_first_time(moto_url: str) -> None:
    """A conditional Put sent again with its token is answered as applied, not cancelled by its own first write."""
    client = dynamodb(moto_url)
    table = new_table(client)
    token = str(uuid.uuid4())
    put = {"TransactItems": [one_action(table, "Put", "attribute_not_exists(id)")], "ClientRequestToken": token}
    first = client.transact_write_items(**put)
    again = client.transact_write_items(**put)
    assert {k: v for k, v in again.items() if k != "ResponseMetadata"} == \
        {k: v for k, v in first.items() if k != "ResponseMetadata"}
    with pytest.raises(ClientError, match="TransactionCanceled"):  # a new token: the condition now fails
        client.transact_write_items(**{**put, "ClientRequestToken": str(uuid.uuid4())})


def test_a_one_action_transaction_does_not_copy_the_table(moto_url: str) -> None:
    """moto's transaction copies each table it touches (to roll back): on 4,000 items that is several times an
    UpdateItem. A one-action transaction costs about what the UpdateItem costs."""
    client = dynamodb(moto_url)
    table = new_table(client)
    for start in range(0, 4000, 25):
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"id": {"S": f"r{i}"}}}}
                                                      for i in range(start, start + 25)]})
    update = one_action(table, "Update")["Update"]

    def fastest(call: Callable[[], Any]) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return min(times)

    single = fastest(lambda: client.update_item(**update))
    transaction = fastest(lambda: client.transact_write_items(TransactItems=[{"Update": update}]))
    assert transaction < 4 * single + 0.005, (transaction, single)


# ------------------------------------------------------------------------------------------------- browsers, Host


@pytest.fixture(scope="module")
def page_server() -> Iterator[str]:
    """A local cloud server that lets pages of PAGE use it."""
    server, url = start_server(allow_origins=[PAGE + "/"], allow_hosts=["devbox.lan"])
    yield url
    server.stop()


def preflight(url: str, origin: str) -> tuple[int, dict[str, str], bytes]:
    return raw(url, "OPTIONS", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                         "Access-Control-Request-Headers": "authorization,x-amz-target"})


def test_a_cross_origin_scan_is_refused(moto_url: str) -> None:
    client = dynamodb(moto_url)
    table = new_table(client)
    client.put_item(TableName=table, Item={"id": {"S": "secret-row"}})
    with pytest.raises(ClientError) as err:
        dynamodb(moto_url, origin="https://evil.example").scan(TableName=table)
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert "refuses requests from web pages" in response["Error"]["Message"]
    assert "--allow-origin" in response["Error"]["Message"]
    assert not any(h.startswith("access-control-") for h in response["ResponseMetadata"]["HTTPHeaders"])
    assert "secret-row" not in json.dumps(response)
    with pytest.raises(ClientError, match="refuses requests from web pages"):  # writes too
        dynamodb(moto_url, origin="null").put_item(TableName=table, Item={"id": {"S": "from-a-page"}})
    assert client.scan(TableName=table)["Count"] == 1


def test_a_cors_preflight_is_refused(moto_url: str) -> None:
    status, headers, body = preflight(moto_url, "https://evil.example")
    assert status == 403
    assert not any(h.startswith("access-control-") for h in headers)
    assert b"refuses requests from web pages" in body
    status, headers, _ = raw(moto_url, "GET", headers={"Origin": "https://evil.example"})  # S3 ListBuckets
    assert status == 403 and "access-control-allow-origin" not in headers


def test_an_allowed_origin_works(page_server: str) -> None:
    client = dynamodb(page_server, origin=PAGE)
    table = new_table(client)
    client.put_item(TableName=table, Item={"id": {"S": "row"}})
    answer = client.scan(TableName=table)
    assert answer["Count"] == 1
    assert answer["ResponseMetadata"]["HTTPHeaders"]["access-control-allow-origin"] == PAGE
    status, headers, _ = preflight(page_server, PAGE)
    assert status == 200 and headers["access-control-allow-origin"] == PAGE
    assert preflight(page_server, "http://localhost:3001")[0] == 403  # only that origin


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "localhost.evil.example:{port}",
                                  "127.0.0.1.nip.io:{port}", "0.0.0.0:{port}", "192.168.1.5:{port}", ""])
def test_a_foreign_host_is_refused(moto_url: str, host: str) -> None:
    port = urllib.parse.urlsplit(moto_url).port
    status, headers, body = raw(moto_url, "GET", host=host.format(port=port))
    assert status == 403
    assert b"addressed to this machine" in body and b"--allow-host" in body
    assert not any(h.startswith("access-control-") for h in headers)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}",
                                  "127.1.2.3:{port}", "localhost"])
def test_loopback_hosts_are_answered(moto_url: str, host: str) -> None:
    port = urllib.parse.urlsplit(moto_url).port
    status, _, body = raw(moto_url, "GET", host=host.format(port=port))  # S3 ListBuckets
    assert status == 200, body
    assert b"ListAllMyBucketsResult" in body


def test_virtual_hosted_s3_on_localhost_is_answered(moto_url: str) -> None:
    """A presigned URL of a virtual-hosted style client (``Host: bucket.localhost:PORT``) works."""
    port = urllib.parse.urlsplit(moto_url).port
    s3 = boto3.client("s3", endpoint_url=f"http://localhost:{port}", region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing",
                      config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
    bucket = f"vh-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    url = urllib.parse.urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "k"}))
    assert url.netloc == f"{bucket}.localhost:{port}"
    status, _, body = raw(moto_url, "PUT", f"{url.path}?{url.query}", host=url.netloc, body=b"hi")
    assert status == 200, body
    url = urllib.parse.urlsplit(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}))
    assert raw(moto_url, "GET", f"{url.path}?{url.query}", host=url.netloc)[2] == b"hi"


def test_allowed_hosts_are_answered(page_server: str) -> None:
    status, _, body = raw(page_server, "GET", host="DevBox.lan:4566")
    assert status != 403 and b"addressed to this machine" not in body  # (moto: no bucket "devbox")
    assert raw(page_server, "GET", host="otherbox.lan:4566")[0] == 403


def test_bad_options_are_refused_before_serving() -> None:
    for bad in (["localhost:3000"], ["http://localhost:3000/app"], [""], [None]):
        with pytest.raises(InvalidInput, match="allow_origins"):
            LocalCloudServer(allow_origins=bad)  # type: ignore[arg-type]
    for bad_host in (["http://devbox"], ["a b"], ["x/y"]):
        with pytest.raises(InvalidInput, match="allow_hosts"):
            LocalCloudServer(allow_hosts=bad_host)


def test_loopback_names() -> None:
    assert all(map(is_loopback, ["localhost", "a.b.localhost", "localhost.", "127.0.0.1", "127.9.9.9", "::1",
                                 "[::1]:80"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "localhost.example", "evil.example", ""]))


# ---------------------------------------------------------------------------------------------------------- the CLI


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloudorm.cli", "serve", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_cli_refuses_a_host_of_another_machine_in_one_line() -> None:
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: refused at once, before any warning about the host
    done = run_cli("--host", "192.0.2.1", "--port", "0")
    assert done.returncode == 2
    assert done.stderr == "cloudorm serve: 192.0.2.1 is not an address of this machine\n"


def test_cli_refuses_a_bad_origin() -> None:
    done = run_cli("--port", "0", "--allow-origin", "localhost:3000")
    assert done.returncode == 2
    assert "allow_origins" in done.stderr and "Traceback" not in done.stderr


def test_cli_allow_origin() -> None:
    with ServeProcess(args=["--allow-origin", PAGE, "--allow-origin", "https://app.example"]) as server:
        for origin in (PAGE, "https://app.example"):
            status, headers, _ = preflight(server.url, origin)
            assert status == 200 and headers["access-control-allow-origin"] == origin
        assert preflight(server.url, "https://evil.example")[0] == 403
        assert raw(server.url, "GET", host="evil.example")[0] == 403



def test_no_cors_header_without_an_allowed_origin(moto_url: str) -> None:
    """moto alone answers every request with ``Access-Control-Allow-Origin: *``; the local cloud does not."""
    status, headers, _ = raw(moto_url, "GET")
    assert status == 200
    assert not any(h.startswith("access-control-") for h in headers)
