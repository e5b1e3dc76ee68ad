"""A quick start (issue 16): ``import cloudorm`` loads no area and no SDK, yet every public name imports as before;
the local cloud's first request makes none of AWS's managed IAM policies, which are made when IAM first reads
them and work through cloudorm, boto3, the AWS CLI and ``--state``."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

import cloudorm
from cloudorm.providers.local import aws_policies, moto_state
from cloudorm.testing import ServeProcess

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def run(code: str) -> Any:
    """What a fresh Python process running ``code`` prints last (JSON)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_import_cloudorm_loads_no_area_and_no_sdk() -> None:
    loaded = run("import json, sys, cloudorm\n"
                 "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('cloudorm.', 'boto', 'moto')))))")
    assert loaded == ["cloudorm.lazy"]


def test_every_public_name_imports_from_the_package_as_from_its_area() -> None:
    for package in (cloudorm, cloudorm.compute, cloudorm.iam, cloudorm.serverless):
        for module, names in package._HOMES.items():
            home = importlib.import_module(module)
            for name in names:
                expected = home if module == f"{package.__name__}.{name}" else getattr(home, name)
                assert getattr(package, name) is expected, (package, name)
        assert sorted(name for names in package._HOMES.values() for name in names) == sorted(package.__all__)
        assert set(package.__all__) <= set(dir(package))
    assert run("import json, cloudorm\nfrom cloudorm import Table, model, errors\n"
               "print(json.dumps([cloudorm.nosql.Table is Table, callable(model), errors.__name__]))") \
        == [True, True, "cloudorm.errors"]
    with pytest.raises(AttributeError, match="no attribute 'Tabel'"):
        cloudorm.Tabel  # noqa: B018
    with pytest.raises(AttributeError):
        cloudorm.__wrapped__  # noqa: B018


def test_the_first_request_makes_no_aws_managed_policy_and_iam_makes_them_when_read() -> None:
    made = run(f"""
import json, boto3, cloudorm
from moto.iam.models import iam_backends
from cloudorm.providers.local.aws_policies import made
def made_now():
    return sorted(p for partitions in iam_backends.values() for p, b in partitions.items() if made(b))
s = cloudorm.Session()
s.Table("startup-first", hash_key=("id", "S")).save().put({{"id": "a"}})
first = made_now()
iam = boto3.client("iam", endpoint_url=s.endpoint_url, region_name="us-east-1", aws_access_key_id="testing",
                   aws_secret_access_key="testing")
iam.create_user(UserName="u")
after_user = made_now()
iam.attach_user_policy(UserName="u", PolicyArn="{READ_ONLY}")
listed = sum(len(page["Policies"]) for page in iam.get_paginator("list_policies").paginate(Scope="AWS"))
print(json.dumps([first, after_user, made_now(), listed, iam.get_policy(PolicyArn="{READ_ONLY}")["Policy"]]
                 , default=str))
""")
    first, after_user, after_attach, listed, policy = made
    assert first == [] and after_user == []
    assert after_attach == ["aws"]  # the partition read, not the five others
    assert listed == len(aws_policies.policies_data()) > 1000
    assert (policy["PolicyName"], policy["AttachmentCount"]) == ("ReadOnlyAccess", 1)


def test_cloudorm_attaches_and_lists_aws_managed_policies() -> None:
    s = cloudorm.Session()
    user = s.User(f"startup-{id(s)}").save()
    try:
        user.attach(READ_ONLY)
        assert READ_ONLY in [p.arn for p in user.policies]
        assert any(p.arn == READ_ONLY for p in s.policies(scope="aws"))
    finally:
        user.delete(cascade=True)


def test_the_aws_cli_attaches_gets_and_lists_aws_managed_policies(aws_cli: Callable[..., Any]) -> None:
    url = cloudorm.Session().endpoint_url
    assert isinstance(url, str)
    aws_cli(url, "iam", "create-user", "--user-name", "startup-cli")
    try:
        aws_cli(url, "iam", "attach-user-policy", "--user-name", "startup-cli", "--policy-arn", READ_ONLY)
        got = json.loads(aws_cli(url, "iam", "get-policy", "--policy-arn", READ_ONLY).stdout)["Policy"]
        assert got["Arn"] == READ_ONLY and got["AttachmentCount"] >= 1
        listed = json.loads(aws_cli(url, "iam", "list-policies", "--scope", "AWS").stdout)["Policies"]
        assert READ_ONLY in [p["Arn"] for p in listed]
    finally:
        aws_cli(url, "iam", "detach-user-policy", "--user-name", "startup-cli", "--policy-arn", READ_ONLY)
        aws_cli(url, "iam", "delete-user", "--user-name", "startup-cli")


def test_a_backend_pickled_before_its_policies_were_made_makes_them_after_loading() -> None:
    from moto.iam.models import IAMBackend

    aws_policies.install()
    backend = IAMBackend("aws", "210987654321")
    assert not aws_policies.made(backend)
    loaded = moto_state.loads(moto_state.dumps(backend))
    assert not aws_policies.made(loaded)
    assert len(loaded.aws_managed_policies) == len(aws_policies.policies_data())
    assert loaded.managed_policies[READ_ONLY].account_id == "210987654321"
    again = moto_state.loads(moto_state.dumps(loaded))
    assert aws_policies.made(again) and READ_ONLY in again.managed_policies


def test_a_state_saved_before_policies_were_made_has_them_after_a_restart(tmp_path: Path) -> None:
    state = ["--state", str(tmp_path / "state")]
    with ServeProcess(args=state) as server:
        client(server.url, "iam").create_user(UserName="bob")
        client(server.url, "dynamodb").list_tables()
    with ServeProcess(args=state) as server:
        iam = client(server.url, "iam")
        iam.attach_user_policy(UserName="bob", PolicyArn=READ_ONLY)
        assert iam.get_policy(PolicyArn=READ_ONLY)["Policy"]["AttachmentCount"] == 1
    with ServeProcess(args=state) as server:
        iam = client(server.url, "iam")
        assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName="bob")["AttachedPolicies"]] \
            == [READ_ONLY]
        assert iam.get_policy(PolicyArn=READ_ONLY)["Policy"]["AttachmentCount"] == 1
        pages = iam.get_paginator("list_policies").paginate(Scope="AWS")
        assert READ_ONLY in [p["Arn"] for page in pages for p in page["Policies"]]
