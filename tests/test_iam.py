"""IAM entities on the local cloud and through the aws provider against a moto server."""

from __future__ import annotations

import json
import logging
import pickle
import pprint
import uuid
from typing import Any

import pytest

import cloudorm
from cloudorm import AccessKey, Policy, Statement
from cloudorm.errors import AccessDenied, CloudError, ConflictError, InvalidInput, NotFound, Timeout, Unsupported
from cloudorm.iam import is_propagation_delay, until_propagated
from tests.conftest import assert_refused_before_any_request

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def s3_read(bucket: str) -> list[Statement]:
    return [Statement.for_service("s3", ["GetObject"], "Allow", [f"{bucket}/*"])]


@pytest.fixture(autouse=True, scope="module")
def _local_cloud_first() -> None:
    """Start the embedded local cloud first: it gives moto (the process's, shared with the aws→moto server)
    AWS's managed policies before the IAM backend is made."""
    cloudorm.Session()


# ---------------------------------------------------------------------------------------------- statements


def test_for_service_builds_arns_and_never_changes_the_callers_lists() -> None:
    actions, resources = ["PutObject", "GetObject"], ["mybucket1/*", "mybucket2", "arn:aws:s3:::other", "*"]
    given = (list(actions), list(resources))
    st = Statement.for_service("s3", actions, "Allow", resources)
    assert st.actions == ("s3:PutObject", "s3:GetObject")
    assert st.resources == ("arn:aws:s3:::mybucket1/*", "arn:aws:s3:::mybucket2", "arn:aws:s3:::other", "*")
    assert (actions, resources) == given
    actions.append("DeleteObject")  # and the statement keeps no reference to them
    resources.clear()
    assert len(st.actions) == 2 and len(st.resources) == 4
    assert st.to_dict() == {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                            "Resource": list(st.resources)}
    dyn = Statement.for_service("dynamodb", "GetItem", resources="table/orders")
    assert dyn.resources == ("arn:aws:dynamodb:*:*:table/orders",)
    assert Statement.for_service("iam", ["GetUser"], resources=["user/alice"]).resources == (
        "arn:aws:iam::*:user/alice",)
    assert Statement.from_dict(st.to_dict()) == st


@pytest.mark.parametrize(("service", "resource", "arn"), [
    ("dynamodb", "orders", "arn:aws:dynamodb:*:*:table/orders"),  # before: arn:aws:dynamodb:*:*:orders
    ("dynamodb", "table/orders", "arn:aws:dynamodb:*:*:table/orders"),
    ("dynamodb", "orders/index/*", "arn:aws:dynamodb:*:*:table/orders/index/*"),
    ("dynamodb", "orders/index/by-date", "arn:aws:dynamodb:*:*:table/orders/index/by-date"),
    ("dynamodb", "orders/stream/*", "arn:aws:dynamodb:*:*:table/orders/stream/*"),
    ("dynamodb", "orders-*", "arn:aws:dynamodb:*:*:table/orders-*"),
    ("lambda", "resize", "arn:aws:lambda:*:*:function:resize"),  # before: arn:aws:lambda:*:*:resize
    ("lambda", "resize:prod", "arn:aws:lambda:*:*:function:resize:prod"),
    ("lambda", "function:resize", "arn:aws:lambda:*:*:function:resize"),
    ("lambda", "layer:deps", "arn:aws:lambda:*:*:layer:deps"),
    ("sqs", "jobs.fifo", "arn:aws:sqs:*:*:jobs.fifo"),
    ("sns", "alerts", "arn:aws:sns:*:*:alerts"),
    ("s3", "bucket/key/*", "arn:aws:s3:::bucket/key/*"),
    ("iam", "user/alice", "arn:aws:iam::*:user/alice"),
    ("iam", "role/app/*", "arn:aws:iam::*:role/app/*"),
    ("logs", "/aws/lambda/fn:*", "arn:aws:logs:*:*:log-group:/aws/lambda/fn:*"),
    ("execute-api", "abc123/prod/GET/orders", "arn:aws:execute-api:*:*:abc123/prod/GET/orders"),
    ("apigateway", "/restapis/abc123/*", "arn:aws:apigateway:*::/restapis/abc123/*"),
    ("ec2", "instance/i-0123", "arn:aws:ec2:*:*:instance/i-0123"),
    ("ec2", "image/ami-0123", "arn:aws:ec2:*::image/ami-0123"),
    ("kms", "key/1234", "arn:aws:kms:*:*:key/1234"),
    ("route53", "hostedzone/Z1", "arn:aws:route53:::hostedzone/Z1"),
    ("states", "arn:aws:states:us-east-1:123456789012:stateMachine:x",
     "arn:aws:states:us-east-1:123456789012:stateMachine:x"),
    ("states", "*", "*"),
])
def test_for_service_builds_each_services_arn_shape(service: str, resource: str, arn: str) -> None:
    assert Statement.for_service(service, ["Get"], resources=[resource]).resources == (arn,)


