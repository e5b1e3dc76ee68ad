"""QuerySets on every DynamoDB backend: laziness, request counts, lookups, cursors, counting, parallel scans."""

from __future__ import annotations

import pytest

import cloudorm
from cloudorm import Attr
from cloudorm.errors import InvalidInput
from tests.conftest import sent_params


@pytest.fixture
def filled(orders: cloudorm.Table[cloudorm.Item]) -> cloudorm.Table[cloudorm.Item]:
    with orders.batch_write() as b:
        for i in range(95):
            b.put({"customer": "A", "placed": i, "total": i % 10, "status": "paid" if i % 2 else "new",
                   "name": f"n{i:03d}", "data": {"size": i}})
        for i in range(5):
            b.put({"customer": "B", "placed": i, "total": 100})
    return orders


def test_building_and_chaining_sends_nothing(filled: cloudorm.Table[cloudorm.Item]) -> None:
    with filled.session.count_requests() as c:
        q = filled.query(customer="A", placed__gte=5)
        q2 = q.filter(total__gt=3).reverse().limit(10).page_size(5).only("total").consistent()
        assert q2 is not q
    assert c.total == 0
    assert len(list(q)) == 90  # the original is unchanged by chaining


def test_first_without_filter_is_one_request(filled: cloudorm.Table[cloudorm.Item]) -> None:
    s = filled.session
    with sent_params(s) as calls, s.count_requests() as c:
        first = filled.query(customer="A").first()
    assert first is not None and first["placed"] == 0
    assert c.total == 1 and calls[0][1]["Limit"] == 1
    with s.count_requests() as c:
        last = filled.query(customer="A").reverse().first()
    assert last is not None and last["placed"] == 94 and c.total == 1


def test_limit_with_filter_does_not_cost_a_request_per_item(filled: cloudorm.Table[cloudorm.Item]) -> None:
    s = filled.session
    with sent_params(s) as calls, s.count_requests() as c:
        rows = list(filled.query(customer="A").filter(status="paid").limit(10))
    assert [r["placed"] for r in rows] == list(range(1, 20, 2))
    assert c.total == 1 and "Limit" not in calls[0][1]


def test_a_slice_or_index_never_reaches_past_the_limit(filled: cloudorm.Table[cloudorm.Item]) -> None:
    q = filled.query(customer="A").limit(2)
    assert [r["placed"] for r in q[:5]] == [0, 1]
    assert [r["placed"] for r in q[1:]] == [1]
    with pytest.raises(IndexError):
        q[3]
    names = [t.name for t in filled.session.tables().limit(1)[:5]]
    assert len(names) == 1


def test_page_size_and_limit_are_separate(filled: cloudorm.Table[cloudorm.Item]) -> None:
    s = filled.session
    with s.count_requests() as c:
        rows = list(filled.query(customer="A").page_size(10))
    assert len(rows) == 95 and c.total == 10
    with sent_params(s) as calls:
        rows = list(filled.query(customer="A").page_size(10).limit(25))
    assert len(rows) == 25 and [p["Limit"] for _, p in calls] == [10, 10, 5]
    pages = list(filled.query(customer="A").page_size(40).pages())
    assert [len(p) for p in pages] == [40, 40, 15]


def test_key_conditions(filled: cloudorm.Table[cloudorm.Item]) -> None:
    def placed(**kw: object) -> list[int]:
        return [r["placed"] for r in filled.query(customer="A", **kw)]

    assert placed(placed=7) == [7]
    assert placed(placed__lt=3) == [0, 1, 2]
    assert placed(placed__lte=2) == [0, 1, 2]
    assert placed(placed__gt=92) == [93, 94]
    assert placed(placed__gte=93) == [93, 94]
    assert placed(placed__between=(10, 12)) == [10, 11, 12]
    assert [r["placed"] for r in filled.query(customer="A", placed__lt=3).reverse()] == [2, 1, 0]


