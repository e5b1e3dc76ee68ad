"""The account's IAM summary (``s.iam_summary()``, the Cloud package's ``AWS.IAM.Summary``) and policies under a
path found by their name alone, on the local cloud and through the aws provider against a moto server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

import cloudorm
from cloudorm.errors import ConflictError, InvalidInput, NotFound, Unsupported
from cloudorm.iam import IamSummary, PolicyRef
from tests.conftest import FAKE_CREDS, assert_refused_before_any_request

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True, scope="module")
def _local_cloud_first() -> None:
    """Start the embedded local cloud first: moto gets AWS's managed policies before the IAM backend is made."""
    cloudorm.Session()


def _boto3_iam(s: cloudorm.Session) -> Any:
    """A plain boto3 IAM client on the session's endpoint: another program's view of the account."""
    key = ("testing", "testing") if s.provider == "local" else (FAKE_CREDS["aws_access_key_id"],
                                                                 FAKE_CREDS["aws_secret_access_key"])
    return boto3.client("iam", endpoint_url=s.endpoint_url, region_name="us-east-1", aws_access_key_id=key[0],
                        aws_secret_access_key=key[1])


# ---------------------------------------------------------------------------------------------- summary


def test_one_paged_call_lists_everything_with_its_attachments(session: cloudorm.Session) -> None:
    s = session
    user = s.User(uid("sum-u"), path="/staff/", tags={"team": "data"}).save()
    group = s.Group(uid("sum-g")).save()
    group.add(user)
    policy = s.Policy(uid("sum-p"), document=DOC, path="/team/", description="read").save()
    user.attach(policy)
    group.attach(policy)
    role = s.Role(uid("sum-r"), service="lambda").save()
    role.attach(READ_ONLY)
    _boto3_iam(s).put_user_policy(UserName=user.name, PolicyName="inline-one", PolicyDocument=json.dumps(DOC))
    try:
        with s.count_requests() as c:
            summary = s.iam_summary()
        assert dict(c.by_operation) == {"iam.GetAccountAuthorizationDetails": 1}  # no request per entity
        assert isinstance(summary, IamSummary) and summary.kinds == ("users", "groups", "roles", "policies")

        u = summary.user(user.name)
        assert (u.arn, u.path, u.tags, u.groups) == (user.arn, "/staff/", {"team": "data"}, (group.name,))
        assert u.policies == (PolicyRef(policy.name, str(policy.arn)),)
        assert u.inline_policies == {"inline-one": DOC}

        g = summary.group(group.name)
        assert g.users == (user.name,) and g.policies == (PolicyRef(policy.name, str(policy.arn)),)

        r = summary.role(role.name)
        assert r.policies == (PolicyRef("ReadOnlyAccess", READ_ONLY),)
        assert r.trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert r.instance_profiles == () and r.tags == {}

        p = summary.policy(policy.name)
        assert (p.arn, p.path, p.default_version, p.versions, p.attachments) == (policy.arn, "/team/", "v1",
                                                                                  ("v1",), 2)
        assert p.document == policy.document and p.attachable and not p.aws_managed
        assert p.attached_to == {"users": (user.name,), "groups": (group.name,), "roles": ()}
        assert not [x for x in summary.policies if x.aws_managed]  # AWS's own are left out unless asked

        with s.count_requests() as c:  # entries lead to the entities, saved, without a request
            entity = u.entity()
            assert entity == user and cloudorm.state(entity) == "saved" and entity.path == "/staff/"
            assert p.entity().arn == policy.arn and r.entity() == role and g.entity() == group
        assert c.total == 0
        with pytest.raises(KeyError):
            summary.user(uid("nobody"))
    finally:
        for e in (user, group, role, policy):
            e.delete(cascade=True)


def test_kinds_narrow_the_listing(session: cloudorm.Session) -> None:
    s = session
    role = s.Role(uid("sum-k"), service="ec2").save()
    try:
        only = s.iam_summary(kinds=["roles", "aws_policies"])
        assert only.kinds == ("roles", "aws_policies") and only.users == () and only.groups == ()
        assert role.name in [r.name for r in only.roles]
        assert READ_ONLY in [p.arn for p in only.policies] and all(p.aws_managed for p in only.policies)
        assert all(p.attached_to is None for p in only.policies)  # users and groups were not listed
        groups = s.iam_summary("groups")
        assert groups.kinds == ("groups",) and groups.roles == ()
        assert all(g.users is None for g in groups.groups)  # members unknown without the users
    finally:
        role.delete()