def test_for_service_in_a_region_and_account() -> None:
    st = Statement.for_service("dynamodb", ["GetItem"], resources=["orders", "arn:aws:dynamodb:eu-west-1:1:table/x"],
                               region="us-east-1", account="123456789012")
    assert st.resources == ("arn:aws:dynamodb:us-east-1:123456789012:table/orders",
                            "arn:aws:dynamodb:eu-west-1:1:table/x")
    assert Statement.for_service("s3", ["GetObject"], resources=["b/*"], region="us-east-1").resources == (
        "arn:aws:s3:::b/*",)


@pytest.mark.parametrize(("service", "resource", "field"), [
    ("states", "machine", "resources"),  # before: arn:aws:states:*:*:machine, an ARN of no shape states has
    ("dynamodb", "orders/items", "resources"),
    ("dynamodb", "or ders", "resources"),
    ("lambda", "fn/x", "resources"),
    ("iam", "alice", "resources"),
    ("iam", "person/alice", "resources"),
    ("ec2", "i-0123", "resources"),
    ("execute-api", "abc123", "resources"),
    ("sqs", "a:b", "resources"),
])
def test_for_service_refuses_what_it_cannot_build(service: str, resource: str, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        Statement.for_service(service, ["Get"], resources=[resource])
    assert e.value.field == field and repr(resource) in e.value.reason


@pytest.mark.parametrize(("kwargs", "field"), [({"region": "US East"}, "region"), ({"account": "12"}, "account"),
                                               ({"account": None}, "account")])
def test_for_service_checks_region_and_account(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        Statement.for_service("sqs", ["SendMessage"], resources=["*"], **kwargs)
    assert e.value.field == field


@pytest.mark.parametrize(("service", "action", "resource", "real_arn"), [
    ("dynamodb", "GetItem", "orders", "arn:aws:dynamodb:us-east-1:123456789012:table/orders"),
    ("dynamodb", "Query", "orders/index/*", "arn:aws:dynamodb:us-east-1:123456789012:table/orders/index/by-date"),
    ("lambda", "InvokeFunction", "resize", "arn:aws:lambda:us-east-1:123456789012:function:resize"),
    ("sqs", "SendMessage", "jobs", "arn:aws:sqs:us-east-1:123456789012:jobs"),
    ("logs", "PutLogEvents", "/aws/lambda/fn:*",
     "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fn:log-stream:2026/01/01"),
])
def test_a_statement_for_a_name_grants_that_resource(service: str, action: str, resource: str,
                                                     real_arn: str) -> None:
    # moto's IAM policy evaluator (AWS's wildcard rules) decides whether the statement covers the real ARN
    from moto.iam.access_control import IAMPolicy, PermissionResult

    statement = Statement.for_service(service, [action], "Allow", [resource])
    policy = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [statement.to_dict()]}))
    assert policy.is_action_permitted(f"{service}:{action}", real_arn) == PermissionResult.PERMITTED


def test_statement_copies_conditions() -> None:
    cond = {"StringEquals": {"aws:username": "alice"}}
    st = Statement("Deny", ["s3:*"], ["*"], cond, sid="NoS3")
    cond["StringEquals"]["aws:username"] = "bob"
    assert st.conditions == {"StringEquals": {"aws:username": "alice"}}
    assert st.to_dict()["Sid"] == "NoS3"