def test_begins_with_on_string_range_key(dynamo: cloudorm.Session, name: str) -> None:
    t = dynamo.Table(name, hash_key="pk", range_key=("sk", "S")).save()
    for sk in ("2024-01-01", "2024-01-15", "2024-02-01"):
        t.put({"pk": "x", "sk": sk})
    assert [r["sk"] for r in t.query(pk="x", sk__begins_with="2024-01")] == ["2024-01-01", "2024-01-15"]


def test_filter_lookups_and_conditions(filled: cloudorm.Table[cloudorm.Item]) -> None:
    def placed(q: cloudorm.QuerySet[cloudorm.Item]) -> list[int]:
        return [r["placed"] for r in q]

    base = filled.query(customer="A", placed__lt=20)
    assert placed(base.filter(total=3)) == [3, 13]
    assert placed(base.filter(total__ne=0, total__lt=2)) == [1, 11]
    assert placed(base.filter(total__lte=1, status="new")) == [0, 10]
    assert placed(base.filter(total__gte=9)) == [9, 19]
    assert placed(base.filter(total__between=(8, 9), status__exists=True)) == [8, 9, 18, 19]
    assert placed(base.filter(name__begins_with="n01")) == list(range(10, 20))
    assert placed(base.filter(name__contains="07")) == [7]
    assert placed(base.filter(total__in=[1, 2])) == [1, 2, 11, 12]
    assert placed(base.filter(missing__exists=False, total=5)) == [5, 15]
    assert placed(base.filter((Attr("total") == 1) | (Attr("total") == 2), ~(Attr("status") == "new"))) == [1, 11]
    assert placed(base.filter(Attr("data.size") >= 18)) == [18, 19]  # nested path; 'data' is reserved
    assert placed(base.filter(Attr("name").size() == 4, Attr("total").is_type("N"), total=4)) == [4, 14]


def test_only_projects_and_keeps_keys(filled: cloudorm.Table[cloudorm.Item]) -> None:
    row = filled.query(customer="A").only("total", "data.size").first()
    assert row is not None
    assert dict(row) == {"customer": "A", "placed": 0, "total": 0, "data": {"size": 0}}


def test_count_exists_slicing(filled: cloudorm.Table[cloudorm.Item]) -> None:
    s = filled.session
    with sent_params(s) as calls, s.count_requests() as c:
        assert filled.query(customer="A").page_size(30).count() == 95
    assert c.total == 4 and all(p["Select"] == "COUNT" for _, p in calls)
    assert filled.query(customer="A").filter(status="paid").count() == 47
    assert filled.query(customer="A").limit(7).count() == 7
    assert filled.scan().count() == 100
    assert filled.query(customer="B").exists()
    assert not filled.query(customer="C").exists()
    assert not filled.query(customer="A").filter(total__gt=50).exists()
    assert [r["placed"] for r in filled.query(customer="A")[:3]] == [0, 1, 2]
    assert [r["placed"] for r in filled.query(customer="A")[5:8]] == [5, 6, 7]
    assert filled.query(customer="A")[4]["placed"] == 4
    with pytest.raises(IndexError):
        filled.query(customer="B")[5]


def test_cursor_resumes_exactly(filled: cloudorm.Table[cloudorm.Item]) -> None:
    q = filled.query(customer="A").filter(status="paid").page_size(7)
    seen: list[int] = []
    cursor = None
    rounds = 0
    while True:
        page = q.after(cursor).limit(6)
        rows = list(page)
        seen += [r["placed"] for r in rows]
        cursor = page.cursor
        rounds += 1
        if cursor is None:
            break
    assert seen == list(range(1, 95, 2)) and rounds == 8
    # a cursor taken after breaking out of iteration resumes after the last item seen
    q2 = filled.query(customer="A")
    it = iter(q2)
    for _ in range(3):
        next(it)
    rest = [r["placed"] for r in filled.query(customer="A").after(q2.cursor).limit(2)]
    assert rest == [3, 4]
    with pytest.raises(InvalidInput):
        filled.query(customer="A").cursor  # noqa: B018 - not iterated yet
    with pytest.raises(InvalidInput):
        filled.query(customer="A").after("not-a-cursor")


