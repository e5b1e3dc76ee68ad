"""IAM when an answer is lost: a fault proxy in front of a moto server forwards the request, IAM applies it, and the
connection closes before the answer comes back. No call may then leave a duplicate or an orphan behind, or report
an error for what was done."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import cloudorm
from cloudorm.errors import AlreadyExists, CloudError
from cloudorm.testing import FaultProxy
from tests.conftest import FAKE_CREDS
from tests.test_iam import _local_cloud_first, s3_read, uid  # noqa: F401 (an autouse fixture: the local cloud first)


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    """A fault proxy in front of the tests' moto server; it loses nothing until told to."""
    with FaultProxy(moto_url, rate=0.0, kinds=("drop_after",)) as p:
        yield p


@pytest.fixture
def direct(moto_url: str) -> cloudorm.Session:
    """A session straight to moto: what IAM really holds."""
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)


@pytest.fixture
def through(proxy: FaultProxy) -> cloudorm.Session:
    """A session whose requests go through the proxy."""
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url)


@contextmanager
def losing(s: cloudorm.Session, proxy: FaultProxy, *operations: str) -> Iterator[None]:
    """Lose the answers to the next requests of these IAM operations that ``s`` sends (an operation named twice:
    its next two), and to no other request."""
    clients = [s._provider.clients.client(service) for service in ("iam", "sts")]  # type: ignore[attr-defined]
    left = list(operations)
    before = proxy.stats["drop_after"]

    def steer(event_name: str, **_: Any) -> None:  # before each request: tell the proxy whether to lose its answer
        operation = event_name.rsplit(".", 1)[-1]
        lose = event_name.startswith("before-send.iam.") and operation in left
        if lose:
            left.remove(operation)
        proxy.configure(rate=1.0 if lose else 0.0)

    for client in clients:
        client.meta.events.register("before-send", steer, unique_id="test-losing")
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("before-send", unique_id="test-losing")
        proxy.configure(rate=0.0)
    assert not left and proxy.stats["drop_after"] - before == len(operations)


# ---------------------------------------------------------------------------------------------- access keys


@pytest.mark.parametrize("lost", [1, 2])
def test_a_lost_create_access_key_leaves_one_key_whose_secret_is_known(
        proxy: FaultProxy, through: cloudorm.Session, direct: cloudorm.Session, lost: int) -> None:
    # before: the orphan kept its secret to itself; twice lost, the third send met LimitExceeded
    user = direct.User(uid("lk")).save()
    with losing(through, proxy, *["CreateAccessKey"] * lost):
        key = through.User(user.name).create_access_key()
    assert [k.id for k in user.access_keys] == [key.id]
    assert direct.iam.caller((key.id, key.secret))["arn"].endswith(f"user/{user.name}")
    user.delete(cascade=True)


def test_a_create_access_key_never_answered_is_an_error_and_leaves_no_key(
        proxy: FaultProxy, moto_url: str, direct: cloudorm.Session) -> None:
    user = direct.User(uid("lk")).save()
    through = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=2)
    with losing(through, proxy, "CreateAccessKey", "CreateAccessKey"), pytest.raises(CloudError) as e:
        through.User(user.name).create_access_key()
    assert e.value.operation == "CreateAccessKey"
    assert user.access_keys == []
    user.delete()


def test_a_lost_delete_access_key(proxy: FaultProxy, through: cloudorm.Session, direct: cloudorm.Session) -> None:
    user = direct.User(uid("lk")).save()
    key = user.create_access_key()
    with losing(through, proxy, "DeleteAccessKey"):
        through.User(user.name).access_keys[0].delete()  # before: NotFound
    assert user.access_keys == [] and key.id
    user.delete()


# ---------------------------------------------------------------------------------------------- creates and deletes


def _make(s: cloudorm.Session, kind: str, name: str) -> Any:
    if kind == "User":
        return s.User(name, path="/lost/", tags={"team": "data"})
    if kind == "Group":
        return s.Group(name, path="/lost/")
    if kind == "Role":
        return s.Role(name, service="lambda", description="lost answers", max_session=7200)
    return s.Policy(name, statements=s3_read("lost"), description="lost answers")


