"""Policies really decide what a key may do: a moto server with IAM authorization turned on, in its own process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import requests

import cloudorm
from cloudorm import Statement
from cloudorm.errors import AccessDenied, Timeout
from cloudorm.iam import until_propagated
from cloudorm.testing import ServeProcess

SETUP = {"aws_access_key_id": "AKIASETUPKEY00000000", "aws_secret_access_key": "setup-secret-00000000",
         "region": "us-east-1"}
START_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def auth_url() -> Iterator[str]:
    """A moto server in its own process (moto reads INITIAL_NO_AUTH_ACTION_COUNT at import), letting the setup
    through unauthenticated; the test closes that budget with moto's reset-auth call once the setup is done."""
    with ServeProcess(env={"INITIAL_NO_AUTH_ACTION_COUNT": "1000000"}, start_timeout=START_TIMEOUT) as server:
        yield server.url


def require_auth_from_now_on(url: str) -> None:
    """moto's own switch: every request from now on is authenticated and authorized."""
    requests.post(f"{url}/moto-api/reset-auth", data=b"0", timeout=5).raise_for_status()


def test_an_attached_policy_allows_one_bucket_and_denies_the_rest(auth_url: str) -> None:
    started = time.monotonic()
    setup = cloudorm.Session("aws", creds=SETUP, endpoint_url=auth_url)
    allowed, other = f"allowed-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    for bucket in (allowed, other):
        setup.Bucket(bucket).save().blob("data.txt").upload(b"hello")

    # an administrator (every action allowed) to change policies once authorization is on
    admin_user = setup.User(f"admin-{uuid.uuid4().hex[:8]}").save()
    admin_user.attach(setup.Policy(f"all-{uuid.uuid4().hex[:8]}",
                                   statements=[Statement("Allow", ["*"], ["*"])]).save())
    admin = cloudorm.Session("aws", creds=admin_user.create_access_key().creds(), endpoint_url=auth_url)

    user = setup.User(f"reader-{uuid.uuid4().hex[:8]}").save()
    key = user.create_access_key()
    policy = setup.Policy(f"read-{allowed}", statements=[
        Statement.for_service("s3", ["GetObject"], "Allow", [f"{allowed}/*"])]).save()
    user.attach(policy)
    reader = cloudorm.Session("aws", creds=key.creds(), endpoint_url=auth_url)
    require_auth_from_now_on(auth_url)

    assert reader.Bucket(allowed).blob("data.txt").download() == b"hello"
    with pytest.raises(AccessDenied) as e:
        reader.Bucket(other).blob("data.txt").download()
    assert e.value.status == 403 and e.value.provider == "aws"
    with pytest.raises(AccessDenied):
        setup.User(user.name).refresh()  # the setup's made-up key means nothing now

    # the read was allowed by the policy: detached (by the administrator), the same read is denied
    assert policy.arn is not None
    admin.User(user.name).detach(policy.arn)
    with pytest.raises(AccessDenied):
        reader.Bucket(allowed).blob("data.txt").download()

    # cloudorm's own calls are denied too, and a denial that never clears ends in Timeout keeping it
    with pytest.raises(AccessDenied):
        list(reader.users())
    with pytest.raises(Timeout) as t:
        until_propagated(lambda: list(reader.users()), timeout=0.5, what="listing users")
    assert isinstance(t.value.last_error, AccessDenied)
    assert time.monotonic() - started < 15
