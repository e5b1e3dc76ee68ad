"""Items on every DynamoDB backend: put/get/delete, conditions, atomic updates, change tracking, lifecycle."""

from __future__ import annotations

from decimal import Decimal

import pytest

import cloudorm
from cloudorm import Attr
from cloudorm.errors import AlreadyExists, ConflictError, InvalidInput, NotFound
from tests.conftest import sent_params, skip_on_dynalite


def test_put_get_roundtrip_all_types(orders: cloudorm.Table[cloudorm.Item]) -> None:
    data = {"customer": "A", "placed": 5, "total": 2.45, "exact": Decimal("0.1"), "ok": True, "none": None,
            "blob": b"\x00\xff", "tags": {"x", "y"}, "nums": {1, 2}, "bins": {b"a"}, "list": [1, "a", [True]],
            "map": {"nested": {"deep": [1, {"k": "v"}]}}, "empty_str": "", "empty_list": [], "empty_map": {}}
    orders.put(data)
    got = orders.get(customer="A", placed=5)
    assert got is not None
    assert got["total"] == Decimal("2.45") and isinstance(got["total"], Decimal)
    assert got["placed"] == 5 and isinstance(got["placed"], int)
    assert got["exact"] == Decimal("0.1")
    assert got["blob"] == b"\x00\xff" and got["bins"] == {b"a"}
    assert got["tags"] == {"x", "y"} and got["nums"] == {1, 2}
    assert got["list"] == [1, "a", [True]] and got["map"] == {"nested": {"deep": [1, {"k": "v"}]}}
    assert got["none"] is None and got["ok"] is True
    assert got["empty_str"] == "" and got["empty_list"] == [] and got["empty_map"] == {}
    assert dict(got) == {**data, "total": Decimal("2.45")}


def test_get_missing_is_none_and_key_is_checked(orders: cloudorm.Table[cloudorm.Item]) -> None:
    assert orders.get(customer="nobody", placed=1) is None
    with orders.session.count_requests() as c:
        with pytest.raises(InvalidInput) as e:
            orders.get(customer="A")
        assert e.value.field == "placed"
        with pytest.raises(InvalidInput, match="cannot be empty"):
            orders.put({"customer": "", "placed": 1})
        with pytest.raises(InvalidInput, match="type N"):
            orders.put({"customer": "A", "placed": "one"})
        with pytest.raises(InvalidInput) as e:
            orders.get(customer="A", placed=1, total=3)
        assert e.value.field == "total"
    assert c.total == 0


def test_put_rejects_bad_values_before_any_request(orders: cloudorm.Table[cloudorm.Item]) -> None:
    with orders.session.count_requests() as c:
        with pytest.raises(InvalidInput) as e:
            orders.put({"customer": "A", "placed": 1, "x": float("nan")})
        assert e.value.field == "x"
        with pytest.raises(InvalidInput) as e:
            orders.put({"customer": "A", "placed": 1, "m": {"inner": [1, object()]}})
        assert e.value.field == "m.inner[1]"
        with pytest.raises(InvalidInput, match="limited to"):
            orders.put({"customer": "A", "placed": 1, "big": "x" * 410_000})
        with pytest.raises(InvalidInput, match="38"):
            orders.put({"customer": "A", "placed": 1, "n": Decimal("1." + "1" * 40)})
    assert c.total == 0


def test_if_not_exists_and_conditions(orders: cloudorm.Table[cloudorm.Item]) -> None:
    orders.put({"customer": "A", "placed": 1, "status": "new"}, if_not_exists=True)
    with pytest.raises(AlreadyExists):
        orders.put({"customer": "A", "placed": 1}, if_not_exists=True)
    with pytest.raises(ConflictError) as e:
        orders.put({"customer": "A", "placed": 1, "status": "paid"}, condition=Attr("status") == "shipped")
    assert e.value.code == "ConditionalCheckFailedException"
    orders.put({"customer": "A", "placed": 1, "status": "paid"}, condition=Attr("status") == "new")
    got = orders.get(customer="A", placed=1)
    assert got is not None and got["status"] == "paid"


