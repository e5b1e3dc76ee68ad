"""``cloudorm serve --state DIR``: tables, buckets, IAM, functions and APIs survive a restart; a SIGKILL during a write
burst loses no answered write and leaves nothing half-written; a damaged, foreign or locked state directory is a
one-line error."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

import cloudorm
from cloudorm.providers.local import persistence
from cloudorm.providers.local.persistence import StateError
from cloudorm.providers.local.server import LocalCloudServer
from cloudorm.testing import ServeProcess

TABLE, BUCKET = "state-table", "state-bucket"


def client(url: str, service: str) -> Any:
    """A plain boto3 client of ``url`` that never retries (a write either answered or not)."""
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5,
                                      read_timeout=30))


def create_table(url: str) -> None:
    client(url, "dynamodb").create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


def handler_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return {'echo': event}\n")
    return out.getvalue()


def serve_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``cloudorm serve --port 0 ARGS`` expected to refuse to start (killed after 60 s if it starts anyway)."""
    return subprocess.run([sys.executable, "-m", "cloudorm.cli", "serve", "--port", "0", *args],
                          capture_output=True, text=True, timeout=60)


def test_tables_buckets_iam_functions_apis_and_clusters_survive_a_restart(tmp_path: Path) -> None:
    state = ["--state", str(tmp_path / "state")]
    with ServeProcess(args=state) as server:
        url = server.url
        create_table(url)
        ddb = client(url, "dynamodb")
        for i in range(20):
            ddb.put_item(TableName=TABLE, Item={"id": {"S": f"item-{i}"}, "n": {"N": str(i)}})
        s3 = client(url, "s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="big", Body=b"x" * 3_000_000)  # past moto's in-memory buffer size
        s3.put_object(Bucket=BUCKET, Key="small", Body=b"hello")
        iam = client(url, "iam")
        iam.create_user(UserName="alice")
        iam.put_user_policy(UserName="alice", PolicyName="read", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
        iam.attach_user_policy(UserName="alice", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        role = iam.create_role(RoleName="runner", AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": []}))["Role"]["Arn"]
        created = client(url, "lambda").create_function(FunctionName="echo", Runtime="python3.12", Role=role,
                                                        Handler="app.handler", Code={"ZipFile": handler_zip()})
        sha = created["CodeSha256"]
        apis = client(url, "apigateway")
        api = apis.create_rest_api(name="shop")["id"]
        root = apis.get_resources(restApiId=api)["items"][0]["id"]
        apis.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
        apis.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
        apis.create_deployment(restApiId=api, stageName="prod")
        cluster = cloudorm.Session("local", endpoint_url=url).Cluster("kept", size=2, runtime=None,
                                                                      progress=False).save()
        cluster.run("echo kept > marker")
    assert (tmp_path / "state" / "snapshot").is_file()

    with ServeProcess(args=state) as server:
        url = server.url
        items = client(url, "dynamodb").scan(TableName=TABLE)["Items"]
        assert sorted(int(item["n"]["N"]) for item in items) == list(range(20))
        s3 = client(url, "s3")
        assert s3.get_object(Bucket=BUCKET, Key="big")["Body"].read() == b"x" * 3_000_000
        assert s3.get_object(Bucket=BUCKET, Key="small")["Body"].read() == b"hello"
        iam = client(url, "iam")
        assert iam.list_user_policies(UserName="alice")["PolicyNames"] == ["read"]
        assert [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"]] \
            == ["ReadOnlyAccess"]
        readonly = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")["Policy"]
        assert readonly["AttachmentCount"] == 1
        function = client(url, "lambda").get_function(FunctionName="echo")["Configuration"]
        assert (function["CodeSha256"], function["Handler"]) == (sha, "app.handler")
        apis = client(url, "apigateway")
        assert apis.get_rest_api(restApiId=api)["name"] == "shop"
        assert [s["stageName"] for s in apis.get_stages(restApiId=api)["item"]] == ["prod"]
        assert apis.get_method(restApiId=api, resourceId=root, httpMethod="GET")["methodIntegration"]["type"] \
            == "MOCK"
        answer = client(url, "lambda").invoke(FunctionName="echo", Payload=b'{"after": "restart"}')
        assert json.loads(answer["Payload"].read()) == {"echo": {"after": "restart"}}
        cluster = cloudorm.Session("local", endpoint_url=url).Cluster("kept").refresh()
        assert [r.stdout for r in cluster.run("cat marker")] == ["kept\n"] * 2  # the nodes' files are kept too
        cluster.delete()


def test_a_sigkill_during_a_write_burst_loses_no_answered_write(tmp_path: Path) -> None:
    state = ["--state", str(tmp_path / "state")]
    answered: dict[str, list[int]] = {"items": [], "objects": []}
    stop = threading.Event()

    def write_items(url: str) -> None:
        ddb = client(url, "dynamodb")
        for i in range(5000):
            if stop.is_set():
                return
            try:
                ddb.put_item(TableName=TABLE, Item={"id": {"S": f"item-{i}"}, "n": {"N": str(i)},
                                                    "pad": {"S": str(i) * 50}})
            except Exception:
                return  # the server is gone: this write may or may not have been kept
            answered["items"].append(i)

    def write_objects(url: str) -> None:
        s3 = client(url, "s3")
        for i in range(5000):
            if stop.is_set():
                return
            try:
                s3.put_object(Bucket=BUCKET, Key=f"object-{i}", Body=str(i).encode() * 1000)
            except Exception:
                return
            answered["objects"].append(i)

    server = ServeProcess(args=state).start()
    try:
        create_table(server.url)
        client(server.url, "s3").create_bucket(Bucket=BUCKET)
        writers = [threading.Thread(target=w, args=(server.url,)) for w in (write_items, write_objects, write_items)]
        for writer in writers:
            writer.start()
        time.sleep(random.uniform(1.0, 2.5))
        server.kill()
    finally:
        stop.set()
        server.stop()
    for writer in writers:
        writer.join(timeout=60)
    assert answered["items"] and answered["objects"], "the burst answered no write before the kill"

    with ServeProcess(args=state) as server:
        items = {}
        for page in client(server.url, "dynamodb").get_paginator("scan").paginate(TableName=TABLE):
            for item in page["Items"]:
                items[item["id"]["S"]] = item
        for item in items.values():  # nothing half-written
            n = item["n"]["N"]
            assert item == {"id": {"S": f"item-{n}"}, "n": {"N": n}, "pad": {"S": n * 50}}
        assert not {f"item-{i}" for i in answered["items"]} - items.keys()
        s3 = client(server.url, "s3")
        keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
                for o in page.get("Contents", [])}
        assert not {f"object-{i}" for i in answered["objects"]} - keys
        for i in [*answered["objects"][-5:], *random.sample(answered["objects"], min(5, len(answered["objects"])))]:
            assert s3.get_object(Bucket=BUCKET, Key=f"object-{i}")["Body"].read() == str(i).encode() * 1000


def test_a_damaged_or_foreign_snapshot_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "snapshot").write_bytes(b"\x00garbage")
    done = serve_cli("--state", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "is not a cloudorm state snapshot" in done.stderr

    good = persistence.encode(b"payload")
    with pytest.raises(StateError, match="is damaged"):
        persistence.decode(good[:-1], tmp_path)
    magic, header, payload = good.split(b"\n", 2)
    other = json.dumps({**json.loads(header), "moto": "4.0.0"}).encode()
    with pytest.raises(StateError, match=r"written by another version .*moto 4\.0\.0"):
        persistence.decode(b"\n".join([magic, other, payload]), tmp_path)
    assert persistence.decode(good, tmp_path) == b"payload"


def test_a_state_directory_serves_one_process_at_a_time(tmp_path: Path) -> None:
    with ServeProcess(args=["--state", str(tmp_path)]) as server:
        done = serve_cli("--state", str(tmp_path))
        assert done.returncode == 2
        assert done.stderr.strip().count("\n") == 0
        assert f"is in use by cloudorm process {server.pid}" in done.stderr


def test_a_process_keeps_its_state_in_one_directory(tmp_path: Path) -> None:
    first = LocalCloudServer(state_dir=tmp_path / "one").start()
    try:
        same = LocalCloudServer(state_dir=tmp_path / "one").start()  # shares it
        same.stop()
        with pytest.raises(StateError, match=r"already keeps its state in .*one"):
            LocalCloudServer(state_dir=tmp_path / "two").start()
        assert persistence.active() is not None
    finally:
        first.stop()
    assert persistence.active() is None
    assert (tmp_path / "one" / "lock").exists() and not (tmp_path / "two").exists()


def test_an_apis_url_and_its_quota_count_survive_a_restart(tmp_path: Path) -> None:
    """The gateway's part keeps its deployments and the requests counted against a quota: a restart neither resets a
    key's quota nor serves routes that were never deployed."""
    from cloudorm.serverless import Quota

    state = ["--state", str(tmp_path / "state")]
    source = tmp_path / "app.py"
    source.write_text("def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n")

    def get(url: str, key: str) -> int:
        request = urllib.request.Request(url, headers={"x-api-key": key})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    with ServeProcess(args=state) as server:
        s = cloudorm.Session("local", endpoint_url=server.url)
        role = s.Role("quoted", service="lambda").save()
        fn = s.Function("quoted", handler="app.handler", source=source, role=role).save()
        api = s.Api("quoted", function=fn, route="/q", key_required=True, quota=Quota(limit=3, period="DAY")).save()
        key = api.create_key("quoted").value
        assert key is not None
        assert [get(api.url_for("/q"), key) for _ in range(2)] == [200, 200]
        path = api.url_for("/q").removeprefix(server.url)
    with ServeProcess(args=state) as server:
        assert [get(server.url + path, key) for _ in range(2)] == [200, 429]  # 2 + 1 = the limit of 3


def test_a_transaction_sent_again_after_a_restart_is_not_applied_twice(tmp_path: Path) -> None:
    """ClientRequestTokens are kept with the tables: a TransactWriteItems whose answer was lost before a restart,
    sent again with its token after it, is answered as applied (DynamoDB's 10-minute idempotency window)."""
    state = ["--state", str(tmp_path / "state")]
    transaction = {"TransactItems": [{"Update": {
        "TableName": TABLE, "Key": {"id": {"S": "counter"}}, "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}}}}], "ClientRequestToken": "once-only-token"}
    with ServeProcess(args=state) as server:
        create_table(server.url)
        client(server.url, "dynamodb").transact_write_items(**transaction)
    with ServeProcess(args=state) as server:
        ddb = client(server.url, "dynamodb")
        ddb.transact_write_items(**transaction)  # the re-send of a commit whose answer was lost
        assert ddb.get_item(TableName=TABLE, Key={"id": {"S": "counter"}})["Item"]["n"] == {"N": "1"}
