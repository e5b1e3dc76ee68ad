"""Changing an item's key (``table.change_key``, ``item.change_key``): one transaction of a conditional delete and a
conditional put, on the local cloud, aws→moto and dynalite (which has no transactions: refused, nothing written),
with another writer in between and with the answer lost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import boto3
import pytest

import cloudorm
from cloudorm import Attr
from cloudorm.errors import AlreadyExists, ConflictError, InvalidInput, NotFound, Unsupported
from cloudorm.nosql import codec
from cloudorm.nosql.change_key import MAX_EXPRESSION
from tests.conftest import FAKE_CREDS, assert_refused_before_any_request
from tests.test_lost_responses_nosql import LoseOnce


@cloudorm.model(table="unused")
class Order(cloudorm.Item):
    """A versioned, typed row."""

    customer: str = cloudorm.hash_key()
    placed: int = cloudorm.range_key()
    total: Decimal = Decimal(0)
    version: int = cloudorm.version()


@cloudorm.model(table="unused")
class Note(cloudorm.Item):
    """A typed row without a version."""

    id: str = cloudorm.hash_key()
    text: str = ""


def _refuses_without_transactions(s: cloudorm.Session) -> bool:
    return getattr(s, "backend", None) == "dynalite"


@pytest.fixture
def orders(dynamo: cloudorm.Session) -> Iterator[cloudorm.Table[cloudorm.Item]]:
    table = dynamo.Table(f"ck-{uuid.uuid4().hex[:10]}", hash_key=("customer", "S"), range_key=("placed", "N")).save()
    yield table
    table.delete(missing_ok=True, wait=False)


def test_change_key_keeps_every_attribute_and_refuses_a_taken_key(orders: cloudorm.Table[cloudorm.Item]) -> None:
    s = orders.session
    orders.put({"customer": "a", "placed": 1, "total": Decimal("2.50"), "tags": {"x", "y"}, "nested": {"k": [1, "z"]},
                "none": None, "blob": b"\x00\x01", "empty": ""})
    if _refuses_without_transactions(s):
        with pytest.raises(Unsupported) as e:
            orders.change_key({"customer": "a", "placed": 1}, placed=2)
        assert e.value.area == "TransactWriteItems"
        assert [r["placed"] for r in orders.scan().consistent()] == [1]  # nothing written
        return
    with s.count_requests() as c:
        moved = orders.change_key({"customer": "a", "placed": 1}, customer="b", placed=2)
    assert dict(c.by_operation) == {"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1}
    assert dict(moved) == {"customer": "b", "placed": 2, "total": Decimal("2.50"), "tags": {"x", "y"},
                           "nested": {"k": [1, "z"]}, "none": None, "blob": b"\x00\x01", "empty": ""}
    assert [dict(r) for r in orders.scan().consistent()] == [dict(moved)]
    assert cloudorm.state(moved) == "saved"
    orders.put({"customer": "c", "placed": 1, "mine": True})
    with pytest.raises(AlreadyExists) as taken:  # the new key is taken: neither half is applied
        orders.change_key({"customer": "b", "placed": 2}, customer="c", placed=1)
    assert "'customer': 'c'" in str(taken.value)
    assert dict(orders.get(customer="c", placed=1) or {}) == {"customer": "c", "placed": 1, "mine": True}
    assert orders.get(customer="b", placed=2, consistent=True) == moved
    with pytest.raises(NotFound):
        orders.change_key({"customer": "nobody", "placed": 1}, placed=2)


def test_bad_keys_are_refused_before_any_request(orders: cloudorm.Table[cloudorm.Item]) -> None:
    old = {"customer": "a", "placed": 1}
    assert_refused_before_any_request(orders.session, [
        (lambda: orders.change_key(old, placed=1), "key"),  # the same key
        (lambda: orders.change_key(old, placed=Decimal("1.0")), "key"),  # stored alike: the same key too
        (lambda: orders.change_key(old), "key"),  # nothing to change
        (lambda: orders.change_key(old, total=3), "total"),  # not a key attribute
        (lambda: orders.change_key(old, placed="two"), "placed"),  # the wrong type
        (lambda: orders.change_key(old, customer=""), "customer"),
        (lambda: orders.change_key({"customer": "a"}, placed=2), "placed"),  # the old key incomplete
        (lambda: orders.Item(customer="a", placed=1).change_key(placed=2), "item"),  # never stored
    ])


def test_a_row_moved_by_another_writer_or_changed_since_it_was_read_is_not_moved(
        orders: cloudorm.Table[cloudorm.Item]) -> None:
    s = orders.session
    if _refuses_without_transactions(s):
        pytest.skip("dynalite has no transactions")
    row = orders.put({"customer": "a", "placed": 1, "note": "first"})
    row = orders.get(customer="a", placed=1, consistent=True)
    assert row is not None
    orders.update({"customer": "a", "placed": 1}, Attr("note").set("second"))  # another writer
    with pytest.raises(ConflictError) as e:
        row.change_key(placed=2)
    assert e.value.item is not None and e.value.item["note"] == "second"
    assert "changed since it was read" in str(e.value)
    assert [r["placed"] for r in orders.scan().consistent()] == [1]
    row.refresh()
    orders.delete_item(customer="a", placed=1)  # gone before the move
    with pytest.raises(NotFound):
        row.change_key(placed=2)
    assert list(orders.scan().consistent()) == []


def test_item_change_key_moves_the_row_as_it_is_now(orders: cloudorm.Table[cloudorm.Item]) -> None:
    if _refuses_without_transactions(orders.session):
        pytest.skip("dynalite has no transactions")
    row = orders.put({"customer": "a", "placed": 1, "x": 1})
    row["x"] = 2  # a change not saved yet is written with the move
    row["placed"] = 5  # a key changed in place counts as given
    assert row.change_key() is row
    assert cloudorm.state(row) == "saved" and dict(row) == {"customer": "a", "placed": 5, "x": 2}
    assert [dict(r) for r in orders.scan().consistent()] == [{"customer": "a", "placed": 5, "x": 2}]
    row.change_key(customer="b")
    assert [(r["customer"], r["placed"]) for r in orders.scan().consistent()] == [("b", 5)]
    with pytest.raises(InvalidInput):
        orders.scan().only("customer", "placed").first().change_key(placed=6)  # type: ignore[union-attr]


def test_a_typed_versioned_row_keeps_undeclared_attributes_and_its_version_goes_up(
        dynamo: cloudorm.Session) -> None:
    if _refuses_without_transactions(dynamo):
        pytest.skip("dynalite has no transactions")
    table = dynamo.Table(f"ck-{uuid.uuid4().hex[:10]}", model=Order).save()
    try:
        table.put(Order(customer="a", placed=1, total=Decimal("3")))
        dynamo.nosql.update_item({"TableName": table.name, "Key": {"customer": {"S": "a"}, "placed": {"N": "1"}},
                                  "UpdateExpression": "SET #e = :e", "ExpressionAttributeNames": {"#e": "extra"},
                                  "ExpressionAttributeValues": {":e": {"S": "kept"}}})  # written by another program
        row = table.get(customer="a", placed=1, consistent=True)
        assert row is not None and row.version == 1 and cloudorm.undeclared(row) == {"extra": "kept"}
        stale = table.get(customer="a", placed=1, consistent=True)
        row.change_key(placed=2)
        assert (row.placed, row.version, cloudorm.state(row)) == (2, 2, "saved")
        stored = table.get(customer="a", placed=2, consistent=True)
        assert stored is not None and stored.version == 2 and stored.total == Decimal("3")
        assert cloudorm.undeclared(stored) == {"extra": "kept"}
        assert table.get(customer="a", placed=1, consistent=True) is None
        assert stale is not None
        with pytest.raises(NotFound):  # its copy of the old row is gone
            stale.change_key(placed=3)
        moved = table.change_key({"customer": "a", "placed": 2}, placed=7)
        assert isinstance(moved, Order) and moved.version == 3 and cloudorm.undeclared(moved) == {"extra": "kept"}
        copy = table.get(customer="a", placed=7, consistent=True)
        assert copy is not None
        copy.total = Decimal("9")
        copy.save()  # another writer: version 4
        with pytest.raises(ConflictError) as e:  # this copy holds version 3: the version condition refuses it
            moved.change_key(placed=8)
        assert e.value.item.version == 4
        assert [(o.placed, o.version) for o in table.scan().consistent()] == [(7, 4)]
    finally:
        table.delete(wait=False)


def test_without_a_version_the_condition_names_every_attribute_and_a_too_wide_item_is_refused(
        dynamo: cloudorm.Session) -> None:
    if _refuses_without_transactions(dynamo):
        pytest.skip("dynalite has no transactions")
    table = dynamo.Table(f"ck-{uuid.uuid4().hex[:10]}", model=Note).save()
    try:
        wide = {f"attribute_{i:03}": i for i in range(MAX_EXPRESSION // 16)}
        dynamo.nosql.put_item({"TableName": table.name, "Item": codec.encode_item({"id": "wide", **wide})})
        with dynamo.count_requests() as c, pytest.raises(InvalidInput) as e:
            table.change_key({"id": "wide"}, id="wider")
        assert e.value.field == "item" and "version" in e.value.reason and c.total == 1  # the read, no write
        table.put(Note(id="n", text="hello"))
        note = table.change_key({"id": "n"}, id="m")
        assert isinstance(note, Note) and note.text == "hello"
    finally:
        table.delete(wait=False)


@pytest.mark.parametrize("backend", ["moto", "dynalite"])
def test_a_lost_answer_is_applied_once(backend: str, request: pytest.FixtureRequest) -> None:
    """The answer to the TransactWriteItems is dropped after the service applied it: botocore sends it again with
    the same ClientRequestToken, and the local cloud answers it as applied instead of failing its conditions."""
    url: str = request.getfixturevalue("moto_url" if backend == "moto" else "dynalite_url")
    with LoseOnce(url, backend) as proxy:
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=5)
        table = s.Table(f"ck-{uuid.uuid4().hex[:10]}", hash_key=("id", "S")).save()
        try:
            table.put({"id": "old", "v": 1})
            proxy.lose("TransactWriteItems")
            if backend == "dynalite":
                with pytest.raises(Unsupported):
                    table.change_key({"id": "old"}, id="new")
                assert [r["id"] for r in table.scan().consistent()] == ["old"]
                return
            moved = table.change_key({"id": "old"}, id="new")  # without the token: ConflictError (old is gone)
            assert proxy.stats["drop_after"] == 1 and dict(moved) == {"id": "new", "v": 1}
            direct = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                                  aws_access_key_id=FAKE_CREDS["aws_access_key_id"],
                                  aws_secret_access_key=FAKE_CREDS["aws_secret_access_key"])
            assert direct.scan(TableName=table.name, ConsistentRead=True)["Items"] == [
                {"id": {"S": "new"}, "v": {"N": "1"}}]
        finally:
            table.delete(wait=False)
