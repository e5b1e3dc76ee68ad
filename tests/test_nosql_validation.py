"""Requests DynamoDB would refuse are refused by cloudorm before anything is sent, on every backend (the local cloud
accepts several of them silently): key values of the wrong type, begins_with on numbers, cursors of another table,
index or query, duplicate transaction reads, text that UTF-8 cannot carry, and arguments that are not collections."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import cloudorm
from cloudorm import Attr
from cloudorm.errors import InvalidInput

BAD = "bad\ud800text"  # a lone surrogate: not text that UTF-8 (and so DynamoDB) can carry


def refused(s: cloudorm.Session, attempts: dict[str, Callable[[], Any]]) -> dict[str, InvalidInput]:
    """Run each attempt, each must raise InvalidInput; no request may be sent."""
    errors = {}
    with s.count_requests() as c:
        for what, attempt in attempts.items():
            with pytest.raises(InvalidInput) as e:
                attempt()
                pytest.fail(f"{what} was accepted")
            str(e.value).encode("utf-8")  # the message itself can be printed
            errors[what] = e.value
    assert c.total == 0, c
    return errors


def test_key_values_of_the_wrong_type(orders: cloudorm.Table[cloudorm.Item]) -> None:
    orders.put({"customer": "5", "placed": 1})
    errors = refused(orders.session, {
        "hash": lambda: list(orders.query(customer=5)),
        "range": lambda: list(orders.query(customer="5", placed__gte="1")),
        "between": lambda: list(orders.query(customer="5", placed__between=(1, "9"))),
        "begins_with on a number": lambda: list(orders.query(customer="5", placed__begins_with="1")),
        "begins_with a number": lambda: list(orders.query(customer__begins_with=5)),
        "empty hash": lambda: list(orders.query(customer="")),
        "count": lambda: orders.query(customer=5).count(),
        "get": lambda: orders.get(customer=5, placed=1),
        "get range": lambda: orders.get(customer="5", placed="1"),
        "delete": lambda: orders.delete_item(customer="5", placed="1"),
        "bool for number": lambda: orders.get(customer="5", placed=True),
    })
    assert errors["hash"].field == "customer" and "S" in errors["hash"].reason and "str" in errors["hash"].reason
    assert errors["range"].field == "placed__gte" and "number" in errors["range"].reason
    assert errors["begins_with on a number"].field == "placed__begins_with"
    assert [r["placed"] for r in orders.query(customer="5", placed__gte=1)] == [1]


def test_cursors_of_another_table_index_or_query(dynamo: cloudorm.Session, name: str) -> None:
    orders = dynamo.Table(name, hash_key=("customer", "S"), range_key=("placed", "N"),
                          indexes=[cloudorm.GlobalIndex("by_status", hash_key=("status", "S"))]).save()
    other = dynamo.Table(f"{name}-o", hash_key=("id", "S")).save()
    numbered = dynamo.Table(f"{name}-n", hash_key=("customer", "N"), range_key=("placed", "N")).save()
    try:
        for i in range(4):
            orders.put({"customer": "a", "placed": i, "status": "new"})
            other.put({"id": f"x{i}"})
        q = orders.query(customer="a").limit(2)
        list(q)
        of_query = q.cursor
        s = other.scan().limit(2)
        list(s)
        of_other = s.cursor
        ix = orders.query(status="new").index("by_status").limit(2)
        list(ix)
        of_index = ix.cursor
        assert of_query and of_other and of_index
        refused(dynamo, {
            "another table": lambda: list(orders.query(customer="a").after(of_other)),
            "another table's scan": lambda: list(orders.scan().after(of_other)),
            "an index on the table": lambda: list(orders.query(customer="a").after(of_index)),
            "the table on an index": lambda: list(orders.query(status="new").index("by_status").after(of_query)),
            "another hash key": lambda: list(orders.query(customer="b").after(of_query)),
            "other key types": lambda: list(numbered.query(customer=1).after(of_query)),
        })
        assert [r["placed"] for r in orders.query(customer="a").after(of_query)] == [2, 3]
        assert len(list(orders.query(status="new").index("by_status").after(of_index))) == 2
    finally:
        for t in (orders, other, numbered):
            t.delete(missing_ok=True)


def test_duplicate_transaction_targets(dynamo: cloudorm.Session, name: str) -> None:
    t = dynamo.Table(name, hash_key=("pk", "S"), range_key=("n", "N")).save()
    item = t.Item(pk="a", n=1)
    refused(dynamo, {
        "same key twice": lambda: dynamo.transact_get([(t, {"pk": "a", "n": 1}), (t, {"pk": "a", "n": 1.0})]),
        "item and key": lambda: dynamo.transact_get([item, (t, {"pk": "a", "n": 1})]),
        "None": lambda: dynamo.transact_get(None),  # type: ignore[arg-type]
        "writes": lambda: _two_writes(dynamo, t),
    })


def _two_writes(s: cloudorm.Session, t: cloudorm.Table[cloudorm.Item]) -> None:
    with s.transaction() as tx:
        tx.put(t, {"pk": "a", "n": 1})
        tx.delete(t, {"pk": "a", "n": 1})


def test_arguments_that_are_not_collections(orders: cloudorm.Table[cloudorm.Item]) -> None:
    errors = refused(orders.session, {
        "None": lambda: orders.batch_get(None),  # type: ignore[arg-type]
        "one key": lambda: orders.batch_get({"customer": "a", "placed": 1}),
        "a string": lambda: orders.batch_get("customer"),  # type: ignore[arg-type]
        "a number": lambda: orders.batch_get(5),  # type: ignore[arg-type]
    })
    assert {e.field for e in errors.values()} == {"keys"}
    refused(orders.session, {"attribute name not str": lambda: orders.put({"customer": "a", "placed": 1, 5: "x"})})
    assert orders.batch_get([]) == []
    flags = refused(orders.session, {  # a str is not taken for True
        "exists_ok": lambda: orders.Item(customer="a", placed=1).save(exists_ok="no"),  # type: ignore[arg-type]
        "if_not_exists": lambda: orders.put({"customer": "a", "placed": 1}, if_not_exists="no"),  # type: ignore[arg-type]
        "missing_ok": lambda: orders.Item(customer="a", placed=1).delete(missing_ok="yes"),  # type: ignore[arg-type]
        "table exists_ok": lambda: orders.save(exists_ok="no"),  # type: ignore[arg-type]
    })
    assert [e.field for e in flags.values()] == ["exists_ok", "if_not_exists", "missing_ok", "exists_ok"]


def test_lone_surrogates_are_refused_before_any_request(orders: cloudorm.Table[cloudorm.Item]) -> None:
    errors = refused(orders.session, {
        "hash key": lambda: orders.put({"customer": BAD, "placed": 1}),
        "value": lambda: orders.put({"customer": "a", "placed": 1, "note": BAD}),
        "attribute name": lambda: orders.put({"customer": "a", "placed": 1, BAD: 1}),
        "nested map key": lambda: orders.put({"customer": "a", "placed": 1, "m": {"k": {BAD: 1}}}),
        "nested value": lambda: orders.put({"customer": "a", "placed": 1, "m": {"k": [BAD]}}),
        "set member": lambda: orders.put({"customer": "a", "placed": 1, "tags": {"x", BAD}}),
        "get": lambda: orders.get(customer=BAD, placed=1),
        "query": lambda: list(orders.query(customer=BAD)),
        "filter value": lambda: list(orders.scan().filter(note=BAD)),
        "filter name": lambda: list(orders.scan().filter(Attr(BAD) == 1)),
        "only": lambda: list(orders.scan().only(BAD)),
        "update": lambda: orders.update({"customer": "a", "placed": 1}, Attr("note").set(BAD)),
        "update name": lambda: orders.update({"customer": "a", "placed": 1}, Attr(BAD).set(1)),
        "condition": lambda: orders.put({"customer": "a", "placed": 1}, condition=Attr("note") == BAD),
        "batch": lambda: _batch_put(orders, {"customer": "a", "placed": 1, "note": BAD}),
        "batch get": lambda: orders.batch_get([{"customer": BAD, "placed": 1}]),
        "ttl": lambda: orders.session.Table(orders.name, hash_key="customer", ttl=BAD),
        "key name": lambda: orders.session.Table(orders.name, hash_key=BAD),
    })
    assert errors["value"].field == "note" and "surrogate" in errors["value"].reason
    assert errors["nested value"].field == "m.k[0]"
    assert errors["attribute name"].field == "bad\\ud800text"
    assert orders.query(customer="a").count() == 0


def _batch_put(t: cloudorm.Table[cloudorm.Item], item: dict[str, Any]) -> None:
    with t.batch_write() as b:
        b.put(item)


def test_begins_with_a_number_in_a_filter_or_condition(orders: cloudorm.Table[cloudorm.Item]) -> None:
    """DynamoDB refuses a begins_with whose operand is a number (the local cloud matched nothing)."""
    orders.put({"customer": "5", "placed": 1, "code": "123"})
    errors = refused(orders.session, {
        "filter": lambda: list(orders.scan().filter(code__begins_with=12)),
        "decimal": lambda: list(orders.query(customer="5").filter(code__begins_with=Decimal(1))),
        "bool": lambda: list(orders.scan().filter(code__begins_with=True)),
        "condition": lambda: orders.put({"customer": "5", "placed": 1}, condition=Attr("code").begins_with(1)),
    })
    assert errors["filter"].field == "code__begins_with"
    assert [r["code"] for r in orders.scan().filter(code__begins_with="12")] == ["123"]


def test_key_values_over_dynamodbs_size_limits(dynamo: cloudorm.Session, name: str) -> None:
    """A hash key value over 2048 bytes (UTF-8) or a range key value over 1024 is refused, naming the key."""
    table = dynamo.Table(name, hash_key=("h", "S"), range_key=("r", "B")).save()
    try:
        hash_ok, range_ok = "é" * 1024, b"x" * 1024  # exactly at the limits: 2048 and 1024 bytes
        table.put({"h": hash_ok, "r": range_ok})
        long_hash, long_range = hash_ok + "a", range_ok + b"x"
        errors = refused(dynamo, {
            "put hash": lambda: table.put({"h": long_hash, "r": b"1"}),
            "put range": lambda: table.put({"h": "a", "r": long_range}),
            "get": lambda: table.get(h=long_hash, r=b"1"),
            "delete": lambda: table.delete_item(h="a", r=long_range),
            "update": lambda: table.update({"h": long_hash, "r": b"1"}, Attr("n").set(1)),
        })
        assert errors["put hash"].field == "h" and "2,049 bytes" in errors["put hash"].reason
        assert errors["put range"].field == "r" and "1,024" in errors["put range"].reason
        assert table.get(h=hash_ok, r=range_ok) is not None
    finally:
        table.delete(missing_ok=True)


def test_bad_items_in_a_batch_write_never_reach_the_network(orders: cloudorm.Table[cloudorm.Item]) -> None:
    """botocore's parameter validation is off for DynamoDB (it cost a third of a batch write's CPU), so cloudorm is
    the one check: each bad item is refused before any request."""
    good = {"customer": "a", "placed": 1}
    bad_items: dict[str, dict[Any, Any]] = {
        "key of the wrong type": {"customer": 5, "placed": 1},
        "missing range key": {"customer": "a"},
        "empty string key": {"customer": "", "placed": 1},
        "unsupported value": {**good, "x": object()},
        "NaN": {**good, "x": float("nan")},
        "infinity": {**good, "x": float("inf")},
        "attribute name not a string": {**good, 5: "x"},
        "empty attribute name": {**good, "": "x"},
        "over 400 KB": {**good, "blob": b"x" * 410_000},
        "number out of range": {**good, "x": Decimal("1e126")},
        "mixed set": {**good, "x": {1, "a"}},
        "empty map key": {**good, "m": {"": 1, "k": 2}},
        "empty map key deeper": {**good, "m": {"l": [{"": 1}]}},
        "name over 64 KB": {**good, "n" * 65_536: 1},
        "map key over 64 KB": {**good, "m": {"é" * 32_768: 1}},
    }

    errors = refused(orders.session, {what: (lambda item=item: _batch_put(orders, item))
                                      for what, item in bad_items.items()})
    assert set(errors) == set(bad_items)


def test_empty_attribute_names_in_expressions_never_reach_the_network(orders: cloudorm.Table[cloudorm.Item]) -> None:
    """The local cloud stored ``SET #n = :v`` with an empty name as a broken item that no read could decode."""
    refused(orders.session, {
        "update": lambda: orders.update({"customer": "a", "placed": 1}, Attr.top("").set(1)),
        "filter": lambda: list(orders.scan().filter(**{"": 1})),
        "condition": lambda: orders.put({"customer": "a", "placed": 1}, condition=Attr.top("").exists()),
    })
    refused(orders.session, {"name of 64 KB and one byte": lambda: orders.put(
        {"customer": "a", "placed": 1, "x" * 65_535: 1, "m": {"y" * 65_536: 1}})})
    orders.put({"customer": "a", "placed": 1, "x" * 65_535: 1})  # the longest name DynamoDB takes
