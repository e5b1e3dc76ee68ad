"""Typed models: every field type round-trips, versions lock optimistically, tables come from the model."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import attrs
import pytest

import cloudorm
from cloudorm import Attr
from cloudorm.errors import AlreadyExists, ConflictError, InvalidInput, TransactionError
from tests.conftest import skip_on_dynalite


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"


@attrs.define
class Address:
    street: str
    number: int


@cloudorm.model(table="orders-model", indexes=[cloudorm.GlobalIndex("by_status", hash_key=("status", "S"),
                                                                    range_key=("placed", "N"))])
class Order(cloudorm.Item):
    customer: str = cloudorm.hash_key()
    placed: int = cloudorm.range_key()
    total: Decimal = Decimal(0)
    ratio: float = 0.5
    paid: bool = False
    status: Status = Status.NEW
    raw: bytes = b""
    when: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    day: dt.date = dt.date(2024, 1, 1)
    tags: set[str] = attrs.Factory(set)
    lines: list[dict[str, int]] = attrs.Factory(list)
    extra: dict[str, str] = attrs.Factory(dict)
    ship_to: Address | None = None
    note: str | None = None
    version: int = cloudorm.version()


@pytest.fixture
def table(dynamo: cloudorm.Session) -> cloudorm.Table[Order]:
    t = dynamo.Table(Order)
    t.name = f"orders-{uuid.uuid4().hex[:10]}"  # unique per test; the model names the default table
    t.save()
    return t


def test_model_declares_the_table(dynamo: cloudorm.Session) -> None:
    t = dynamo.Table(Order)
    assert t.name == "orders-model" and t.model is Order
    assert t.schema.key_names == ("customer", "placed")
    assert t.schema.index("by_status").names == ("status", "placed")
    with pytest.raises(InvalidInput, match="not a typed model"):
        dynamo.Table(Address)  # type: ignore[arg-type]


def test_every_field_type_roundtrips(table: cloudorm.Table[Order]) -> None:
    o = table.Item(customer="A", placed=1, total=Decimal("12.34"), ratio=0.25, paid=True, status=Status.PAID,
                   raw=b"\x00\x01", when=dt.datetime(2025, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
                   day=dt.date(2025, 5, 6), tags={"a", "b"}, lines=[{"qty": 2}], extra={"k": "v"},
                   ship_to=Address("Main", 5))
    assert isinstance(o, Order)
    o.save()
    assert o.version == 1
    got = table.get(customer="A", placed=1)
    assert isinstance(got, Order)
    assert got == o
    assert isinstance(got.total, Decimal) and isinstance(got.ratio, float) and got.status is Status.PAID
    assert got.ship_to == Address("Main", 5) and got.when.tzinfo is not None
    assert got["total"] == Decimal("12.34")  # typed rows are dict-like too
    assert got.note is None and "note" in got


def test_queries_return_model_instances(table: cloudorm.Table[Order]) -> None:
    for i in range(5):
        table.put(Order(customer="A", placed=i, status=Status.PAID if i % 2 else Status.NEW, total=Decimal(i)))
    rows = list(table.query(customer="A").filter(total__gte=2))
    assert [r.placed for r in rows] == [2, 3, 4] and all(isinstance(r, Order) for r in rows)
    paid = list(table.query(status="paid").index("by_status"))
    assert [r.placed for r in paid] == [1, 3]


def test_version_locks_optimistically(table: cloudorm.Table[Order]) -> None:
    o = table.Item(customer="A", placed=1)
    o.save()
    a = table.get(customer="A", placed=1)
    b = table.get(customer="A", placed=1)
    assert a is not None and b is not None and a.version == b.version == 1
    a.total = Decimal(5)
    a.save()
    assert a.version == 2
    b.total = Decimal(7)
    with pytest.raises(ConflictError):
        b.save()
    with pytest.raises(ConflictError):
        b.delete()
    b.refresh()
    assert b.version == 2 and b.total == Decimal(5)
    b.update(Attr("paid").set(True))
    assert b.version == 3 and b.paid is True
    b.delete()
    assert table.get(customer="A", placed=1) is None


def test_new_versioned_item_does_not_overwrite(table: cloudorm.Table[Order]) -> None:
    table.Item(customer="A", placed=1).save()
    with pytest.raises(ConflictError):
        table.Item(customer="A", placed=1).save()
    with pytest.raises(AlreadyExists):
        table.Item(customer="A", placed=1).save(if_not_exists=True)


@cloudorm.model(table="notes")
class Note(cloudorm.Item):
    id: str = cloudorm.hash_key()
    text: str = ""
    note: str | None = None


def test_a_new_unversioned_row_adopts_the_stored_one(dynamo: cloudorm.Session) -> None:
    raw = dynamo.Table(f"notes-{uuid.uuid4().hex[:10]}", hash_key=("id", "S")).save()
    raw.put({"id": "a", "text": "old", "note": "kept", "undeclared": 1})
    with dynamo.count_requests() as c:
        row = dynamo.Table(raw.name, model=Note).Item(id="a", text="new").save()  # None fields are not sent
    assert c.total == 1 and cloudorm.state(row) == "saved"
    assert row.note == "kept" and cloudorm.undeclared(row) == {"undeclared": 1}
    assert dict(raw.get(id="a") or {}) == {"id": "a", "text": "new", "note": "kept", "undeclared": 1}


def test_none_fields_are_removed_not_stored(table: cloudorm.Table[Order]) -> None:
    o = table.Item(customer="A", placed=1, note="hello")
    o.save()
    o.note = None
    assert cloudorm.changes(o) == {"note"}
    o.save()
    raw = table.session.Table(table.name).get(customer="A", placed=1)  # schemaless view of the same row
    assert raw is not None and "note" not in raw


def test_bad_model_input_names_the_field(table: cloudorm.Table[Order]) -> None:
    bad = table.Item(customer="A", placed=1, total="not a number")  # type: ignore[arg-type]
    with table.session.count_requests() as c:
        with pytest.raises(InvalidInput) as e:
            bad.save()
        assert e.value.field == "Order.total"
        with pytest.raises(InvalidInput, match="unexpected keyword"):
            table.put({"customer": "A", "placed": 1, "nope": 1})
    assert c.total == 0
    with pytest.raises(InvalidInput, match="hash_key"):
        @cloudorm.model(table="x")
        class NoKey(cloudorm.Item):
            a: str = "x"


def test_model_decorator_without_arguments() -> None:
    @cloudorm.model
    class Thing(cloudorm.Item):
        id: str = cloudorm.hash_key()

    assert Thing.__cloudorm_model__ is not None and Thing.__cloudorm_model__.table == "Thing"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


@cloudorm.model(table="events")
class Event(cloudorm.Item):
    at: dt.datetime = cloudorm.hash_key()
    color: Color = cloudorm.range_key()
    level: Level = Level.LOW
    note: str = ""
    n: int = 0
    version: int = cloudorm.version()


@pytest.fixture
def events(dynamo: cloudorm.Session) -> cloudorm.Table[Event]:
    return dynamo.Table(f"events-{uuid.uuid4().hex[:10]}", model=Event).save()


AT = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def test_mixin_enums_and_typed_keys(events: cloudorm.Table[Event]) -> None:
    assert events.model is Event and events.name.startswith("events-")
    events.put(Event(at=AT, color=Color.RED, level=Level.HIGH))
    got = events.get(at=AT, color=Color.RED)  # typed key values are stored forms
    assert got is not None and got.level is Level.HIGH and got.color is Color.RED and got.at == AT
    assert [e.color for e in events.query(at=AT).filter(level=Level.HIGH)] == [Color.RED]
    assert events.query(at=AT, color__begins_with="r").count() == 1
    assert events.query(at=AT).delete() == 1
    assert events.get(at=AT, color=Color.RED) is None


def test_saving_a_projected_typed_row_keeps_what_it_did_not_read(events: cloudorm.Table[Event]) -> None:
    events.put(Event(at=AT, color=Color.RED, note="keep", n=1))
    partial = events.query(at=AT).only("n").first()
    assert partial is not None and partial.note == "" and partial.version == 1  # the version always comes along
    partial.n = 2
    partial.save()
    got = events.get(at=AT, color=Color.RED)
    assert got is not None and got.note == "keep" and got.n == 2 and got.version == 2


def test_atomic_updates_respect_versions(events: cloudorm.Table[Event]) -> None:
    skip_on_dynalite(events.session, "transactions")
    e = events.Item(at=AT, color=Color.BLUE)
    e.save()
    with events.session.transaction() as t:
        t.update(e, Attr("n").add(1))  # checks e's version 1, stores n=1 and version 2
    e.n += 5
    with events.session.count_requests() as c, pytest.raises(ConflictError, match="refresh"):
        e.save()  # its values were not read back: saving them would lose the +1
    assert c.total == 0
    e.refresh()
    assert (e.n, e.version) == (1, 2)
    e.update(Attr("n").add(1))  # a single update reads the new values back
    assert (e.n, e.version) == (2, 3)
    stale = events.get(at=AT, color=Color.BLUE)
    assert stale is not None
    events.update({"at": AT, "color": Color.BLUE}, Attr("n").add(1))  # bumps the version: copies are now stale
    stale.note = "x"
    with pytest.raises(ConflictError) as err:
        stale.save()
    assert isinstance(err.value.item, Event) and err.value.item.version == 4  # what is stored now
    with pytest.raises(TransactionError), events.session.transaction() as t:
        t.update(stale, Attr("n").add(1))


def test_a_stored_row_that_does_not_fit_the_model_still_reports_the_conflict(events: cloudorm.Table[Event]) -> None:
    skip_on_dynalite(events.session, "ReturnValuesOnConditionCheckFailure")
    raw = events.session.Table(events.name)
    at = "2025-01-02T03:04:05.000000+0000"  # AT's stored form
    raw.put({"at": at, "color": "red", "n": "not a number", "version": 1})
    with pytest.raises(ConflictError) as err:
        events.update({"at": AT, "color": Color.RED}, Attr("note").set("x"), condition=Attr("note") == "never")
    assert err.value.item == {"at": at, "color": "red", "n": "not a number", "version": 1}


def test_a_model_without_indexes_leaves_the_tables_indexes_alone(session: cloudorm.Session, name: str) -> None:
    session.Table(name, hash_key="id", indexes=[cloudorm.GlobalIndex("by_email", hash_key=("email", "S"))]).save()

    @cloudorm.model(table=name)
    class User(cloudorm.Item):
        id: str = cloudorm.hash_key()
        email: str = ""

    with session.count_requests() as c:
        users = session.Table(User).save()
    assert c["dynamodb.UpdateTable"] == 0
    users.put(User(id="u1", email="u@x"))
    assert [u.id for u in users.query(email="u@x").index("by_email")] == ["u1"]  # learned on first use


@cloudorm.model(table="docs")
class Doc(cloudorm.Item):
    id: float = cloudorm.hash_key()
    title: str
    status: str = "new"
    body: str = ""
    version: int = cloudorm.version()


@pytest.fixture
def docs(dynamo: cloudorm.Session) -> cloudorm.Table[Doc]:
    return dynamo.Table(f"docs-{uuid.uuid4().hex[:10]}", model=Doc).save()


def test_batch_writes_keep_versions_and_key_identity(docs: cloudorm.Table[Doc]) -> None:
    d = docs.Item(id=7, title="t")
    last = Doc(id=7.0, title="last write wins")
    with docs.batch_write() as b:
        b.put(d)
        b.put(last)  # 7 and 7.0 are one key: this write replaces the first in the buffer
    assert last.version == 1 and d.version == 0  # d was never written
    got = docs.get(id=7)
    assert got is not None and got.title == "last write wins" and got.version == 1
    got.body = "x"
    got.save()
    assert got.version == 2
    assert [x.title for x in docs.batch_get([{"id": 7.0}, {"id": Decimal("7.00")}])] == ["last write wins"]


def test_typed_rows_read_in_part(docs: cloudorm.Table[Doc]) -> None:
    docs.put(Doc(id=1, title="T", status="archived", body="keep"))
    with pytest.raises(InvalidInput, match="only"):
        docs.scan().only("status").first()  # title has no default: the row cannot be built
    part = docs.scan().only("title").first()
    assert part is not None and part.status == "new"  # a default, not what is stored
    part.status = "new"  # set explicitly: written even though it equals the default
    part.save()
    got = docs.get(id=1)
    assert got is not None and (got.status, got.body, got.title) == ("new", "keep", "T")
    assert docs.query(id=1).delete() == 1  # deleting needs no rows


def test_deleted_versioned_items(docs: cloudorm.Table[Doc]) -> None:
    d = docs.Item(id=1, title="t")
    d.save()
    d.delete()
    d.delete(missing_ok=True)  # gone already: fine
    d.title = "again"
    d.save()  # written anew
    assert d.version == 1 and docs.get(id=1) is not None
