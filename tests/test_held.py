"""Change tracking without a copy of the response (``cloudorm.nosql.held``): a row read from a table keeps only
what it needs to know what changed, and every way of changing it is still seen by ``save()``."""

from __future__ import annotations

import copy
import gc
import pickle
import tracemalloc
import uuid
from typing import Any

import attrs
import pytest

import cloudorm
from cloudorm.nosql import codec

NESTED = {"customer": "A", "placed": 1, "n": 1, "s": "x", "tags": {"a", "b"}, "nums": {1, 2},
          "map": {"inner": {"l": [1, {"deep": "y"}]}, "f": "v"}, "lines": [{"sku": "s1", "qty": 2}]}


@pytest.fixture
def stored(orders: cloudorm.Table[cloudorm.Item]) -> cloudorm.Table[cloudorm.Item]:
    """The orders table holding NESTED."""
    orders.put(copy.deepcopy(NESTED))
    return orders


def _read(table: cloudorm.Table[cloudorm.Item], how: str) -> cloudorm.Item:
    if how == "get":
        item = table.get(customer="A", placed=1)
        assert item is not None
        return item
    return next(iter(table.query(customer="A")))


def _stored_now(table: cloudorm.Table[cloudorm.Item]) -> dict[str, Any]:
    got = table.get(customer="A", placed=1, consistent=True)
    assert got is not None
    return dict(got)


CHANGES = {
    "getitem nested list": lambda i: i["map"]["inner"]["l"].append(3),
    "getitem deep map": lambda i: i["map"]["inner"]["l"][1].update(deep="z"),
    "get set": lambda i: i.get("tags").add("c"),
    "items list": lambda i: dict(i.items())["lines"][0].update(qty=5),
    "values map": lambda i: next(v for v in i.values() if isinstance(v, dict)).update(f="w"),
    "dict() copy": lambda i: dict(i)["nums"].discard(1),
    "replace": lambda i: i.__setitem__("s", "changed"),
    "delete": lambda i: i.__delitem__("n"),
    "add": lambda i: i.__setitem__("new", [1]),
}


def test_every_way_of_changing_a_read_item_is_saved(stored: cloudorm.Table[cloudorm.Item]) -> None:
    for how in ("get", "query"):
        for change in sorted(CHANGES):
            stored.put(copy.deepcopy(NESTED))
            item = _read(stored, how)
            assert cloudorm.changes(item) == set()
            CHANGES[change](item)
            expected = dict(item)
            assert len(cloudorm.changes(item)) == 1, (how, change)
            item.save()
            assert _stored_now(stored) == expected, (how, change)
            assert cloudorm.changes(item) == set()


def test_a_value_handed_out_before_a_save_is_still_tracked_after_it(stored: cloudorm.Table[cloudorm.Item]) -> None:
    item = _read(stored, "query")
    lines = item["lines"]
    tags = item["tags"]
    item["s"] = "one"
    item.save()
    lines.append({"sku": "s2", "qty": 1})  # changed in place after the save, through the reference kept
    tags.discard("a")
    assert cloudorm.changes(item) == {"lines", "tags"}
    item.save()
    assert _stored_now(stored) == dict(item)


def test_changes_undone_are_no_changes(stored: cloudorm.Table[cloudorm.Item]) -> None:
    item = _read(stored, "get")
    item["lines"][0]["qty"] = 9
    item["lines"][0]["qty"] = 2
    item["s"] = "other"
    item["s"] = "x"
    del item["n"]
    item["n"] = 1
    item["tmp"] = 1
    del item["tmp"]
    with stored.session.count_requests() as counter:
        item.save()
    assert counter.total == 0


def test_replacing_a_handed_out_value_keeps_what_was_stored(stored: cloudorm.Table[cloudorm.Item]) -> None:
    item = _read(stored, "get")
    held = item["map"]
    held["f"] = "changed in place"
    item["map"] = {"f": "v", "inner": {"l": [1, {"deep": "y"}]}}  # back to what is stored
    assert cloudorm.changes(item) == set()
    item["map"] = {"other": 1}
    assert cloudorm.changes(item) == {"map"}


def test_pickled_read_items_track_their_own_changes(stored: cloudorm.Table[cloudorm.Item]) -> None:
    item = _read(stored, "get")
    restored = pickle.loads(pickle.dumps(dict(item)))
    twin = cloudorm.Item(restored)
    assert cloudorm.state(twin) == "new"
    copied = pickle.loads(pickle.dumps(item._co_snapshot))  # what a read item holds pickles on its own
    assert copied.values() == dict(item)
    item["tags"].add("z")
    assert cloudorm.changes(item) == {"tags"} and copied.values()["tags"] == {"a", "b"}


@cloudorm.model(table="held_typed")
class Doc(cloudorm.Item):
    """A typed row whose fields pass containers through cattrs unchanged (``Any``) or rebuild them."""

    id: str = cloudorm.hash_key()
    meta: dict[str, Any] = attrs.field(factory=dict)
    items: list[Any] = attrs.field(factory=list)
    labels: set[str] = attrs.field(factory=set)


@pytest.fixture
def docs(dynamo: cloudorm.Session) -> Any:
    table = dynamo.Table(f"held-{uuid.uuid4().hex[:10]}", model=Doc).save()
    table.put(Doc(id="a", meta={"l": [1, 2], "m": {"k": "v"}}, items=[{"x": 1}], labels={"p"}))
    yield table
    table.delete(missing_ok=True)


def test_typed_rows_see_changes_in_place_of_containers_shared_with_what_was_read(docs: Any) -> None:
    changes = {"meta list": lambda r: r.meta["l"].append(3), "meta map": lambda r: r.meta["m"].update(k="w"),
               "items map": lambda r: r.items[0].update(x=2), "labels": lambda r: r.labels.add("q")}
    for name, change in changes.items():
        row = next(iter(docs.query(id="a")))
        change(row)  # before anything looked at the row's changes
        assert len(cloudorm.changes(row)) == 1, name
        row.save()
        assert docs.get(id="a", consistent=True) == row, name


def test_rows_read_keep_no_copy_of_the_response(stored: cloudorm.Table[cloudorm.Item]) -> None:
    """A read item costs about what its decoded values cost (before, ~3.6x: it also kept the parsed response)."""
    with stored.batch_write() as batch:
        for i in range(2, 202):
            batch.put({**copy.deepcopy(NESTED), "placed": i})
    response = stored.session.nosql.query({"TableName": stored.name, "KeyConditionExpression": "#c = :c",
                                           "ExpressionAttributeNames": {"#c": "customer"},
                                           "ExpressionAttributeValues": {":c": {"S": "A"}}})
    wires = response["Items"]

    def held_bytes(build: Any) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            kept = [build(copy.deepcopy(w)) for w in wires]
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        del kept
        return size

    plain = held_bytes(codec.decode_item)
    rows = held_bytes(stored._row)
    assert rows <= 1.25 * plain, (rows, plain)