def test_a_new_items_save_adopts_the_stored_item(orders: cloudorm.Table[cloudorm.Item]) -> None:
    orders.put({"customer": "A", "placed": 1, "status": "new", "kept": "yes"})
    with orders.session.count_requests() as c:
        item = orders.Item(customer="A", placed=1, status="paid", tags=set()).save()  # one UpdateItem
        key_only = orders.Item(customer="B", placed=2).save()  # a key alone, absent: a conditional put
    assert c.total == 2
    assert dict(orders.Item(customer="A", placed=1).save()) == dict(item)  # present: adopted (put refused, read)
    assert cloudorm.state(item) == "saved" and not cloudorm.changes(item)
    assert dict(item) == {"customer": "A", "placed": 1, "status": "paid", "kept": "yes"}  # it now holds it all
    assert dict(orders.get(customer="A", placed=1) or {}) == dict(item)
    assert dict(key_only) == {"customer": "B", "placed": 2} and orders.get(customer="B", placed=2) is not None
    with pytest.raises(AlreadyExists):
        orders.Item(customer="A", placed=1, status="x").save(exists_ok=False)
    assert (orders.get(customer="A", placed=1) or {})["status"] == "paid"
    orders.put(orders.Item(customer="A", placed=1))  # put is the explicit full replace
    assert dict(orders.get(customer="A", placed=1) or {}) == {"customer": "A", "placed": 1}


def test_delete_item_missing_raises_unless_missing_ok(orders: cloudorm.Table[cloudorm.Item]) -> None:
    orders.put({"customer": "A", "placed": 1})
    orders.delete_item(customer="A", placed=1)
    assert orders.get(customer="A", placed=1) is None
    with pytest.raises(NotFound):
        orders.delete_item(customer="A", placed=1)
    orders.delete_item(customer="A", placed=1, missing_ok=True)


def test_atomic_updates(orders: cloudorm.Table[cloudorm.Item]) -> None:
    key = {"customer": "A", "placed": 1}
    orders.put({**key, "tags": {"a", "b"}, "tmp": 1, "log": ["x"]})
    with orders.session.count_requests() as c, pytest.raises(InvalidInput, match=r"twice"):
        orders.update(key, Attr("tags").add({"c"}), Attr("tags").discard({"a"}))
    assert c.total == 0
    orders.update(key, Attr("tags").discard({"a"}))
    row = orders.update(key, Attr("visits").add(1), Attr("tags").add({"c"}),
                        Attr("tmp").remove(), Attr("created").set_if_missing("today"), Attr("log").append(["y"]))
    assert row["visits"] == 1 and row["tags"] == {"b", "c"} and "tmp" not in row
    assert row["created"] == "today" and row["log"] == ["x", "y"]
    row = orders.update(key, Attr("visits").add(5), Attr("created").set_if_missing("tomorrow"),
                        Attr("log").prepend(["w"]))
    assert row["visits"] == 6 and row["created"] == "today" and row["log"] == ["w", "x", "y"]
    with pytest.raises(ConflictError):
        orders.update(key, Attr("visits").add(1), condition=Attr("visits") > 100)
    row = orders.update(key, Attr("tags").set(set()))  # an empty set is REMOVEd, never sent
    assert "tags" not in row
    with pytest.raises(InvalidInput):
        orders.update(key, Attr("visits").add("one"))


def test_update_on_nested_paths_and_reserved_words(orders: cloudorm.Table[cloudorm.Item]) -> None:
    key = {"customer": "A", "placed": 1}
    orders.put({**key, "data": {"status": {"name": "x"}}, "list": [{"n": 1}]})
    row = orders.update(key, Attr("data.status.name").set("y"), Attr("list[0].n").add(2))
    assert row["data"] == {"status": {"name": "y"}} and row["list"] == [{"n": 3}]


