"""Typed rows never lose, rewrite or misread stored data: undeclared attributes are kept, only changed fields are
written, datetimes have one fixed-width UTC form (PynamoDB's), TTL datetimes are epoch seconds, and a row that does
not fit the model is reported by table, key and attribute (or skipped, on request)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal

import attrs
import pytest

import cloudorm
from cloudorm.errors import ConflictError, InvalidInput, RowError
from cloudorm.nosql.converter import datetime_text, parse_datetime
from cloudorm.nosql.item import structure
from tests.conftest import FAKE_CREDS, sent_params, skip_on_dynalite

UTC = dt.timezone.utc


@attrs.define
class Place:
    city: str


@cloudorm.model(table="users")
class User(cloudorm.Item):
    pk: str = cloudorm.hash_key()
    name: str = ""
    status: str = "new"
    tags: set[str] = attrs.Factory(set)
    home: Place | None = None
    version: int = cloudorm.version()


@pytest.fixture
def tables(dynamo: cloudorm.Session) -> Iterator[tuple[cloudorm.Table[cloudorm.Item], cloudorm.Table[User]]]:
    """The same table twice: schemaless (as another program sees it) and typed."""
    raw = dynamo.Table(f"users-{uuid.uuid4().hex[:10]}", hash_key="pk").save()
    yield raw, dynamo.Table(raw.name, model=User)
    raw.delete(missing_ok=True)


OTHER = {"email": "a@x", "last_login": 1700000000}  # written by another program; the model does not declare them


def test_a_loaded_row_is_saved_and_save_writes_only_what_changed(tables: tuple[cloudorm.Table[cloudorm.Item],
                                                                                 cloudorm.Table[User]]) -> None:
    raw, users = tables
    raw.put({"pk": "u1", "name": "ann", "version": 1, "home": {"city": "Delft", "zip": "2611"}, **OTHER})
    u = users.get(pk="u1")
    assert u is not None and u.status == "new"  # not stored: the default, in memory only
    assert cloudorm.state(u) == "saved" and cloudorm.changes(u) == set()
    assert dict(cloudorm.undeclared(u)) == OTHER
    with pytest.raises(TypeError):
        cloudorm.undeclared(u)["email"] = "b@x"  # type: ignore[index]
    u.name = "bob"
    assert cloudorm.changes(u) == {"name"}
    with sent_params(users.session) as calls:
        u.save()
    update = next(p if op == "UpdateItem" else p["TransactItems"][0]["Update"]  # (a versioned save may go
                  for op, p in calls if op in ("UpdateItem", "TransactWriteItems"))  # as a one-action transaction)
    assert sorted(update["ExpressionAttributeNames"].values()) == ["name", "pk", "version"]
    assert "REMOVE" not in update["UpdateExpression"]
    stored = raw.get(pk="u1", consistent=True)
    assert stored is not None and dict(stored) == {"pk": "u1", "name": "bob", "version": 2,
                                                   "home": {"city": "Delft", "zip": "2611"}, **OTHER}
    assert cloudorm.state(u) == "saved" and dict(cloudorm.undeclared(u)) == OTHER
    u.status = "new"  # assigned: written even though it equals the default
    u.tags.add("x")
    u.save()
    stored = raw.get(pk="u1", consistent=True)
    assert stored is not None and stored["status"] == "new" and stored["tags"] == {"x"} and stored["email"] == "a@x"


def test_put_batch_and_refresh_carry_undeclared_attributes(tables: tuple[cloudorm.Table[cloudorm.Item],
                                                                          cloudorm.Table[User]]) -> None:
    raw, users = tables
    raw.put({"pk": "u1", "name": "ann", **OTHER})
    raw.put({"pk": "u2", "name": "cat", **OTHER})
    u = users.get(pk="u1")
    assert u is not None and u.version == 0
    u.name = "bob"
    users.put(u)  # a whole-item write of a row that was read keeps what it read
    stored = raw.get(pk="u1", consistent=True)
    assert stored is not None and stored["email"] == "a@x" and stored["name"] == "bob" and stored["version"] == 1
    assert "status" not in stored  # a default of a field the row lacked is not written
    v = users.get(pk="u2")
    assert v is not None
    with users.batch_write() as batch:
        batch.put(v)
    stored = raw.get(pk="u2", consistent=True)
    assert stored is not None and stored["last_login"] == 1700000000 and "status" not in stored
    raw.put({**stored, "email": "new@x"})
    v.refresh()
    assert cloudorm.undeclared(v)["email"] == "new@x"
    part = users.scan().only("name").first()
    assert part is not None
    with users.session.count_requests() as c, pytest.raises(InvalidInput, match="only"):
        users.put(part)  # would replace what it did not read
    assert c.total == 0


def test_keys_a_nested_class_does_not_declare_are_kept(tables: tuple[cloudorm.Table[cloudorm.Item],
                                                                       cloudorm.Table[User]]) -> None:
    """A map read into a nested attrs class keeps the keys the class does not declare: a put() of the row (which
    dropped them, though the row was unchanged) and a save() of a changed nested field write them back."""
    raw, users = tables
    raw.put({"pk": "u1", "home": {"city": "Delft", "zip": "2611", "geo": {"lat": 52}}, **OTHER})
    u = users.get(pk="u1")
    assert u is not None and u.home == Place("Delft")
    users.put(u)
    stored = raw.get(pk="u1", consistent=True)
    assert stored is not None and stored["home"] == {"city": "Delft", "zip": "2611", "geo": {"lat": 52}}
    assert u.home is not None
    u.home = Place("Leiden")
    u.save()
    stored = raw.get(pk="u1", consistent=True)
    assert stored is not None and stored["home"] == {"city": "Leiden", "zip": "2611", "geo": {"lat": 52}}
    assert stored["email"] == OTHER["email"]


def test_transactions_carry_undeclared_attributes(tables: tuple[cloudorm.Table[cloudorm.Item],
                                                                 cloudorm.Table[User]]) -> None:
    skip_on_dynalite(tables[0].session, "transactions")
    raw, users = tables
    raw.put({"pk": "u1", "name": "ann", **OTHER})
    raw.put({"pk": "u2", "name": "cat", **OTHER})
    a, b = users.get(pk="u1"), users.get(pk="u2")
    assert a is not None and b is not None
    a.name, b.name = "A", "B"
    with users.session.transaction() as t:
        t.update(a)
        t.put(b)
    for pk, name in (("u1", "A"), ("u2", "B")):
        stored = raw.get(pk=pk, consistent=True)
        assert stored is not None and stored["name"] == name and stored["email"] == "a@x" and "status" not in stored


def test_a_new_versioned_item_never_overwrites_an_unversioned_row(tables: tuple[cloudorm.Table[cloudorm.Item],
                                                                                 cloudorm.Table[User]]) -> None:
    raw, users = tables
    raw.put({"pk": "u1", "name": "theirs"})
    with pytest.raises(ConflictError):
        users.Item(pk="u1", name="mine").save()
    with pytest.raises(ConflictError):
        users.put(User(pk="u1", name="mine"))
    assert raw.get(pk="u1", consistent=True) == raw.Item(pk="u1", name="theirs")
    mine = users.Item(pk="u2", name="mine")
    mine.save()
    mine.delete()
    raw.put({"pk": "u2", "name": "theirs"})  # recreated by someone else after our delete
    with pytest.raises(ConflictError):
        mine.save()
    assert raw.get(pk="u2", consistent=True) == raw.Item(pk="u2", name="theirs")


# ---------------------------------------------------------------------------------------------------------------
# datetimes


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-05-06T07:08:09.123456+0000", dt.datetime(2024, 5, 6, 7, 8, 9, 123456, UTC)),  # the stored form
    ("2024-05-06T07:08:09Z", dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),  # JavaScript/Java, no fraction
    ("2024-05-06T07:08:09.123Z", dt.datetime(2024, 5, 6, 7, 8, 9, 123000, UTC)),
    ("2024-05-06T07:08:09.1+00:00", dt.datetime(2024, 5, 6, 7, 8, 9, 100000, UTC)),  # Python's isoformat()
    ("2024-05-06T07:08:09+0000", dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
    ("2024-05-06T07:08:09.123456789Z", dt.datetime(2024, 5, 6, 7, 8, 9, 123456, UTC)),  # nanoseconds: truncated
    ("2024-05-06T09:38:09.5+02:30", dt.datetime(2024, 5, 6, 7, 8, 9, 500000, UTC)),  # other offsets: to UTC
    ("2024-05-06T02:08:09-05:00", dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
    ("2024-05-06 07:08:09", dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),  # no offset: taken as UTC
])
def test_every_iso_8601_spelling_reads_as_utc(text: str, expected: dt.datetime) -> None:
    got = parse_datetime(text)
    assert got == expected and got.tzinfo is UTC


def test_datetimes_are_stored_fixed_width_in_utc() -> None:
    assert datetime_text(dt.datetime(2024, 5, 6, 9, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == \
        "2024-05-06T07:08:09.000000+0000"
    assert datetime_text(dt.datetime(5, 1, 2, tzinfo=UTC)) == "0005-01-02T00:00:00.000000+0000"
    with pytest.raises(InvalidInput, match="naive"):
        datetime_text(dt.datetime(2024, 5, 6))


@cloudorm.model(table="events")
class Event(cloudorm.Item):
    stream: str = cloudorm.hash_key()
    at: dt.datetime = cloudorm.range_key()
    expires: dt.datetime | None = None
    seen: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def events(dynamo: cloudorm.Session) -> Iterator[cloudorm.Table[Event]]:
    ttl = None if getattr(dynamo, "backend", None) == "dynalite" else "expires"  # dynalite has no TTL
    table = dynamo.Table(f"events-{uuid.uuid4().hex[:10]}", model=Event, ttl=ttl).save()
    yield table
    table.delete(missing_ok=True)


def test_datetime_range_keys_sort_in_time_order(events: cloudorm.Table[Event]) -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    times = [dt.datetime(2024, 1, 1, 9, 0, 0, tzinfo=UTC), dt.datetime(2024, 1, 1, 9, 0, 0, 500000, tzinfo=UTC),
             dt.datetime(2024, 1, 1, 10, 30, tzinfo=plus2),  # 08:30 UTC
             dt.datetime(2024, 1, 1, 12, 0, tzinfo=plus2)]   # 10:00 UTC
    for t in times:
        events.put(Event(stream="s", at=t))
    after_nine = [e.at for e in events.query(stream="s", at__gt=times[0])]
    assert after_nine == [times[1], times[3]] and all(t.tzinfo is UTC for t in after_nine)
    assert [e.at for e in events.query(stream="s").filter(seen__lt=times[0])] == sorted(times)
    raw = events.session.Table(events.name).get(stream="s", at="2024-01-01T08:30:00.000000+0000")
    assert raw is not None and raw["seen"] == "2024-01-01T00:00:00.000000+0000"


def test_naive_datetimes_are_refused_before_any_request(events: cloudorm.Table[Event]) -> None:
    with events.session.count_requests() as c:
        with pytest.raises(InvalidInput) as e:
            events.put(Event(stream="s", at=dt.datetime(2024, 1, 1)))
        assert e.value.field == "Event.at"
        with pytest.raises(InvalidInput, match="naive"):
            list(events.query(stream="s", at__gt=dt.datetime(2024, 1, 1)))
        with pytest.raises(InvalidInput, match="naive") as e:
            events.get(stream="s", at=dt.datetime(2024, 1, 1))
        assert e.value.field == "at"
    assert c.total == 0


@cloudorm.model(table="log")
class Log(cloudorm.Item):
    id: str = cloudorm.hash_key()
    times: list[dt.datetime] = attrs.Factory(list)
    at: dt.datetime | None = None


def test_a_datetime_that_cannot_be_stored_names_its_field(session: cloudorm.Session) -> None:
    """A naive datetime inside a list, or one outside the years 1-9999 in UTC, names the field it is in (it
    named 'datetime'), before any request."""
    logs = session.Table(f"log-{uuid.uuid4().hex[:10]}", model=Log)
    naive = dt.datetime(2024, 1, 1)
    with session.count_requests() as c:
        for row, field in ((Log(id="a", times=[naive]), "Log.times"),
                           (Log(id="a", at=dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))), "Log.at")):
            with pytest.raises(InvalidInput) as e:
                logs.put(row)
            assert e.value.field == field
        with pytest.raises(InvalidInput, match="naive") as e:
            logs.update({"id": "a"}, cloudorm.Attr("times").append([naive]))
        assert e.value.field == "times"
    assert c.total == 0


def test_other_programs_datetime_spellings_are_read_and_not_rewritten(events: cloudorm.Table[Event]) -> None:
    raw = events.session.Table(events.name)
    at = "2024-01-01T00:00:00.000000+0000"
    raw.put({"stream": "s", "at": at, "seen": "2024-05-06T07:08:09.5Z"})
    e = events.get(stream="s", at=dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert e is not None and e.seen == dt.datetime(2024, 5, 6, 7, 8, 9, 500000, UTC)
    assert cloudorm.state(e) == "saved"
    e.expires = dt.datetime(2030, 1, 1, tzinfo=UTC)
    e.save()
    stored = raw.get(stream="s", at=at, consistent=True)
    assert stored is not None and stored["seen"] == "2024-05-06T07:08:09.5Z"  # unchanged, so not rewritten
    events.put(e)  # a whole-item write stores every field it read in cloudorm's form: how old rows are converted
    stored = raw.get(stream="s", at=at, consistent=True)
    assert stored is not None and stored["seen"] == "2024-05-06T07:08:09.500000+0000"


def test_a_row_read_with_a_datetime_key_in_another_spelling_addresses_that_item(events: cloudorm.Table[Event]) \
        -> None:
    """A key written as '...Z' (JavaScript) or '+00:00' (cloudorm before this release) is read as a datetime; the
    row's writes must address that item. They sent the key in the current form instead: save() said the key had
    changed, refresh()/delete() said NotFound, a transaction's delete did nothing, and item.update(), a
    transaction's update and put() made a second item beside the one read."""
    raw = events.session.Table(events.name)
    stored_at = "2024-05-06T07:08:09Z"
    other = {"stream": "s", "at": stored_at, "seen": "2024-01-01T00:00:00Z", "by": "another program"}
    raw.put(other)

    def only_row() -> dict[str, object]:
        rows = [dict(r) for r in raw.scan()]
        assert [r["at"] for r in rows] == [stored_at]  # one item, under the key as it was written
        return rows[0]

    e = events.query(stream="s").first()
    assert e is not None and e.at == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    e.seen = dt.datetime(2025, 1, 1, tzinfo=UTC)
    e.save()
    assert only_row()["seen"] == "2025-01-01T00:00:00.000000+0000"
    e.refresh()
    e.update(cloudorm.Attr("by").set("update"))
    assert only_row()["by"] == "update"
    events.put(e)
    assert only_row()["by"] == "update"
    if getattr(events.session, "backend", None) != "dynalite":  # dynalite has no transactions
        with events.session.transaction() as t:
            t.update(e, cloudorm.Attr("by").set("transaction"))
        assert only_row()["by"] == "transaction"
        e.refresh()
        assert [r.at for r in events.session.transact_get([e])] == [e.at]
    e.delete()
    assert list(raw.scan()) == []