def test_cursor_when_limit_ends_exactly_at_the_end(filled: cloudorm.Table[cloudorm.Item]) -> None:
    q = filled.query(customer="B").limit(5)
    assert len(list(q)) == 5
    # moto knows nothing is left; DynamoDB and dynalite return a LastEvaluatedKey whenever Limit was reached,
    # so the cursor may point past the last item: resuming from it then yields nothing.
    assert q.cursor is None or list(filled.query(customer="B").after(q.cursor)) == []
    everything = filled.query(customer="B")
    assert len(list(everything)) == 5 and everything.cursor is None


def test_scan_parallel_and_delete(filled: cloudorm.Table[cloudorm.Item]) -> None:
    rows = list(filled.scan(segments=3))
    assert sorted((r["customer"], r["placed"]) for r in rows) == sorted(
        [("A", i) for i in range(95)] + [("B", i) for i in range(5)])
    assert len(list(filled.scan(segments=2).limit(10))) == 10
    assert len(list(filled.scan().filter(customer="B"))) == 5
    s = filled.session
    with s.count_requests() as c:
        assert filled.query(customer="A").filter(total__gte=5).delete() == 45
    assert c["dynamodb.BatchWriteItem"] == 2
    assert filled.query(customer="A").count() == 50


def test_queryset_errors_before_any_request(filled: cloudorm.Table[cloudorm.Item]) -> None:
    s = filled.session
    with s.count_requests() as c:
        with pytest.raises(InvalidInput, match="unknown lookup"):
            filled.query(customer="A").filter(total__bigger=3)
        with pytest.raises(InvalidInput) as e:
            list(filled.query(placed=3))
        assert e.value.field == "customer"
        with pytest.raises(InvalidInput, match="not a key"):
            list(filled.query(customer="A", total=3))
        with pytest.raises(InvalidInput, match="filter"):
            filled.query(customer="A", placed__contains=3)
        with pytest.raises(InvalidInput, match="key attribute"):
            list(filled.query(customer="A").filter(placed=3))
        with pytest.raises(InvalidInput, match="no index"):
            list(filled.query(customer="A").index("nope"))
        with pytest.raises(InvalidInput, match="order"):
            filled.scan().reverse()
        with pytest.raises(InvalidInput):
            filled.query(customer="A").limit(0)
    assert c.total == 0


def test_indexes_gsi_and_lsi(dynamo: cloudorm.Session, name: str) -> None:
    t = dynamo.Table(name, hash_key=("customer", "S"), range_key=("placed", "N"), indexes=[
        cloudorm.GlobalIndex("by_status", hash_key=("status", "S"), range_key=("total", "N")),
        cloudorm.LocalIndex("by_total", range_key=("total", "N"), projection="KEYS_ONLY"),
    ]).save()
    for i in range(10):
        t.put({"customer": "A", "placed": i, "status": "paid" if i < 4 else "new", "total": 100 - i})
    paid = list(t.query(status="paid").index("by_status"))
    assert [r["placed"] for r in paid] == [3, 2, 1, 0]  # ordered by total
    q = t.query(status="paid", total__gte=98).index("by_status").limit(1)
    assert [r["placed"] for r in q] == [2]
    assert [r["placed"] for r in t.query(status="paid").index("by_status").after(q.cursor)] == [1, 0]
    by_total = list(t.query(customer="A", total__lt=93).index("by_total"))
    assert [r["placed"] for r in by_total] == [9, 8]
    assert set(by_total[0]) == {"customer", "placed", "total"}
    with pytest.raises(InvalidInput, match="consistent"):
        list(t.query(status="paid").index("by_status").consistent())
    assert len(list(t.query(customer="A", total__gt=0).index("by_total").consistent())) == 10


