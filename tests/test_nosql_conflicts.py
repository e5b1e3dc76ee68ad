"""A failed condition names the table, the key and (for a versioned write) the expected and stored versions, on
every write path; a value that cannot be stored (a naive datetime) is refused before any request on every path."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest

import cloudorm
from cloudorm.errors import ConflictError, InvalidInput, TransactionError

UTC = dt.timezone.utc


@cloudorm.model(table="docs")
class Doc(cloudorm.Item):
    pk: str = cloudorm.hash_key()
    body: str = ""
    n: int = 0
    at: dt.datetime | None = None
    version: int = cloudorm.version()


@pytest.fixture
def docs(dynamo: cloudorm.Session) -> Iterator[cloudorm.Table[Doc]]:
    table = dynamo.Table(f"docs-{uuid.uuid4().hex[:10]}", model=Doc).save()
    yield table
    table.delete(missing_ok=True)


def _names_table_and_key(e: ConflictError | str, table: cloudorm.Table[Doc], key: str = "d1") -> str:
    text = str(e)
    assert repr(table.name) in text and f"{{'pk': {key!r}}}" in text, text
    return text


def test_a_stale_version_names_table_key_and_versions(docs: cloudorm.Table[Doc]) -> None:
    docs.put(Doc(pk="d1"))
    mine, theirs = docs.get(pk="d1", consistent=True), docs.get(pk="d1", consistent=True)
    assert mine is not None and theirs is not None
    theirs.body = "theirs"
    theirs.save()  # stored version 2
    mine.body = "mine"
    with pytest.raises(ConflictError) as e:
        mine.save()  # an UpdateItem (sent as a one-action TransactWriteItems where there are transactions)
    text = _names_table_and_key(e.value, docs)
    assert "stale version (expected 1" in text and "conditional request failed" in text.lower()  # the provider's
    if e.value.item is not None:  # the provider returned the stored item
        assert "stored 2" in text
    assert e.value.code == "ConditionalCheckFailedException"
    assert e.value.request_id is None or f"request_id={e.value.request_id}" in text
    print(text)
    with pytest.raises(ConflictError) as e:
        docs.put(mine)  # PutItem of the stale copy
    assert "expected 1" in _names_table_and_key(e.value, docs)
    with pytest.raises(ConflictError) as e:
        mine.update(cloudorm.Attr("n").add(1))
    assert "expected 1" in _names_table_and_key(e.value, docs)
    with pytest.raises(ConflictError) as e:
        mine.delete()
    assert "expected 1" in _names_table_and_key(e.value, docs)
    with pytest.raises(ConflictError) as e:
        docs.put(Doc(pk="d1"))  # a new copy of an item that exists
    assert "expected no item" in _names_table_and_key(e.value, docs)
    with pytest.raises(ConflictError) as e:
        docs.put({"pk": "d1", "version": 2}, condition=cloudorm.Attr("body") == "nobody")
    _names_table_and_key(e.value, docs)


def test_a_failed_condition_in_a_transaction_names_table_and_key(docs: cloudorm.Table[Doc]) -> None:
    if getattr(docs.session, "backend", None) == "dynalite":
        pytest.skip("dynalite does not implement TransactWriteItems")
    docs.put(Doc(pk="d1"))
    docs.put(Doc(pk="d2"))
    stale = docs.get(pk="d2", consistent=True)
    assert stale is not None
    docs.update({"pk": "d2"}, cloudorm.Attr("n").add(1))  # version 2 now
    stale.body = "x"
    with pytest.raises(TransactionError) as e, docs.session.transaction() as t:
        t.check(docs, {"pk": "d1"}, condition=cloudorm.Attr("n") == 0)
        t.update(stale)
    ok, failed = e.value.reasons
    assert ok is None and failed is not None and failed.message is not None
    assert "expected 1" in _names_table_and_key(failed.message, docs, "d2")


def test_naive_datetimes_in_conditions_and_filters_are_refused_before_any_request(session: cloudorm.Session) -> None:
    """The table's TTL attribute is not declared: looking it up (DescribeTimeToLive) came before the check."""
    docs = session.Table(f"docs-{uuid.uuid4().hex[:10]}", model=Doc)  # never created: no request may be sent
    aware, naive = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 1)
    late = cloudorm.Attr("at") < naive
    row = docs.Item(pk="a")
    attempts = [lambda: docs.put(Doc(pk="a"), condition=late),
                lambda: docs.put(Doc(pk="a"), condition=(cloudorm.Attr("at") > aware) & late),
                lambda: row.save(condition=late),
                lambda: docs.update({"pk": "a"}, cloudorm.Attr("at").set(aware), condition=late),
                lambda: docs.update({"pk": "a"}, cloudorm.Attr("n").add(1), cloudorm.Attr("at").set(naive)),
                lambda: docs.delete_item({"pk": "a"}, condition=late),
                lambda: list(docs.scan().filter(at__gt=aware, at__lt=naive)),
                lambda: list(docs.query(pk="a").filter(at__gt=aware).filter(late))]
    with session.count_requests() as c:
        for attempt in attempts:
            with pytest.raises(InvalidInput, match="naive"):
                attempt()
        with pytest.raises(InvalidInput, match="naive"), session.transaction() as t:
            t.put(docs, Doc(pk="a"), condition=(cloudorm.Attr("at") > aware) & late)
    assert c.total == 0
