"""Table lifecycle: create and wait, learn an existing schema, reconcile billing/indexes/TTL, list, delete."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import cloudorm
from cloudorm.errors import AlreadyExists, ConflictError, InvalidInput, NotFound
from tests.conftest import assert_refused_before_any_request, sent_params, skip_on_dynalite


def test_create_describe_delete(dynamo: cloudorm.Session, name: str) -> None:
    t = dynamo.Table(name, hash_key=("customer", "S"), range_key=("placed", "N"))
    assert not t.exists()
    assert t.save() is t
    assert t.status == "ACTIVE" and t.exists() and t.arn and name in t.arn
    t.save()  # saving again is a no-op on an identical table
    t.delete()
    assert not t.exists()
    with pytest.raises(NotFound):
        t.delete()
    t.delete(missing_ok=True)


def test_existing_table_learns_its_schema_once(dynamo: cloudorm.Session, name: str) -> None:
    dynamo.Table(name, hash_key=("pk", "S"), range_key=("sk", "N"),
                 indexes=[cloudorm.GlobalIndex("by_x", hash_key=("x", "S"))]).save()
    t = dynamo.Table(name)
    with dynamo.count_requests() as c:
        t.put({"pk": "a", "sk": 1, "x": "y"})
        t.put({"pk": "a", "sk": 2, "x": "y"})
    assert c["dynamodb.DescribeTable"] == 1 and c["dynamodb.PutItem"] == 2
    assert t.schema.key_names == ("pk", "sk") and t.range_key == cloudorm.KeyAttr("sk", "N")
    assert sorted(r["sk"] for r in t.query(x="y").index("by_x")) == [1, 2]
    with pytest.raises(InvalidInput, match="hash_key"):
        dynamo.Table(f"missing-{uuid.uuid4().hex[:6]}").save()
    with pytest.raises(NotFound):
        dynamo.Table(f"missing-{uuid.uuid4().hex[:6]}").get(pk="a")


def test_declared_schema_sends_no_describe(dynamo: cloudorm.Session, name: str) -> None:
    t = dynamo.Table(name, hash_key="pk").save()
    fresh = dynamo.Table(name, hash_key="pk")
    with dynamo.count_requests() as c:
        fresh.put({"pk": "a"})
        assert fresh.get(pk="a") is not None
    assert c.total == 2
    t.delete()


def test_a_different_key_schema_is_a_conflict(dynamo: cloudorm.Session, name: str) -> None:
    dynamo.Table(name, hash_key="pk").save()
    with pytest.raises(ConflictError, match="key schema"):
        dynamo.Table(name, hash_key=("pk", "S"), range_key=("sk", "S")).save()


def test_reconcile_indexes_and_billing(session: cloudorm.Session, name: str) -> None:
    t = session.Table(name, hash_key="pk", billing=cloudorm.Provisioned(read=5, write=5)).save()
    assert (t._description or {})["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    t2 = session.Table(name, hash_key="pk", indexes=[cloudorm.GlobalIndex("by_g", hash_key=("g", "S"))]).save()
    assert [ix.name for ix in session.Table(name).schema.indexes] == ["by_g"]
    # billing not declared: the table keeps its own (it was switched to on demand), and so does the new index
    assert t2.billing == session.Table(name).billing == cloudorm.Provisioned(read=5, write=5)
    t2 = session.Table(name, hash_key="pk", billing="PAY_PER_REQUEST").save()
    assert (t2.refresh()._description or {})["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    t2.put({"pk": "a", "g": "x"})
    assert [r["pk"] for r in t2.query(g="x").index("by_g")] == ["a"]
    session.Table(name, hash_key="pk", indexes=[]).save()
    assert session.Table(name).schema.indexes == ()
    ranged = session.Table(f"{name}-r", hash_key="pk", range_key="sk").save()
    with pytest.raises(ConflictError, match="local secondary"):
        session.Table(ranged.name, hash_key="pk", range_key="sk",
                      indexes=[cloudorm.LocalIndex("by_l", range_key=("l", "N"))]).save()


def test_ttl(dynamo: cloudorm.Session, name: str) -> None:
    skip_on_dynalite(dynamo, "UpdateTimeToLive")
    dynamo.Table(name, hash_key="pk", ttl="expires").save()
    desc = dynamo.nosql.describe_ttl(name)
    assert desc["TimeToLiveStatus"] in ("ENABLED", "ENABLING") and desc["AttributeName"] == "expires"
    with dynamo.count_requests() as c:
        dynamo.Table(name, hash_key="pk", ttl="expires").save()
    assert c["dynamodb.UpdateTimeToLive"] == 0


def test_tables_listing_is_lazy_and_paged(dynamo: cloudorm.Session) -> None:
    prefix = f"list-{uuid.uuid4().hex[:6]}"
    for i in range(5):
        dynamo.Table(f"{prefix}-{i}", hash_key="pk").save()
    with dynamo.count_requests() as c:
        listing = dynamo.tables().page_size(2)
    assert c.total == 0
    names = [t.name for t in listing if t.name.startswith(prefix)]
    assert names == [f"{prefix}-{i}" for i in range(5)]
    assert len(dynamo.tables().limit(3)[:]) == 3
    first = dynamo.tables().first()
    assert isinstance(first, cloudorm.Table) and cloudorm.state(first) == "saved"
    listed = next(t for t in dynamo.tables() if t.name == f"{prefix}-0")
    assert listed.hash_key == cloudorm.KeyAttr("pk", "S") and cloudorm.state(listed) == "saved"


def test_create_conflicts_and_bad_declarations(dynamo: cloudorm.Session, name: str) -> None:
    bad_declarations = [
        lambda: dynamo.Table(name, hash_key=("pk", "X")),
        lambda: dynamo.Table(name, hash_key=("pk",)),
        lambda: dynamo.Table(name, range_key="sk"),
        lambda: dynamo.Table(name, hash_key="pk", billing="cheap"),
        lambda: dynamo.Table(name, hash_key="pk", indexes=["nope"]),
        lambda: dynamo.Table(name, hash_key="pk", indexes=[cloudorm.GlobalIndex("ab", hash_key="g")]),
        lambda: dynamo.Table(name, hash_key=("pk", "S"),
                             indexes=[cloudorm.GlobalIndex("by_pk", hash_key=("pk", "N"))]),
        lambda: dynamo.Table("x", hash_key="pk"),
        lambda: dynamo.Table("has space", hash_key="pk"),
        lambda: cloudorm.Provisioned(read=0, write=1),
    ]
    with dynamo.count_requests() as c:
        for declare in bad_declarations:
            with pytest.raises(InvalidInput):
                declare()
    assert c.total == 0


def test_bad_waits_and_timeouts_are_refused_before_any_request(dynamo: cloudorm.Session, name: str) -> None:
    table = dynamo.Table(name, hash_key=("pk", "S"))
    attempts = [
        (lambda: table.save(wait="yes"), "wait"),  # type: ignore[arg-type]
        (lambda: table.save(timeout=-1), "timeout"),
        (lambda: table.save(timeout=float("inf")), "timeout"),
        (lambda: table.delete(wait=1), "wait"),  # type: ignore[arg-type]
        (lambda: table.delete(timeout=float("nan")), "timeout"),
        (lambda: table.batch_write(deadline=-5), "deadline"),
        (lambda: table.batch_get([{"pk": "a"}], deadline=float("inf")), "deadline"),
    ]
    assert_refused_before_any_request(dynamo, attempts)
    assert not table.exists()


def test_create_twice_from_two_sessions(dynamo: cloudorm.Session, name: str) -> None:
    dynamo.Table(name, hash_key="pk").save()
    with pytest.raises(AlreadyExists):
        dynamo.nosql.create_table({"TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                                   "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                                   "BillingMode": "PAY_PER_REQUEST"})


def test_a_table_loaded_by_name_reports_its_ttl_and_billing(dynamo: cloudorm.Session, name: str) -> None:
    dynamo.Table(name, hash_key="pk", billing=cloudorm.Provisioned(read=2, write=3)).save()
    loaded = dynamo.Table(name)
    with dynamo.count_requests() as c:
        assert loaded.billing == cloudorm.Provisioned(read=2, write=3)
        assert loaded.ttl is None
    assert c["dynamodb.DescribeTable"] == 1 and c["dynamodb.DescribeTimeToLive"] == 1
    skip_on_dynalite(dynamo, "UpdateTimeToLive")
    dynamo.Table(name, hash_key="pk", ttl="expires").save()
    assert loaded.ttl is None  # as last read ...
    assert loaded.refresh().ttl == "expires"  # ... until refresh()
    # a save declaring only TTL changes only TTL (it switched the table to on demand as well)
    assert dynamo.Table(name).ttl == "expires" and dynamo.Table(name).billing == cloudorm.Provisioned(read=2, write=3)
    named = dynamo.Table(name).refresh()
    assert named.ttl == "expires"
    named.delete()
    named.save()  # recreated with the TTL it was read with
    assert dynamo.Table(name).ttl == "expires"


def test_ttl_is_turned_off_with_false(dynamo: cloudorm.Session, name: str) -> None:
    skip_on_dynalite(dynamo, "UpdateTimeToLive")
    dynamo.Table(name, hash_key="pk", ttl="expires").save()
    with dynamo.count_requests() as c:
        t = dynamo.Table(name, hash_key="pk", ttl=False).save()
    assert c["dynamodb.UpdateTimeToLive"] == 1 and c["dynamodb.UpdateTable"] == 0
    assert dynamo.nosql.describe_ttl(name)["TimeToLiveStatus"] in ("DISABLED", "DISABLING")
    assert t.ttl is None and dynamo.Table(name).ttl is None
    with dynamo.count_requests() as c:
        dynamo.Table(name, hash_key="pk", ttl=False).save()  # already off: nothing to change
    assert c["dynamodb.UpdateTimeToLive"] == 0
    with pytest.raises(InvalidInput, match="ttl"):
        dynamo.Table(name, hash_key="pk", ttl=True)


def test_save_applies_ttl_and_billing_to_a_loaded_table(dynamo: cloudorm.Session, name: str) -> None:
    skip_on_dynalite(dynamo, "UpdateTimeToLive")
    dynamo.Table(name, hash_key="pk").save()
    t = dynamo.Table(name)
    t.ttl = "expires"
    t.billing = cloudorm.Provisioned(read=4, write=4)
    with dynamo.count_requests() as c:
        assert t.save() is t
    assert c["dynamodb.UpdateTable"] == 1 and c["dynamodb.UpdateTimeToLive"] == 1 and c["dynamodb.CreateTable"] == 0
    fresh = dynamo.Table(name)
    assert fresh.ttl == "expires" and fresh.billing == cloudorm.Provisioned(read=4, write=4)
    with dynamo.count_requests() as c:
        t.save()  # nothing differs: nothing is sent but the two reads
        dynamo.Table(name).save()  # nothing declared: nothing changes (not billing back to on demand)
    assert c["dynamodb.UpdateTable"] == 0 and c["dynamodb.UpdateTimeToLive"] == 0
    assert dynamo.Table(name).billing == cloudorm.Provisioned(read=4, write=4)
    t.ttl = None  # left as it is
    t.billing = "PAY_PER_REQUEST"
    with dynamo.count_requests() as c:
        t.save()
    assert c["dynamodb.UpdateTable"] == 1 and c["dynamodb.UpdateTimeToLive"] == 0
    assert dynamo.Table(name).billing == "PAY_PER_REQUEST" and dynamo.Table(name).ttl == "expires"


def test_moving_to_provisioned_gives_global_indexes_throughput(session: cloudorm.Session, name: str) -> None:
    indexes = [cloudorm.GlobalIndex("by_g", hash_key=("g", "S")),
               cloudorm.GlobalIndex("by_h", hash_key=("h", "S"), throughput=cloudorm.Provisioned(read=1, write=1))]
    session.Table(name, hash_key="pk", indexes=indexes[:1]).save()
    with sent_params(session) as calls:
        session.Table(name, hash_key="pk", indexes=indexes, billing=cloudorm.Provisioned(read=3, write=2)).save()
    updates = [p for op, p in calls if op == "UpdateTable"]
    assert updates[0]["BillingMode"] == "PROVISIONED" and updates[0]["GlobalSecondaryIndexUpdates"] == [
        {"Update": {"IndexName": "by_g", "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2}}}]
    assert updates[1]["GlobalSecondaryIndexUpdates"][0]["Create"]["ProvisionedThroughput"] == {
        "ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    assert len(updates) == 2


def test_ttl_moves_to_another_attribute(session: cloudorm.Session, name: str) -> None:
    session.Table(name, hash_key="pk", ttl="a").save()
    with session.count_requests() as c:
        t = session.Table(name, hash_key="pk", ttl="b").save()
    assert c["dynamodb.UpdateTimeToLive"] == 2  # off for a, on for b (DynamoDB: within the hour, see docs)
    assert t.ttl == "b" and session.Table(name).ttl == "b"


def test_invalid_index_declarations_are_refused_before_create(dynamo: cloudorm.Session, name: str) -> None:
    lsi, gsi, table = cloudorm.LocalIndex, cloudorm.GlobalIndex, dynamo.Table
    bad = [
        lambda: table(name, hash_key="pk", indexes=[lsi("by_x", range_key=("x", "S"))]),  # no range key
        lambda: table(name, hash_key="pk", range_key="sk", indexes=[lsi(f"by_{i}", range_key=f"x{i}")
                                                                   for i in range(6)]),
        lambda: table(name, hash_key="pk", range_key="sk", indexes=[lsi("by_pk", range_key="pk")]),
        lambda: table(name, hash_key="pk", indexes=[gsi("by_g", hash_key="g", range_key="g")]),
        lambda: table(name, hash_key="pk", range_key="sk", indexes=[lsi("by_x", range_key="x", projection=["a", "a"])]),
        lambda: table(name, hash_key="pk", range_key="sk", indexes=[
            lsi("by_x", range_key="x", projection=[f"a{i}" for i in range(60)]),
            lsi("by_y", range_key="y", projection=[f"b{i}" for i in range(60)])]),
        lambda: table(name, hash_key="pk", indexes=[
            gsi("by_g", hash_key="g", throughput=cloudorm.Provisioned(read=1, write=1))]),  # on demand table
        lambda: table(name, hash_key="pk", range_key="sk", indexes=[lsi("by_x", range_key="x", projection=[""])]),
        lambda: table(name, hash_key="pk", range_key="sk", indexes=[lsi("by_x", range_key="\ud800")]),
    ]
    with dynamo.count_requests() as c:
        for i, declare in enumerate(bad):
            with pytest.raises(InvalidInput):
                declare().save()
                pytest.fail(f"declaration {i} was accepted")
    assert c.total == 0
    assert not dynamo.Table(name).exists()


@pytest.mark.parametrize(("change", "seed"), [("ttl", 33), ("billing", 53)])
def test_a_lost_settings_response_is_not_an_error(moto_url: str, name: str, change: str, seed: int) -> None:
    # the proxy forwards the UpdateTimeToLive / UpdateTable and drops its response (seeded: exactly that request
    # of the save's sequence); with no re-send (max_attempts=1) the failure reaches save(), which looks at the table
    from cloudorm.testing import FaultProxy
    from tests.conftest import FAKE_CREDS

    direct = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    direct.Table(name, hash_key="pk").save()
    wanted: dict[str, Any] = {"ttl": {"ttl": "expires"}, "billing": {"billing": cloudorm.Provisioned(read=2, write=2)}}
    with FaultProxy(moto_url, rate=0.5, kinds=("drop_after",), seed=seed) as proxy:
        through = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=1)
        through.Table(name, hash_key="pk", **wanted[change]).save()
        assert proxy.stats["drop_after"] == 1
    fresh = direct.Table(name)
    assert (fresh.ttl, fresh.billing) == (("expires", "PAY_PER_REQUEST") if change == "ttl" else
                                          (None, cloudorm.Provisioned(read=2, write=2)))
