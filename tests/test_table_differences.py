"""A table's declaration against the live table (``differences()`` / ``matches()``, the Cloud package's
``Confirm_Table``), and turning TTL off end to end, on the local cloud, aws→moto and dynalite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import cloudorm
from cloudorm import GlobalIndex, LocalIndex, Provisioned
from cloudorm.errors import NotFound, Unsupported
from cloudorm.nosql.differences import Difference


@pytest.fixture
def table_name(dynamo: cloudorm.Session) -> Iterator[str]:
    name = f"df-{uuid.uuid4().hex[:10]}"
    yield name
    dynamo.Table(name).delete(missing_ok=True, wait=False)


def test_a_table_that_matches_its_declaration_has_no_differences(dynamo: cloudorm.Session, table_name: str) -> None:
    s = dynamo
    declared = s.Table(table_name, hash_key=("id", "S"), range_key=("n", "N"),
                       indexes=[GlobalIndex("by_status", hash_key="status"), LocalIndex("by_total", ("total", "N"))])
    declared.save()
    with s.count_requests() as c:
        assert declared.differences() == [] and declared.matches()
    # (saved, it knows TTL is off, so that is compared too)
    assert dict(c.by_operation) == {"dynamodb.DescribeTable": 2, "dynamodb.DescribeTimeToLive": 2}
    again = s.Table(table_name, hash_key=("id", "S"), range_key=("n", "N"))
    with s.count_requests() as c:
        assert again.matches() and cloudorm.state(again) == "new"  # it only answers: nothing loaded or changed
    assert dict(c.by_operation) == {"dynamodb.DescribeTable": 1}  # no TTL declared: no DescribeTimeToLive
    assert s.Table(table_name).matches()  # nothing declared: nothing to differ


def test_each_difference_reads_as_a_sentence(dynamo: cloudorm.Session, table_name: str) -> None:
    s = dynamo
    s.Table(table_name, hash_key=("id", "S"), range_key=("n", "N"),
            indexes=[GlobalIndex("by_status", hash_key="status"), GlobalIndex("old_one", hash_key="x")]).save()
    other = s.Table(table_name, hash_key=("id", "N"), range_key=None, billing=Provisioned(2, 3),
                    indexes=[GlobalIndex("by_status", hash_key=("status", "N"), projection="KEYS_ONLY"),
                             GlobalIndex("new_one", hash_key="y")])
    found = other.differences()
    assert all(isinstance(d, Difference) for d in found) and not other.matches()
    assert [d.what for d in found] == ["hash_key", "range_key", "index by_status", "index new_one", "index old_one",
                                       "billing"]
    text = [str(d) for d in found]
    assert text[0] == "hash key: declared id (N), the table has id (S)"
    assert text[1] == "range key: declared none, the table has n (N)"
    assert text[2] == ("index by_status: declared global, hash status (N), projection KEYS_ONLY; the table has "
                       "global, hash status (S), projection ALL")
    assert text[3] == "index new_one: declared (global, hash y (S), projection ALL), not on the table"
    assert text[4] == "index old_one: on the table (global, hash x (S), projection ALL), not declared"
    assert text[5] == "billing: declared Provisioned(read=2, write=3), the table has PAY_PER_REQUEST"
    assert found[0].declared.type == "N" and found[0].actual.type == "S"


def test_a_saved_table_answers_for_what_it_saved(dynamo: cloudorm.Session, table_name: str) -> None:
    """After save() the object holds what it declared: a change made behind its back is a difference."""
    s = dynamo
    t = s.Table(table_name, hash_key=("id", "S"), billing=Provisioned(1, 1)).save()
    assert t.matches()
    s.Table(table_name, billing="PAY_PER_REQUEST").save()  # another program changes the billing
    assert [str(d) for d in t.differences()] == [
        "billing: declared Provisioned(read=1, write=1), the table has PAY_PER_REQUEST"]
    assert t.billing == Provisioned(1, 1)  # only answered: the object is unchanged


def test_a_missing_table_is_not_found(dynamo: cloudorm.Session) -> None:
    missing = dynamo.Table(f"df-{uuid.uuid4().hex[:10]}", hash_key="id")
    with pytest.raises(NotFound):
        missing.differences()
    with pytest.raises(NotFound):
        missing.matches()


def test_ttl_off_end_to_end(dynamo: cloudorm.Session, table_name: str) -> None:
    """``ttl=False`` creates a table without TTL, turns TTL off on an existing one with one UpdateTimeToLive (and
    nothing when it is off already), and is compared by ``differences()``. dynalite has no UpdateTimeToLive:
    turning TTL on there is Unsupported, and off needs no call."""
    s = dynamo
    created = s.Table(table_name, hash_key=("id", "S"), ttl=False).save()
    assert created.ttl is None and s.Table(table_name).ttl is None
    if getattr(s, "backend", None) == "dynalite":
        with pytest.raises(Unsupported):
            s.Table(table_name, ttl="expires").save()
    else:
        s.Table(table_name, ttl="expires").save()
        assert s.Table(table_name).ttl == "expires"
        assert [str(d) for d in s.Table(table_name, ttl=False).differences()] == [
            "ttl: declared off, the table has it on expires"]
        off = s.Table(table_name, ttl=False)
        with s.count_requests() as c:
            off.save()
        assert dict(c.by_operation) == {"dynamodb.DescribeTable": 1, "dynamodb.DescribeTimeToLive": 1,
                                        "dynamodb.UpdateTimeToLive": 1}
        assert off.ttl is None and cloudorm.state(off) == "saved"
        assert s.nosql.describe_ttl(table_name)["TimeToLiveStatus"] in ("DISABLED", "DISABLING")
    off = s.Table(table_name, ttl=False)
    with s.count_requests() as c:
        off.save()  # off already: nothing to send
    assert dict(c.by_operation) == {"dynamodb.DescribeTable": 1, "dynamodb.DescribeTimeToLive": 1}
    assert s.Table(table_name).ttl is None and s.Table(table_name, ttl=False).matches()
    created.ttl = False  # on a saved table too: already off, nothing to send
    with s.count_requests() as c:
        created.save()
    assert c.total == 0 and not created.ttl and cloudorm.state(created) == "saved"