@pytest.mark.parametrize("kind", ["User", "Group", "Role", "Policy"])
def test_a_lost_create_answer_is_no_already_exists(proxy: FaultProxy, through: cloudorm.Session,
                                                    direct: cloudorm.Session, kind: str) -> None:
    entity = _make(through, kind, uid(kind.lower()))
    with losing(through, proxy, f"Create{kind}"):
        entity.save()  # before: AlreadyExists (botocore sent it again)
    assert cloudorm.state(entity) == "saved" and entity.arn and entity.id
    same = _make(direct, kind, entity.name).refresh()
    assert same.arn == entity.arn
    with losing(through, proxy, f"Delete{kind}"):
        entity.delete()  # before: NotFound
    assert cloudorm.state(entity) == "deleted" and not same.exists()


def test_a_lost_create_answer_over_someone_elses_entity(
        proxy: FaultProxy, through: cloudorm.Session, direct: cloudorm.Session) -> None:
    theirs = direct.User(uid("theirs"), path="/theirs/").save()
    with losing(through, proxy, "CreateUser"), pytest.raises(AlreadyExists):
        through.User(theirs.name, path="/mine/").save(exists_ok=False)
    assert theirs.refresh().path == "/theirs/"
    with losing(through, proxy, "CreateUser"):
        mine = through.User(theirs.name, path="/mine/").save()  # adopted and reconciled, as without the loss
    assert cloudorm.state(mine) == "saved" and theirs.refresh().path == "/mine/"
    theirs.delete()


def test_a_lost_rename_answer(proxy: FaultProxy, through: cloudorm.Session, direct: cloudorm.Session) -> None:
    user = through.User(uid("old")).save()
    user.name, user.path = uid("new"), "/moved/"
    with losing(through, proxy, "UpdateUser"):
        user.save()  # before: NotFound (the old name was gone when it was sent again)
    assert direct.User(user.name).refresh().path == "/moved/"
    user.delete()


# ---------------------------------------------------------------------------------------------- policies


def test_a_lost_policy_update_makes_one_version(proxy: FaultProxy, through: cloudorm.Session,
                                                direct: cloudorm.Session) -> None:
    policy = through.Policy(uid("pol"), statements=s3_read("v1")).save()
    policy.statements = s3_read("v2")
    with losing(through, proxy, "CreatePolicyVersion"):
        policy.save()  # before: a third version
    assert policy.versions() == ["v1", "v2"] and policy.default_version == "v2"
    assert direct.Policy(policy.arn).refresh().statements == s3_read("v2")  # type: ignore[arg-type]
    policy.delete(cascade=True)


def test_a_policy_at_five_versions_loses_only_its_oldest(proxy: FaultProxy, through: cloudorm.Session) -> None:
    policy = through.Policy(uid("pol"), statements=s3_read("b1")).save()
    for n in range(2, 6):
        policy.statements = s3_read(f"b{n}")
        policy.save()
    policy.statements = s3_read("b6")
    with losing(through, proxy, "DeletePolicyVersion", "CreatePolicyVersion"):
        policy.save()  # before: NotFound (the resent delete), or a second delete and a LimitExceeded
    assert policy.versions() == ["v2", "v3", "v4", "v5", "v6"] and policy.default_version == "v6"
    assert policy.refresh().statements == s3_read("b6")
    policy.delete(cascade=True)


# ---------------------------------------------------------------------------------------------- attachments, groups


def test_lost_attach_detach_and_membership_answers(proxy: FaultProxy, through: cloudorm.Session,
                                                   direct: cloudorm.Session) -> None:
    user, group = through.User(uid("member")).save(), through.Group(uid("grp")).save()
    policy = through.Policy(uid("pol"), statements=s3_read("att")).save()
    with losing(through, proxy, "AttachUserPolicy"):
        user.attach(policy)
    with losing(through, proxy, "AttachGroupPolicy"):
        group.attach(policy)
    assert direct.iam.get("policy", str(policy.arn))["attachments"] == 2  # (a re-sent attach: moto counted 3)
    with losing(through, proxy, "AddUserToGroup"):
        group.add(user)
    assert [u.name for u in group.users] == [user.name]
    with losing(through, proxy, "RemoveUserFromGroup"):
        group.remove(user)  # before: NotFound
    with losing(through, proxy, "DetachUserPolicy"):
        user.detach(policy)  # before: NotFound
    assert group.users == [] and user.policies == []
    assert policy.attached_to() == {"user": [], "group": [group.name], "role": []}
    with losing(through, proxy, "DetachGroupPolicy"):
        group.delete(cascade=True)
    for entity in (user, policy):
        entity.delete()


