"""Batch writes and reads: request counts, last-write-wins, unprocessed retries, faults, and nothing dropped."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

import cloudorm
from cloudorm.errors import BatchError, InvalidInput
from cloudorm.testing import FaultProxy
from tests.conftest import FAKE_CREDS


@pytest.mark.parametrize("n", [1, 25, 26, 60])
def test_batch_of_n_puts_is_ceil_n_over_25_requests(orders: cloudorm.Table[cloudorm.Item], n: int) -> None:
    with orders.session.count_requests() as c, orders.batch_write() as b:
        for i in range(n):
            b.put({"customer": "A", "placed": i})
    assert c.total == math.ceil(n / 25) == c["dynamodb.BatchWriteItem"]
    assert orders.query(customer="A").count() == n


def test_a_key_written_twice_keeps_the_last_write(orders: cloudorm.Table[cloudorm.Item]) -> None:
    with orders.session.count_requests() as c, orders.batch_write() as b:
        b.put({"customer": "A", "placed": 1, "v": "first"})
        for i in range(2, 25):
            b.put({"customer": "A", "placed": i})
        b.put({"customer": "A", "placed": 1, "v": "last"})  # still 24 distinct keys: nothing sent yet
        assert c.total == 0
        b.put({"customer": "A", "placed": 30})
        b.delete(customer="A", placed=30)  # a delete after a put of the same key wins
        b.put({"customer": "A", "placed": 31})
    got = orders.get(customer="A", placed=1)
    assert got is not None and got["v"] == "last"
    assert orders.get(customer="A", placed=30) is None
    assert orders.query(customer="A").count() == 25


def test_batch_puts_validate_before_sending(orders: cloudorm.Table[cloudorm.Item]) -> None:
    with orders.session.count_requests() as c, orders.batch_write() as b:
        with pytest.raises(InvalidInput):
            b.put({"customer": "A"})
        with pytest.raises(InvalidInput):
            b.put({"customer": "A", "placed": 1, "bad": float("inf")})
    assert c.total == 0


def test_batch_items_are_marked_saved(orders: cloudorm.Table[cloudorm.Item]) -> None:
    item = orders.Item(customer="A", placed=1, a=1)
    with orders.batch_write() as b:
        b.put(item)
    assert cloudorm.state(item) == "saved"


def test_batch_get_keeps_order_and_counts_requests(orders: cloudorm.Table[cloudorm.Item]) -> None:
    with orders.batch_write() as b:
        for i in range(250):
            b.put({"customer": "A", "placed": i})
    keys = [{"customer": "A", "placed": i} for i in reversed(range(260))]
    keys.append({"customer": "A", "placed": 3})  # a duplicate is asked once
    with orders.session.count_requests() as c:
        rows = orders.batch_get(keys)
    assert [r["placed"] for r in rows] == list(reversed(range(250)))
    assert c["dynamodb.BatchGetItem"] == 3


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url, seed=1234) as p:
        yield p


def _proxied(proxy: FaultProxy, **options: object) -> cloudorm.Session:
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, **options)  # type: ignore[arg-type]


def test_unprocessed_items_are_retried_until_written(proxy: FaultProxy) -> None:
    s = _proxied(proxy)
    t = s.Table(f"t-{uuid.uuid4().hex[:10]}", hash_key=("id", "N")).save()
    proxy.configure(unprocessed_rate=0.7)
    with t.batch_write() as b:
        for i in range(200):
            b.put({"id": i})
    proxy.configure(unprocessed_rate=0)
    assert proxy.stats["unprocessed_items"] > 0
    assert t.scan().count() == 200


def test_what_cannot_be_written_is_reported_not_dropped(proxy: FaultProxy) -> None:
    s = _proxied(proxy, max_attempts=1)
    t = s.Table(f"t-{uuid.uuid4().hex[:10]}", hash_key=("id", "N")).save()
    with pytest.raises(BatchError) as e, t.batch_write(deadline=1.0) as b:
        for i in range(30):
            b.put({"id": i})
            if i == 24:  # the first 25 went through; now the provider only throttles
                proxy.configure(rate=1.0, kinds=("throttle",))
        b.delete(id=3)
    proxy.configure(rate=0)
    assert e.value.code == "ThrottlingException" and str(e.value).count("request_id") == 1
    left = [(r.action, r.item) for r in e.value.unprocessed]
    assert left == [("put", {"id": i}) for i in range(25, 30)] + [("delete", {"id": 3})]
    assert {r["id"] for r in t.scan()} == set(range(25))


def test_a_rejected_batch_raises_with_the_provider_details(dynamo: cloudorm.Session, name: str) -> None:
    t = dynamo.Table(name, hash_key=("id", "N"))  # declared, never created
    with pytest.raises(BatchError) as e, t.batch_write() as b:
        b.put({"id": 1, "v": "x"})
    assert e.value.code == "ResourceNotFoundException" and e.value.request_id
    assert [(r.action, r.item) for r in e.value.unprocessed] == [("put", {"id": 1, "v": "x"})]


def test_ten_thousand_items_through_ten_percent_faults_arrive_exactly_once(proxy: FaultProxy) -> None:
    s = _proxied(proxy, max_attempts=10)
    t = s.Table(f"t-{uuid.uuid4().hex[:10]}", hash_key=("id", "N")).save()
    proxy.configure(rate=0.1, kinds=("throttle", "error500", "drop", "drop_after"), unprocessed_rate=0.1)

    def write(part: int) -> None:
        with t.batch_write() as b:
            for i in range(part, 10_000, 4):
                b.put({"id": i, "v": f"value-{i}"})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    proxy.configure(rate=0, unprocessed_rate=0)
    stats = proxy.stats
    assert stats["throttle"] and stats["error500"] and stats["drop"] and stats["unprocessed_items"]
    rows = list(t.scan().page_size(1000))
    assert len(rows) == 10_000
    assert sorted(r["id"] for r in rows) == list(range(10_000))
    assert all(r["v"] == f"value-{r['id']}" for r in rows)