def test_bad_kinds_are_refused_before_any_request(session: cloudorm.Session) -> None:
    assert_refused_before_any_request(session, [
        (lambda: session.iam_summary(kinds=[]), "kinds"),
        (lambda: session.iam_summary(kinds=["users", "buckets"]), "kinds"),
        (lambda: session.iam_summary(kinds=3), "kinds"),  # type: ignore[arg-type]
    ])


def test_a_provider_without_iam_says_so() -> None:
    from cloudorm.providers.memory import MemoryProvider

    with pytest.raises(Unsupported) as e:
        cloudorm.Session(MemoryProvider()).iam_summary()
    assert e.value.area == "iam"


# ---------------------------------------------------------------------------------------------- policy by name


def test_a_policy_made_under_a_path_by_another_program_is_found_by_name_alone(session: cloudorm.Session) -> None:
    s = session
    name = uid("pathed")
    arn = _boto3_iam(s).create_policy(PolicyName=name, Path="/team/", PolicyDocument=json.dumps(DOC))["Policy"]["Arn"]
    by_name = s.Policy(name)
    assert by_name.exists() and by_name.arn == arn
    loaded = s.Policy(name).refresh()
    assert (loaded.path, loaded.arn, loaded.document) == ("/team/", arn, DOC)
    assert s.Policy(name).versions() == ["v1"]
    user = s.User(uid("pathed-u")).save()
    user.attach(s.Policy(name))  # a Policy known by its name alone attaches too
    try:
        doomed = s.Policy(name)
        with pytest.raises(ConflictError) as blocked:
            doomed.delete()
        assert blocked.value.blockers == {"users": [user.name]}  # type: ignore[attr-defined]
        assert f"policy {name!r} cannot be deleted" in str(blocked.value)  # its name, not a guessed ARN
        assert doomed.blockers()["users"] == [user.name]
        doomed.delete(cascade=True)
        assert cloudorm.state(doomed) == "deleted" and doomed.path == "/team/"  # save() would recreate it there
        assert not s.Policy(name).exists() and user.policies == []
        with pytest.raises(NotFound):
            s.Policy(name).delete()
        s.Policy(name).delete(missing_ok=True)
    finally:
        user.delete(cascade=True)


def test_an_unattached_policy_under_a_path_is_deleted_by_name_in_one_call(session: cloudorm.Session) -> None:
    s = session
    name = uid("plain")
    _boto3_iam(s).create_policy(PolicyName=name, Path="/deep/er/", PolicyDocument=json.dumps(DOC))
    gone = s.Policy(name)
    gone.delete()
    assert gone.arn is not None and ":policy/deep/er/" in gone.arn and not s.Policy(name).exists()


def test_a_path_given_is_not_searched(
        session: cloudorm.Session) -> None:
    s = session
    name = uid("strict")
    s.Policy(name, document=DOC, path="/team/").save()
    try:
        assert not s.Policy(name, path="/").exists()  # the path was given: only there
        with pytest.raises(NotFound):
            s.Policy(name, path="/other/").delete()
        with s.count_requests() as c:
            assert s.Policy(name).exists()
        # not under "/": one listing finds it, then it is read at its ARN
        assert dict(c.by_operation) == {"iam.GetPolicy": 2, "iam.ListPolicies": 1, "iam.GetPolicyVersion": 1}
    finally:
        s.Policy(name, path="/team/").delete()


def test_two_policies_of_one_name_are_refused_rather_than_guessed(session: cloudorm.Session) -> None:
    """AWS keeps policy names unique in an account; moto does not. cloudorm never picks one of two."""
    s = session
    name = uid("twin")
    a = s.Policy(name, document=DOC, path="/a/").save()
    b = s.Policy(name, document=DOC, path="/b/").save()
    user = s.User(uid("twin-u")).save()
    try:
        for attempt in (lambda: s.Policy(name).delete(), lambda: s.Policy(name).exists(),
                        lambda: user.attach(name)):
            with pytest.raises(InvalidInput) as e:
                attempt()
            assert "/a/" in str(e.value) and "/b/" in str(e.value) and e.value.field == "policy"
        assert a.exists() and b.exists() and user.policies == []
    finally:
        for e in (a, b, user):
            e.delete()