def test_ttl_datetimes_are_stored_as_epoch_seconds(events: cloudorm.Table[Event]) -> None:
    skip_on_dynalite(events.session, "TTL")
    when = dt.datetime(2030, 1, 1, 0, 0, 0, 750000, tzinfo=UTC)
    events.put(Event(stream="s", at=dt.datetime(2024, 1, 1, tzinfo=UTC), expires=when))
    raw = events.session.Table(events.name).scan().first()
    assert raw is not None and raw["expires"] == 1893456000  # a number DynamoDB's TTL reads; fraction dropped
    e = events.query(stream="s").filter(expires__gt=dt.datetime(2029, 1, 1, tzinfo=UTC)).first()
    assert e is not None and e.expires == when.replace(microsecond=0)
    e.expires = dt.datetime(2031, 1, 1, tzinfo=UTC)
    e.save()
    assert events.session.Table(events.name).scan().first()["expires"] == 1924992000  # type: ignore[index]
    e.update(cloudorm.Attr("expires").set(dt.datetime(2032, 1, 1, tzinfo=UTC)))
    assert e.expires == dt.datetime(2032, 1, 1, tzinfo=UTC)


@cloudorm.model(table="logins", indexes=[cloudorm.GlobalIndex("by_expiry", hash_key=("kind", "S"),
                                                                  range_key=("expires", "N"))])