def test_reserved_word_names(dynamo: cloudorm.Session, name: str) -> None:
    t = dynamo.Table(name, hash_key=("name", "S"), range_key=("status", "S")).save()
    t.put({"name": "a", "status": "s1", "data": 1, "size": 2, "count": 3})
    t.put({"name": "a", "status": "s2", "data": 2})
    assert [r["status"] for r in t.query(name="a", status__begins_with="s").filter(data__gte=1, size=2)] == ["s1"]
    t.update({"name": "a", "status": "s2"}, Attr("count").add(1), Attr("data").remove())
    got = t.get(name="a", status="s2")
    assert got is not None and dict(got) == {"name": "a", "status": "s2", "count": 1}


def test_binary_keys_page_and_resume(dynamo: cloudorm.Session, name: str) -> None:
    t = dynamo.Table(name, hash_key=("h", "S"), range_key=("r", "B")).save()
    with t.batch_write() as b:
        for i in range(10):
            b.put({"h": "a", "r": bytes([i, 255])})
    assert [r["r"] for r in t.query(h="a").page_size(3)] == [bytes([i, 255]) for i in range(10)]
    assert t.query(h="a").page_size(3).count() == 10
    assert len(list(t.scan().page_size(4))) == 10
    q = t.query(h="a").limit(4)
    assert len(list(q)) == 4
    assert [r["r"][0] for r in t.query(h="a").after(q.cursor).page_size(2)] == [4, 5, 6, 7, 8, 9]
    assert t.query(h="a").page_size(3).delete() == 10


def test_a_row_read_in_part_never_overwrites_what_it_did_not_read(orders: cloudorm.Table[cloudorm.Item]) -> None:
    orders.put({"customer": "A", "placed": 1, "a": 1, "b": 2, "profile": {"name": "Ann", "email": "a@x"}})
    row = orders.query(customer="A").only("a").first()
    assert row is not None and "b" not in row
    row["a"] = 10
    row.save()
    got = orders.get(customer="A", placed=1)
    assert got is not None and (got["a"], got["b"]) == (10, 2)
    nested = orders.query(customer="A").only("profile.name").first()
    assert nested is not None and nested["profile"] == {"name": "Ann"}
    nested["profile"]["name"] = "Anna"
    with pytest.raises(InvalidInput) as e:
        nested.save()
    assert e.value.field == "profile" and "update" in e.value.reason
    nested.update(Attr("profile.name").set("Anna"))
    got = orders.get(customer="A", placed=1)
    assert got is not None and got["profile"] == {"name": "Anna", "email": "a@x"}


def test_tampered_cursors_are_invalid_input(orders: cloudorm.Table[cloudorm.Item]) -> None:
    for bad in ["@@@", "eyJhIjp7IkIiOiIhISJ9fQ", "W10"]:
        with pytest.raises(InvalidInput):
            orders.query(customer="A").after(bad)


def test_a_scan_of_many_segments_runs_on_a_few_threads(orders: cloudorm.Table[cloudorm.Item]) -> None:
    import threading

    with orders.batch_write() as b:
        for i in range(40):
            b.put({"customer": f"c{i}", "placed": i})
    before = threading.active_count()
    peak = before
    seen = []
    for row in orders.scan(segments=500):  # was a thread per segment: 500 threads
        peak = max(peak, threading.active_count())
        seen.append((row["customer"], row["placed"]))
    # the scan's 8 workers, plus (local cloud, moto) the in-process server's thread per connection
    assert peak - before <= 2 * 8 + 2
    assert sorted(seen) == sorted((f"c{i}", i) for i in range(40))  # every item, once
    rows = list(orders.scan(segments=50).limit(7))
    assert len(rows) == 7 and len({(r["customer"], r["placed"]) for r in rows}) == 7
    with orders.session.count_requests() as c:
        for bad in (0, 1_000_001, 10**9, -1, True, 2.0):
            with pytest.raises(InvalidInput, match="segments"):
                orders.scan(segments=bad)
        with pytest.raises(InvalidInput, match="cursor"):
            _ = orders.scan(segments=4).cursor
    assert c.total == 0