def test_lost_answers_while_a_cascade_delete_clears_what_blocks_it(proxy: FaultProxy, through: cloudorm.Session,
                                                                   direct: cloudorm.Session) -> None:
    iam = direct._provider.clients.client("iam")  # type: ignore[attr-defined]  # what cloudorm does not make itself
    inline = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                                  "Resource": "*"}]})
    policy = direct.Policy(uid("pol"), statements=s3_read("cascade")).save()
    role = direct.Role(uid("role"), service="ec2").save()
    role.attach(policy)
    iam.put_role_policy(RoleName=role.name, PolicyName="inline", PolicyDocument=inline)
    profile = uid("profile")
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role.name)
    user = direct.User(uid("user")).save()
    iam.create_login_profile(UserName=user.name, Password="Not-a-real-password-1")
    iam.put_user_policy(UserName=user.name, PolicyName="inline", PolicyDocument=inline)
    with losing(through, proxy, "DetachRolePolicy", "DeleteRolePolicy", "RemoveRoleFromInstanceProfile",
                "DeleteRole"):
        through.Role(role.name).delete(cascade=True)  # before: NotFound on the first of them
    with losing(through, proxy, "DeleteLoginProfile", "DeleteUserPolicy"):
        through.User(user.name).delete(cascade=True)
    assert not role.exists() and not user.exists()
    assert iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"] == []
    iam.delete_instance_profile(InstanceProfileName=profile)
    group = through.Group(uid("grp")).save()
    group.name = uid("renamed")
    with losing(through, proxy, "UpdateGroup"):
        group.save()
    with losing(through, proxy, "DeleteGroup"):
        group.delete()
    assert not direct.Group(group.name).exists()
    policy.delete()


def test_wasabis_iam_reconciles_the_same_way(proxy: FaultProxy, direct: cloudorm.Session) -> None:
    creds = {"aws_access_key_id": "WASABIKEY00000000001", "aws_secret_access_key": "wasabi-secret-never-shown"}
    wasabi = cloudorm.Session("wasabi", creds=creds, endpoint_url={"iam": proxy.url, "sts": proxy.url})
    user = wasabi.User(uid("wasabi"))
    with losing(wasabi, proxy, "CreateUser", "CreateAccessKey"):
        user.save()
        key = user.create_access_key()
    assert [k.id for k in direct.User(user.name).access_keys] == [key.id] and key.secret
    with losing(wasabi, proxy, "DeleteAccessKey", "DeleteUser"):
        user.delete(cascade=True)
    assert not direct.User(user.name).exists()


# ---------------------------------------------------------------------------------------------- random faults


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.3])
def test_provisioning_with_random_lost_answers(moto_url: str, direct: cloudorm.Session, rate: float) -> None:
    with FaultProxy(moto_url, rate=rate, kinds=("drop_after", "drop"), seed=int(rate * 100) + 2) as proxy:
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=10)
        alice = s.User(uid("alice"), tags={"team": "data"}).save()
        bob = s.User(uid("bob")).save()
        team = s.Group(uid("team")).save()
        team.add(alice)
        team.add(bob)
        policy = s.Policy(uid("pol"), statements=s3_read("r1")).save()
        for n in (2, 3, 4):
            policy.statements = s3_read(f"r{n}")
            policy.save()
        team.attach(policy)
        bob.attach(policy)
        key = alice.create_access_key()
        old = bob.create_access_key()
        old.delete()
        team.remove(bob)
        bob.delete(cascade=True)
        faults = proxy.stats["drop_after"] + proxy.stats["drop"]
    assert faults >= 1
    assert [k.id for k in direct.User(alice.name).access_keys] == [key.id]
    assert direct.iam.caller((key.id, key.secret))["arn"].endswith(f"user/{alice.name}")
    assert not direct.User(bob.name).exists()
    assert [u.name for u in direct.Group(team.name).users] == [alice.name]
    stored = direct.Policy(policy.arn).refresh()  # type: ignore[arg-type]
    assert stored.versions() == ["v1", "v2", "v3", "v4"] and stored.statements == s3_read("r4")
    assert stored.attached_to() == {"user": [], "group": [team.name], "role": []}
    direct.Group(team.name).delete(cascade=True)
    direct.User(alice.name).delete(cascade=True)
    stored.delete(cascade=True)
