"""Policies really decide what a key may do: a moto server with IAM authorization turned on, in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

import cloudorm
from cloudorm import Statement
from cloudorm.errors import AccessDenied, Timeout
from cloudorm.iam import until_propagated
from cloudorm.providers.aws.errors import map_error

SETUP = {"aws_access_key_id": "AKIASETUPKEY00000000", "aws_secret_access_key": "setup-secret-00000000",
         "region": "us-east-1"}


@pytest.fixture(scope="module")
def auth_url() -> Iterator[str]:
    """A moto server in its own process (moto reads INITIAL_NO_AUTH_ACTION_COUNT at import), letting the setup
    through unauthenticated; the test closes that budget with moto's reset-auth call once the setup is done."""
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "1000000"}
    proc = subprocess.Popen([sys.executable, "-m", "cloudorm.cli", "serve", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "cloudorm local cloud on http://127.0.0.1:PORT"
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:"), line
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def require_auth_from_now_on(url: str) -> None:
    """moto's own switch: every request from now on is authenticated and authorized."""
    requests.post(f"{url}/moto-api/reset-auth", data=b"0", timeout=5).raise_for_status()


def test_an_attached_policy_allows_one_bucket_and_denies_the_rest(auth_url: str) -> None:
    started = time.monotonic()
    admin = cloudorm.Session("aws", creds=SETUP, endpoint_url=auth_url)
    s3 = boto3.client("s3", endpoint_url=auth_url, region_name="us-east-1", aws_access_key_id="x",
                      aws_secret_access_key="y")
    allowed, other = f"allowed-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    for bucket in (allowed, other):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="data.txt", Body=b"hello")
    user = admin.User(f"reader-{uuid.uuid4().hex[:8]}").save()
    key = user.create_access_key()
    policy = admin.Policy(f"read-{allowed}", statements=[
        Statement.for_service("s3", ["GetObject"], "Allow", [f"{allowed}/*"])]).save()
    user.attach(policy)
    reader = cloudorm.Session("aws", creds=key.creds(), endpoint_url=auth_url)
    require_auth_from_now_on(auth_url)

    client = reader._provider.clients.client("s3")  # type: ignore[attr-defined]
    assert client.get_object(Bucket=allowed, Key="data.txt")["Body"].read() == b"hello"
    with pytest.raises(AccessDenied) as e:
        try:
            client.get_object(Bucket=other, Key="data.txt")
        except ClientError as ce:
            raise map_error(ce, reader.provider) from None
    assert e.value.code == "AccessDenied" and e.value.status == 403

    # cloudorm's own calls are denied too, and a denial that never clears ends in Timeout keeping it
    with pytest.raises(AccessDenied):
        list(reader.users())
    with pytest.raises(Timeout) as t:
        until_propagated(lambda: list(reader.users()), timeout=0.5, what="listing users")
    assert isinstance(t.value.last_error, AccessDenied)
    assert time.monotonic() - started < 15