def test_schemaless_item_is_dict_like(orders: cloudorm.Table[cloudorm.Item]) -> None:
    item = orders.Item(customer="A", placed=1, name="first")
    assert cloudorm.state(item) == "new"
    item.save()
    assert cloudorm.state(item) == "saved"
    item["status"] = "paid"
    assert "status" in item and item.get("missing", 3) == 3 and len(item) == 4
    assert sorted(item) == ["customer", "name", "placed", "status"]
    assert cloudorm.state(item) == "changed" and cloudorm.changes(item) == {"status"}
    item.save()
    again = orders.get(customer="A", placed=1)
    assert again == item
    item.delete()
    assert cloudorm.state(item) == "deleted"
    assert orders.get(customer="A", placed=1) is None
    with pytest.raises(NotFound):
        item.refresh()


def test_save_sends_only_changed_attributes(orders: cloudorm.Table[cloudorm.Item]) -> None:
    orders.put({"customer": "A", "placed": 1, "a": 1, "b": {"x": [1, 2]}, "c": "keep", "tags": {"t"}})
    item = orders.get(customer="A", placed=1)
    assert item is not None
    s = orders.session
    with s.count_requests() as c:
        item.save()  # nothing changed: nothing sent
    assert c.total == 0
    item["a"] = 2
    item["b"]["x"].append(3)  # nested mutation is seen
    del item["c"]
    item["tags"] = set()  # an emptied set is REMOVEd
    with sent_params(s) as calls, s.count_requests() as c:
        item.save()
    assert c.total == 1
    (op, params), = calls
    assert op == "UpdateItem"
    names = params["ExpressionAttributeNames"]
    touched = set(names.values())
    assert touched == {"a", "b", "c", "tags", "customer"}  # customer: the must-exist condition
    assert "SET" in params["UpdateExpression"] and "REMOVE" in params["UpdateExpression"]
    got = orders.get(customer="A", placed=1)
    assert got is not None
    assert dict(got) == {"customer": "A", "placed": 1, "a": 2, "b": {"x": [1, 2, 3]}}
    item["a"] = Decimal(2)  # equal as stored: no change
    assert cloudorm.changes(item) == set()


def test_saving_a_loaded_item_that_was_deleted_elsewhere(orders: cloudorm.Table[cloudorm.Item]) -> None:
    orders.put({"customer": "A", "placed": 1, "a": 1})
    item = orders.get(customer="A", placed=1)
    assert item is not None
    orders.delete_item(customer="A", placed=1)
    item["a"] = 2
    with pytest.raises(NotFound):
        item.save()
    assert orders.get(customer="A", placed=1) is None  # no partial item was created


def test_key_attributes_cannot_change_on_save(orders: cloudorm.Table[cloudorm.Item]) -> None:
    item = orders.put({"customer": "A", "placed": 1})
    item["placed"] = 2
    with pytest.raises(InvalidInput) as e:
        item.save()
    assert e.value.field == "placed"


def test_item_update_and_refresh(orders: cloudorm.Table[cloudorm.Item]) -> None:
    item = orders.put({"customer": "A", "placed": 1, "n": 1})
    item.update(Attr("n").add(2))
    assert item["n"] == 3 and cloudorm.state(item) == "saved"
    orders.update({"customer": "A", "placed": 1}, Attr("n").set(10))
    item.refresh()
    assert item["n"] == 10


def test_unbound_item_has_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="not bound"):
        cloudorm.Item({"a": 1}).save()


def test_conflicts_carry_the_stored_item(orders: cloudorm.Table[cloudorm.Item]) -> None:
    skip_on_dynalite(orders.session, "ReturnValuesOnConditionCheckFailure")
    orders.put({"customer": "A", "placed": 1, "status": "paid"})
    with pytest.raises(ConflictError) as e:
        orders.put({"customer": "A", "placed": 1}, condition=Attr("status") == "new")
    assert isinstance(e.value.item, cloudorm.Item) and e.value.item["status"] == "paid"
    assert str(e.value).count("request_id") == 1


def test_items_and_values(orders: cloudorm.Table[cloudorm.Item]) -> None:
    item = orders.put({"customer": "A", "placed": 1, "x": 2})
    assert dict(item.items()) == {"customer": "A", "placed": 1, "x": 2}
    assert sorted(map(str, item.values())) == ["1", "2", "A"]