@pytest.mark.parametrize(("make", "field"), [
    (lambda: Statement("Maybe", ["s3:GetObject"], ["*"]), "effect"),
    (lambda: Statement("Allow", [], ["*"]), "actions"),
    (lambda: Statement("Allow", ["GetObject"], ["*"]), "actions"),
    (lambda: Statement("Allow", ["s3:GetObject"], []), "resources"),
    (lambda: Statement("Allow", ["s3:GetObject"], ["*"], {"StringEquals": "x"}), "conditions"),
    (lambda: Statement("Allow", ["s3:GetObject"], ["*"], sid="has space"), "sid"),
    (lambda: Statement.for_service("s3", [], "Allow", ["b"]), "actions"),
    (lambda: Statement.for_service("S3!", ["GetObject"]), "service"),
    (lambda: Statement.for_service("s3", ["dynamodb:GetItem"]), "actions"),
    (lambda: Statement.from_dict({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Bogus": 1}),
     "statement.Bogus"),
])
def test_bad_statements(make: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        make()
    assert e.value.field == field


# ---------------------------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_before_any_request(session: cloudorm.Session) -> None:
    s = session
    attempts = [
        (lambda: s.User("bad name!"), "name"),
        (lambda: s.User("x" * 65), "name"),
        (lambda: s.Role("r" * 65, service="lambda"), "name"),
        (lambda: s.Group("g" * 129), "name"),
        (lambda: s.Policy("p" * 129, statements=s3_read("b")), "name"),
        (lambda: s.User("alice", path="no-slash"), "path"),
        (lambda: s.User("alice", path="/a"), "path"),
        (lambda: s.User("alice", path="//"), "path"),
        (lambda: s.User("alice", tags={"k": "two\nlines"}), "tags['k']"),
        (lambda: s.User("alice", tags={"k": 1}), "tags['k']"),
        (lambda: s.User("alice", tags={"aws:x": "y"}), "tags['aws:x']"),
        (lambda: s.Role("r", service="lambda", max_session=60), "max_session"),
        (lambda: s.Role("r", service="lambda", max_session=50000), "max_session"),
        (lambda: s.Role("r", service="Lambda Service"), "service"),
        (lambda: s.Role("r", service="lambda.example.com"), "service"),
        (lambda: s.Role("r", service="lambda", trust={"Statement": []}), "service"),
        (lambda: s.Role("r", trust={"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                   "Resource": "*"}]}), "trust.Statement[0].Principal"),
        (lambda: s.Role("r", trust={"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                   "Action": "sts:AssumeRole", "Resource": "*"}]}),
         "trust.Statement[0].Resource"),
        (lambda: s.Role("r").save(), "trust"),
        (lambda: s.Policy("p").save(), "statements"),
        (lambda: s.Policy("p", statements=[]), "statements"),
        (lambda: s.Policy("p", document={"Version": "2099-01-01", "Statement": []}), "document.Version"),
        (lambda: s.Policy("p", document={"Statement": [{"Effect": "Allow", "Action": []}]}),
         "document.Statement[0].actions"),
        (lambda: s.Policy("p", statements=s3_read("b"), description="x" * 1001), "description"),
        (lambda: s.Policy("p", document={"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                        "Action": "s3:GetObject", "Resource": "*"}]}),
         "document.Statement[0].Principal"),
        (lambda: s.Policy("p", document={"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                        "Resource": "x" * 7000}]}), "document"),
        (lambda: s.User("alice").attach("not a name!"), "policy"),
        (lambda: s.User("alice").attach("arn:aws:iam::123:policy/p"), "policy"),
        (lambda: s.Group("g").add("bad user!"), "user"),
        (lambda: s.users(path_prefix="x"), "path_prefix"),
        (lambda: s.roles(path_prefix="/tab\t"), "path_prefix"),
        (lambda: s.policies(scope="mine"), "scope"),
        (lambda: s.User("alice").delete(cascade="no"), "cascade"),  # type: ignore[arg-type]  # (not True)
    ]
    with s.count_requests() as c:
        for attempt, field in attempts:
            with pytest.raises(InvalidInput) as e:
                attempt()
            assert e.value.field == field, (field, e.value)
    assert c.total == 0


def test_lone_surrogates_and_bad_timeouts_are_refused_before_any_request(session: cloudorm.Session) -> None:
    s = session
    calls: list[int] = []
    attempts = [
        (lambda: s.User("a\udc80"), "name"),
        (lambda: s.Policy("p", statements=s3_read("b\udc80")), "document"),
        (lambda: s.Policy("p", document={"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                        "Resource": "arn:aws:s3:::b\udc80/*"}]}), "document"),
        (lambda: until_propagated(lambda: calls.append(1), timeout=-1), "timeout"),
        (lambda: until_propagated(lambda: calls.append(1), timeout=float("inf")), "timeout"),
    ]
    assert_refused_before_any_request(s, attempts)
    assert calls == []


def test_changing_a_field_to_bad_value_is_refused(session: cloudorm.Session) -> None:
    u = session.User(uid("u")).save()
    with pytest.raises(InvalidInput):
        u.tags = {"k": 2}  # type: ignore[dict-item]
    u.tags["k"] = 2  # type: ignore[assignment]
    with session.count_requests() as c, pytest.raises(InvalidInput):
        u.save()
    assert c.total == 0
    u.delete()


# ---------------------------------------------------------------------------------------------- users


def test_user_lifecycle_sends_only_what_changed(session: cloudorm.Session) -> None:
    s = session
    name = uid("alice")
    u = s.User(name, tags={"team": "data"})
    assert cloudorm.state(u) == "new" and u.arn is None and not u.exists()
    assert u.save() is u and cloudorm.state(u) == "saved"
    assert u.arn and u.arn.endswith(f":user/{name}") and u.id and u.created
    with s.count_requests() as c:
        u.save()
    assert c.total == 0
    u.tags["cost"] = "42"
    del u.tags["team"]
    assert cloudorm.state(u) == "changed" and cloudorm.changes(u) == {"tags"}
    with s.count_requests() as c:
        u.save()
    assert dict(c.by_operation) == {"iam.TagUser": 1, "iam.UntagUser": 1}
    assert s.User(name).refresh().tags == {"cost": "42"}
    u.path = "/staff/"
    with s.count_requests() as c:
        u.save()
    assert dict(c.by_operation) == {"iam.UpdateUser": 1}
    assert s.User(name).refresh().path == "/staff/"
    renamed = uid("alice2")
    u.name = renamed
    u.save()
    assert s.User(renamed).exists() and not s.User(name).exists()
    assert u.arn == s.User(renamed).refresh().arn and u.arn.endswith(f":user/staff/{renamed}")
    g = s.Group(uid("grp")).save()
    g.name, g.path = uid("grp2"), "/moved/"
    g.save()
    assert g.arn == s.Group(g.name).refresh().arn and g.arn.endswith(f":group/moved/{g.name}")
    g.delete()
    u.delete()
    assert cloudorm.state(u) == "deleted" and not u.exists()
    with pytest.raises(NotFound):
        u.delete()
    u.delete(missing_ok=True)
    with pytest.raises(NotFound):
        s.User(uid("ghost")).refresh()


def test_saving_an_existing_name_adopts_it_unless_exists_ok_is_false(session: cloudorm.Session) -> None:
    s = session
    name = uid("dup")
    s.User(name, path="/staff/", tags={"team": "data", "cost": "1"}).save()
    with pytest.raises(cloudorm.errors.AlreadyExists):
        s.User(name).save(exists_ok=False)
    again = s.User(name, tags={"team": "data"})  # the path is not given: kept
    with s.count_requests() as c:
        assert again.save() is again and cloudorm.state(again) == "saved"
    assert dict(c.by_operation) == {"iam.CreateUser": 1, "iam.GetUser": 1, "iam.UntagUser": 1}
    assert again.path == "/staff/" and s.User(name).refresh().tags == {"team": "data"}
    p = s.Policy(uid("dup"), statements=s3_read("b1"), tags={"a": "1"}).save()
    same = s.Policy(p.name, statements=s3_read("b2"))  # a new document: a new default version
    same.save()
    assert same.default_version == "v2" and same.tags == {"a": "1"} and p.refresh().statements == s3_read("b2")
    with pytest.raises(InvalidInput) as e:
        s.Policy(p.name, statements=s3_read("b2"), description="other").save()  # fixed once created
    assert e.value.field == "description"
    p.delete(cascade=True)
    again.delete()


def test_iam_entities_are_named_account_wide() -> None:
    s, eu = cloudorm.Session(), cloudorm.Session(region="eu-west-1")
    for make in (lambda x: x.User("alice"), lambda x: x.Group("g"), lambda x: x.Role("r"),
                 lambda x: x.Policy("p"), lambda x: AccessKey(x, "alice", "AKIAEXAMPLE0123")):
        assert make(s) == make(eu) and hash(make(s)) == hash(make(eu))


def test_listings_are_lazy_and_page(session: cloudorm.Session) -> None:
    s = session
    prefix = f"/{uid('team')}/"
    users = [s.User(uid("lu"), path=prefix, tags={"n": str(i)}).save() for i in range(3)]
    with s.count_requests() as c:
        listing = s.users(path_prefix=prefix)
    assert c.total == 0
    with s.count_requests() as c:
        found = list(listing.page_size(2))
    assert sorted(u.name for u in found) == sorted(u.name for u in users)
    assert c["iam.ListUsers"] >= 1  # (moto's ListUsers returns everything in one page)
    first = found[0]
    assert cloudorm.state(first) == "saved" and first.path == prefix
    with s.count_requests() as c:
        assert first.tags["n"] in {"0", "1", "2"}  # not in ListUsers: loaded once, on first read
    assert dict(c.by_operation) == {"iam.GetUser": 1}
    first.path = "/"
    with s.count_requests() as c:
        first.save()
    assert dict(c.by_operation) == {"iam.UpdateUser": 1}  # tags untouched (moto itself drops them on a move)
    assert len(s.users(path_prefix=prefix)[:5]) == 2  # one moved out of the prefix
    assert len(list(s.users(path_prefix=prefix[:-3]))) == 2  # IAM's prefixes need not end with "/"
    g, r = s.Group(uid("lg"), path=prefix).save(), s.Role(uid("lr"), service="lambda", path=prefix).save()
    assert [x.name for x in s.groups(path_prefix=prefix)] == [g.name]
    listed_role = s.roles(path_prefix=prefix).first()
    assert listed_role is not None and listed_role.name == r.name and listed_role.services == ["lambda.amazonaws.com"]
    p = s.Policy(uid("lp"), statements=s3_read("b"), path=prefix).save()
    p2 = s.Policy(uid("lp"), statements=s3_read("b"), path=prefix).save()
    with s.count_requests() as c:
        assert sorted(x.name for x in s.policies(path_prefix=prefix).page_size(1)) == sorted([p.name, p2.name])
    assert c["iam.ListPolicies"] >= 2
    p2.delete()
    assert s.policies(scope="aws").limit(3)[:3][0].aws_managed
    assert {x.arn for x in s.policies(scope="all", path_prefix=prefix)} == {p.arn}
    for e in (*users, g, r, p):
        e.delete()


# ---------------------------------------------------------------------------------------------- groups, policies


def test_groups_and_attachments(session: cloudorm.Session) -> None:
    s = session
    u = s.User(uid("gu")).save()
    g = s.Group(uid("grp")).save()
    g.add(u)
    assert [x.name for x in u.groups] == [g.name] and [x.name for x in g.users] == [u.name]
    g.remove(u.name)
    assert u.groups == []
    with pytest.raises(NotFound):
        g.add(uid("nobody"))
    p = s.Policy(uid("pol"), statements=s3_read("bucket"), description="reads one bucket").save()
    u.attach(p)                 # a Policy
    g.attach(p.name)            # a name of this account's policy
    u.attach(READ_ONLY)         # an AWS-managed policy's ARN
    assert {x.arn for x in u.policies} == {p.arn, READ_ONLY}
    assert [x.name for x in g.policies] == [p.name]
    assert p.attached_to() == {"user": [u.name], "group": [g.name], "role": []}
    u.detach(p.arn)
    g.detach(p)
    u.detach(READ_ONLY)
    assert u.policies == [] and g.policies == []
    with pytest.raises(NotFound):
        u.detach(p)
    managed = s.Policy(READ_ONLY).refresh()
    assert managed.aws_managed and managed.name == "ReadOnlyAccess" and managed.statements
    for e in (u, g, p):
        e.delete()


def test_a_policy_under_a_path_attaches_by_name(session: cloudorm.Session) -> None:
    s = session
    p = s.Policy(uid("deep"), statements=s3_read("b"), path="/team/data/").save()
    assert p.arn and p.arn.endswith(f":policy/team/data/{p.name}")
    r = s.Role(uid("deep-r"), service="lambda").save()
    r.attach(p.name)  # not under "/": found by name under its path
    assert [x.arn for x in r.policies] == [p.arn]
    r.detach(p.name)
    assert r.policies == []
    with pytest.raises(NotFound):
        r.detach(p.name)  # (not attached)
    with pytest.raises(NotFound):
        r.attach(uid("no-such-policy"))
    r.delete()
    p.delete()


def test_attached_policies_follow_iams_pages(session: cloudorm.Session) -> None:
    """IAM answers in pages (Marker, IsTruncated); moto gives one page unless asked, so ask it for pages of one."""
    s = session
    u = s.User(uid("pages")).save()
    arns = [READ_ONLY, "arn:aws:iam::aws:policy/IAMReadOnlyAccess", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]
    for arn in arns:
        u.attach(arn)
    client = s._provider.clients.client("iam")  # type: ignore[attr-defined]

    def one_per_page(params: dict[str, Any], **_: Any) -> None:
        params["MaxItems"] = 1

    client.meta.events.register("provide-client-params.iam.ListAttachedUserPolicies", one_per_page,
                                unique_id="test-one-per-page")
    try:
        with s.count_requests() as c:
            assert sorted(p.arn for p in u.policies) == sorted(arns)
        assert c["iam.ListAttachedUserPolicies"] >= 3  # (moto says a last, empty page may follow)
    finally:
        client.meta.events.unregister("provide-client-params.iam.ListAttachedUserPolicies",
                                      unique_id="test-one-per-page")
    u.delete(cascade=True)


def test_policy_versions_are_added_and_pruned(session: cloudorm.Session) -> None:
    s = session
    p = s.Policy(uid("ver"), statements=s3_read("b0"), description="versions", tags={"a": "1"}).save()
    assert p.default_version == "v1" and p.versions() == ["v1"]
    with s.count_requests() as c:
        p.save()
        p.document = {"Statement": {"Effect": "Allow", "Action": "s3:GetObject",  # same, written differently
                                    "Resource": "arn:aws:s3:::b0/*"}}
        p.save()
    assert c.total == 0
    for i in range(1, 7):
        p.statements = s3_read(f"b{i}")
        p.save()
    assert p.versions() == ["v3", "v4", "v5", "v6", "v7"] and p.default_version == "v7"
    fresh = s.Policy(p.name).refresh()
    assert fresh.statements == s3_read("b6") and fresh.description == "versions" and fresh.tags == {"a": "1"}
    p.tags = {"b": "2"}
    with s.count_requests() as c:
        p.save()
    assert dict(c.by_operation) == {"iam.TagPolicy": 1, "iam.UntagPolicy": 1}
    p.description = "other"
    with pytest.raises(InvalidInput) as e:
        p.save()
    assert e.value.field == "description"
    p.delete(cascade=True)


def test_roles(session: cloudorm.Session) -> None:
    s = session
    r = s.Role(uid("fn-role"), service="lambda", description="for functions", max_session=7200,
               tags={"app": "x"}).save()
    assert r.services == ["lambda.amazonaws.com"] and r.arn and ":role/" in r.arn
    fresh = s.Role(r.name).refresh()
    assert (fresh.description, fresh.max_session, fresh.tags) == ("for functions", 7200, {"app": "x"})
    with s.count_requests() as c:
        fresh.save()
    assert c.total == 0
    r.description, r.max_session = "changed", 3600
    r.trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com",
                                                                          "edgelambda.amazonaws.com"]},
                              "Action": "sts:AssumeRole"}]}
    with s.count_requests() as c:
        r.save()
    assert dict(c.by_operation) == {"iam.UpdateRole": 1, "iam.UpdateAssumeRolePolicy": 1}
    fresh.refresh()
    assert fresh.description == "changed" and fresh.max_session == 3600
    assert fresh.services == ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]
    bare = s.Role(uid("bare-role"), service="ec2").save()  # no description or session length given
    bare.description = "now described"
    with s.count_requests() as c:
        bare.save()
    assert dict(c.by_operation) == {"iam.UpdateRole": 1}
    bare.delete()
    r.path = "/moved/"
    with pytest.raises(InvalidInput):
        r.save()
    r.path = "/"
    r.attach(READ_ONLY)
    assert [p.arn for p in r.policies] == [READ_ONLY]
    r.delete(cascade=True)
    assert not r.exists()


# ---------------------------------------------------------------------------------------------- deletes


def test_blocked_deletes_list_blockers_and_cascade_removes_them(session: cloudorm.Session) -> None:
    s = session
    iam = s._provider.clients.client("iam")  # type: ignore[attr-defined]
    u = s.User(uid("busy")).save()
    g = s.Group(uid("busy-g")).save()
    r = s.Role(uid("busy-r"), service="ec2").save()
    p = s.Policy(uid("busy-p"), statements=s3_read("b")).save()
    key = u.create_access_key()
    g.add(u)
    for who in (u, g, r):
        who.attach(p)
    p.statements = s3_read("b2")
    p.save()
    profile = uid("prof")
    iam.create_instance_profile(InstanceProfileName=profile)  # made outside cloudorm, as EC2 users do
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=r.name)
    iam.create_login_profile(UserName=u.name, Password="Console-pass-0123!")  # a console user
    iam.put_user_policy(UserName=u.name, PolicyName="inline",
                        PolicyDocument=json.dumps(Policy(s, "x", statements=s3_read("b")).document))
    expected = {
        u: {"access keys": [f"…{key.id[-4:]}"], "console password": [u.name], "groups": [g.name],
            "attached policies": [p.arn], "inline policies": ["inline"]},
        g: {"members": [u.name], "attached policies": [p.arn]},
        r: {"attached policies": [p.arn], "instance profiles": [profile]},
        p: {"users": [u.name], "groups": [g.name], "roles": [r.name], "versions": ["v1"]},
    }
    for entity, blockers in expected.items():
        with s.count_requests() as c, pytest.raises(ConflictError) as e:
            entity.delete()
        assert e.value.blockers == blockers
        assert not [op for op in c.by_operation if ".Delete" in op or ".Detach" in op or ".Remove" in op]
        assert "cascade=True" in str(e.value)
    p.delete(cascade=True)
    assert u.policies == [] and not p.exists()
    for entity in (u, g, r):
        entity.delete(cascade=True)
        assert not entity.exists()
    iam.delete_instance_profile(InstanceProfileName=profile)


def test_provider_delete_conflict_maps_to_conflict_error(session: cloudorm.Session) -> None:
    r = session.Role(uid("conf"), service="lambda").save()
    r.attach(READ_ONLY)
    with pytest.raises(ConflictError) as e:
        session.iam.delete("role", r.name)  # straight to the provider: IAM's DeleteConflict
    assert e.value.code == "DeleteConflict" and e.value.request_id
    r.delete(cascade=True)


# ---------------------------------------------------------------------------------------------- keys


def test_access_keys(session: cloudorm.Session, caplog: pytest.LogCaptureFixture) -> None:
    s = session
    u = s.User(uid("keys")).save()
    with caplog.at_level(logging.DEBUG):
        key = u.create_access_key()
        assert isinstance(key, AccessKey) and key.active and key.created
        assert "AccessKey(" in repr(key) and key.id not in repr(key)
        key.wait_usable(timeout=10)
        secret = key.secret
        assert len(secret) >= 20 and secret not in repr(key)
        assert key.secret == secret  # the same every time (before: readable once)
        with pytest.raises(NotFound) as e:
            s.iam.get("user", secret)  # the provider echoes the name it did not find: redacted
        assert secret not in str(e.value) and "***" in str(e.value)
    assert caplog.records and secret not in caplog.text
    assert [k.id for k in u.access_keys] == [key.id]
    listed = u.access_keys[0]
    with pytest.raises(CloudError):
        listed.secret  # noqa: B018 - a listed key never has its secret
    key.deactivate()
    assert not key.active and u.access_keys[0].status == "Inactive"
    key.activate()
    assert u.access_keys[0].active
    assert key.last_used is not None  # wait_usable() signed a request with it
    same = AccessKey(s, u.name, key.id)  # an existing key, by user and id
    assert same == key and same.exists() and same.refresh().status == "Active" and same.created == key.created
    with pytest.raises(NotFound):
        AccessKey(s, u, "AKIA0000000000000000").save()  # an id IAM does not know: save() makes no key
    key.delete()
    assert u.access_keys == []
    with pytest.raises(CloudError, match="deleted"):
        key.secret  # noqa: B018 - a deleted key's secret is forgotten
    with pytest.raises(NotFound):
        key.delete()
    key.delete(missing_ok=True)
    u.delete()


def test_a_new_keys_secret_reads_the_same_every_time_and_never_shows(
        session: cloudorm.Session, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    u = session.User(uid("twice")).save()
    with caplog.at_level(logging.DEBUG):  # botocore's DEBUG log shows every response body
        key = u.create_access_key()
        print(key.secret)  # the Cloud package's way: show it, then store it
        stored = {"id": key.id, "secret": key.secret}  # before: CloudError, the secret was read once
        assert stored["secret"] == capsys.readouterr().out.strip() == key.creds()["aws_secret_access_key"]
        key.wait_usable(timeout=10)  # (also after the secret was read)
        logging.getLogger("test").info("made %r, %s", key, key)
    secret = stored["secret"]
    assert any("CreateAccessKey" in r.getMessage() or "AccessKey" in r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("botocore") for r in caplog.records)
    for shown in (repr(key), str(key), f"{key}", repr([key]), caplog.text):
        assert secret not in shown
    assert session.iam.caller((key.id, secret))["arn"].endswith(f":user/{u.name}")
    listed = u.access_keys[0]
    assert listed.id == key.id
    with pytest.raises(CloudError, match=r"only the AccessKey that user\.create_access_key\(\) returned") as e:
        listed.secret  # noqa: B018 - a key loaded later has none
    assert secret not in str(e.value)
    u.delete(cascade=True)


def test_new_key_signs_requests(session: cloudorm.Session) -> None:
    u = session.User(uid("signer")).save()
    key = u.create_access_key()
    assert key.last_used is None
    with pytest.raises(TypeError):
        pickle.dumps(key)
    creds = key.creds()
    secret = creds["aws_secret_access_key"]
    for shown in (repr(creds), str(creds), f"{creds}", repr([creds]), pprint.pformat(creds)):
        assert secret not in shown and key.id not in shown and "***" in shown
    other = cloudorm.Session(session.provider, creds=creds, endpoint_url=session.endpoint_url)
    assert other.iam.caller()["arn"].endswith(f":user/{u.name}")
    assert key.last_used is not None
    u.delete(cascade=True)


# ---------------------------------------------------------------------------------------------- propagation


def test_until_propagated_retries_only_propagation_errors() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise AccessDenied("not yet", code="AccessDenied", provider="aws")
        return "ok"

    assert until_propagated(flaky, timeout=10) == "ok" and len(calls) == 3
    lambda_error = InvalidInput(None, "The role defined for the function cannot be assumed by Lambda.",
                                code="InvalidParameterValueException")
    assert is_propagation_delay(lambda_error)
    assert not is_propagation_delay(InvalidInput("name", "bad"))
    assert not is_propagation_delay(ValueError("x"))

    def wrong() -> None:
        calls.append(1)
        raise NotFound("no such thing", code="NoSuchEntity")

    calls.clear()
    with pytest.raises(NotFound):
        until_propagated(wrong, timeout=10)
    assert len(calls) == 1

    def never() -> None:
        raise lambda_error

    with pytest.raises(Timeout) as e:
        until_propagated(never, timeout=0.3, what="creating function f")
    assert e.value.last_error is lambda_error and e.value.__cause__ is lambda_error
    assert "creating function f" in str(e.value) and "cannot be assumed" in str(e.value)


def test_policy_names_resolve_without_sts(moto_url: str) -> None:
    """An IAM-compatible endpoint without STS: the account comes from IAM's GetUser of the caller."""
    from tests.conftest import FAKE_CREDS

    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url={"iam": moto_url, "sts": "http://127.0.0.1:9"},
                         max_attempts=1, connect_timeout=1)
    p = s.Policy(uid("nosts"), statements=s3_read("b")).save()
    u = s.User(uid("nosts")).save()
    u.attach(p.name)
    assert [x.arn for x in u.policies] == [p.arn]
    u.delete(cascade=True)
    p.delete()


def test_wasabi_lacks_some_of_iam(moto_url: str) -> None:
    """Wasabi's IAM has no instance profiles, tags or UpdateRole: roles delete without asking for profiles, and
    what it cannot do is Unsupported before any request."""
    creds = {"aws_access_key_id": "WASABIKEY00000000001", "aws_secret_access_key": "wasabi-secret-never-shown"}
    s = cloudorm.Session("wasabi", creds=creds, endpoint_url={"iam": moto_url, "sts": moto_url})
    r = s.Role(uid("wasabi-r"), service="lambda").save()
    r.description = "changed"
    with s.count_requests() as c, pytest.raises(Unsupported) as e:
        r.save()
    assert c.total == 0 and "UpdateRole" in str(e.value)
    u = s.User(uid("wasabi-u")).save()
    u.tags["team"] = "data"
    with s.count_requests() as c, pytest.raises(Unsupported):
        u.save()
    assert c.total == 0
    with s.count_requests() as c:
        r.delete()
    assert "iam.ListInstanceProfilesForRole" not in c.by_operation and not r.exists()
    u.delete()


def test_an_aws_managed_policy_is_never_deleted_nor_detached_by_a_cascade(session: cloudorm.Session) -> None:
    """On AWS a cascade would detach it from everything and then fail to delete it; the local cloud deleted it."""
    user = session.User(f"keeps-{uuid.uuid4().hex[:8]}").save()
    user.attach(READ_ONLY)
    managed = session.Policy(READ_ONLY)
    with session.count_requests() as counter, pytest.raises(InvalidInput, match="maintained by AWS"):
        managed.delete(cascade=True)
    assert counter.total == 0
    assert managed.exists() and READ_ONLY in [p.arn for p in user.refresh().policies]
    user.delete(cascade=True)