class Login(cloudorm.Item):
    token: str = cloudorm.hash_key()
    kind: str = "web"
    expires: dt.datetime | None = None


def test_a_ttl_datetime_in_an_index_key_is_queried_as_epoch_seconds(session: cloudorm.Session) -> None:
    """Rows store a TTL datetime as epoch seconds, so an index keyed on it (N) is queried with datetimes as
    numbers (a key condition sent the text form, refused as the wrong type for an N key)."""
    logins = session.Table(f"logins-{uuid.uuid4().hex[:10]}", model=Login, ttl="expires").save()
    try:
        for day in (1, 2, 3):
            logins.put(Login(token=f"t{day}", expires=dt.datetime(2030, 1, day, tzinfo=UTC)))
        after = dt.datetime(2030, 1, 1, 12, tzinfo=UTC)
        assert [x.token for x in logins.query(kind="web", expires__gt=after).index("by_expiry")] == ["t2", "t3"]
        within = (dt.datetime(2030, 1, 2, tzinfo=UTC), dt.datetime(2030, 1, 2, 23, tzinfo=UTC))
        assert [x.token for x in logins.query(kind="web", expires__between=within).index("by_expiry")] == ["t2"]
    finally:
        logins.delete(missing_ok=True)


def test_pynamodb_reads_what_cloudorm_writes_and_back(moto_url: str) -> None:
    from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
    from pynamodb.models import Model

    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    table = s.Table(f"pynamo-{uuid.uuid4().hex[:10]}", model=Event, ttl="expires").save()

    class PynamoEvent(Model):
        class Meta:
            table_name = table.name
            host = moto_url
            region = FAKE_CREDS["region"]
            aws_access_key_id = FAKE_CREDS["aws_access_key_id"]
            aws_secret_access_key = FAKE_CREDS["aws_secret_access_key"]

        stream = UnicodeAttribute(hash_key=True)
        at = UTCDateTimeAttribute(range_key=True)
        seen = UTCDateTimeAttribute()
        expires = TTLAttribute(null=True)

    try:
        at = dt.datetime(2024, 5, 6, 9, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        expires = dt.datetime(2030, 1, 1, tzinfo=UTC)
        table.put(Event(stream="ours", at=at, seen=at, expires=expires))
        theirs = PynamoEvent.get("ours", at)
        assert theirs.seen == at and theirs.at == at and theirs.expires == expires
        PynamoEvent(stream="theirs", at=at, seen=at, expires=expires).save()
        ours = table.get(stream="theirs", at=at)
        assert ours is not None and ours.seen == at and ours.expires == expires and cloudorm.state(ours) == "saved"
        assert sorted(e.stream for e in table.scan().filter(at=at)) == ["ours", "theirs"]  # one stored form
    finally:
        table.delete(missing_ok=True)


# ---------------------------------------------------------------------------------------------------------------
# rows that do not fit the model


@cloudorm.model(table="doc")
class Doc(cloudorm.Item):
    id: int = cloudorm.hash_key()
    title: str = ""
    pages: int = 0
    done: bool = False


@pytest.fixture
def docs(dynamo: cloudorm.Session) -> Iterator[cloudorm.Table[Doc]]:
    table = dynamo.Table(f"docs-{uuid.uuid4().hex[:10]}", model=Doc).save()
    raw = dynamo.Table(table.name)
    with raw.batch_write() as batch:
        for i in range(1, 7):
            batch.put({"id": i, "title": f"t{i}", "pages": i})
        batch.put({"id": 11, "title": None})              # NULL in a non-optional field
        batch.put({"id": 12, "pages": Decimal("1.5")})    # a fraction in an int
        batch.put({"id": 13, "done": 1})                  # a number in a bool
        batch.put({"id": 14, "pages": "7"})               # text in an int (was read as 7, a put stored N)
    yield table
    table.delete(missing_ok=True)


BAD = {11: "Doc.title", 12: "Doc.pages", 13: "Doc.done", 14: "Doc.pages"}


def test_an_unreadable_row_names_the_table_the_key_and_the_attribute(docs: cloudorm.Table[Doc]) -> None:
    with pytest.raises(RowError) as e:
        list(docs.scan())
    err = e.value
    assert err.table == docs.name and err.field == BAD[err.key["id"]] and err.attribute in ("title", "pages", "done")
    assert docs.name in str(err) and str(err.key) in str(err)
    with pytest.raises(RowError) as e:
        docs.get(id=12)
    assert e.value.key == {"id": 12} and e.value.field == "Doc.pages" and e.value.item == {"id": 12,
                                                                                         "pages": Decimal("1.5")}
    assert isinstance(e.value, InvalidInput)  # callers catching InvalidInput still do
    one = docs.get(id=1)
    assert one is not None
    docs.session.Table(docs.name).put({"id": 1, "done": "yes"})
    with pytest.raises(RowError) as e:
        one.refresh()
    assert e.value.key == {"id": 1} and e.value.field == "Doc.done" and e.value.table == docs.name


@cloudorm.model(table="amounts")
class Amounts(cloudorm.Item):
    id: str = cloudorm.hash_key()
    count: int = 0
    price: Decimal = Decimal(0)
    ratio: float = 0.0


@pytest.mark.parametrize("field", ["count", "price", "ratio"])
@pytest.mark.parametrize("stored", ["7", b"7", True])
def test_a_number_field_does_not_read_text_bytes_or_bools(field: str, stored: object) -> None:
    """A stored string or binary in a number field does not fit (it was read as a number, and a put of the row
    then stored a number where another program had written text)."""
    with pytest.raises(InvalidInput) as e:
        structure(Amounts, {"id": "a", field: stored})
    assert e.value.field == field
    assert structure(Amounts, {"id": "a", field: Decimal(7)}).get(field) == 7


def test_unreadable_rows_can_be_skipped_and_collected(docs: cloudorm.Table[Doc]) -> None:
    skipped: list[RowError] = []
    rows = list(docs.scan().skip_unreadable(skipped))
    assert sorted(r.id for r in rows) == [1, 2, 3, 4, 5, 6]
    assert {e.key["id"]: e.field for e in skipped} == BAD
    skipped.clear()
    assert len(docs.scan().skip_unreadable(skipped).limit(6)[:]) == 6  # skipped rows do not count
    skipped.clear()
    pages = list(docs.scan().page_size(4).skip_unreadable(skipped).pages())
    assert sorted(r.id for page in pages for r in page) == [1, 2, 3, 4, 5, 6] and len(skipped) == len(BAD)
    with pytest.raises(InvalidInput):
        docs.scan().skip_unreadable(None)  # type: ignore[arg-type]
