"""Transactions across tables (not on dynalite, which lacks TransactWriteItems/TransactGetItems)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import cloudorm
from cloudorm import Attr
from cloudorm.errors import InvalidInput, TransactionError
from tests.conftest import skip_on_dynalite


@pytest.fixture
def two(dynamo: cloudorm.Session) -> Iterator[tuple[cloudorm.Table[cloudorm.Item], cloudorm.Table[cloudorm.Item]]]:
    skip_on_dynalite(dynamo, "transactions")
    accounts = dynamo.Table(f"acc-{uuid.uuid4().hex[:8]}", hash_key="id").save()
    ledger = dynamo.Table(f"led-{uuid.uuid4().hex[:8]}", hash_key="id", range_key=("n", "N")).save()
    yield accounts, ledger
    accounts.delete(missing_ok=True)
    ledger.delete(missing_ok=True)


def test_commit_across_tables(two: tuple[cloudorm.Table[cloudorm.Item], cloudorm.Table[cloudorm.Item]]) -> None:
    accounts, ledger = two
    s = accounts.session
    alice = accounts.put({"id": "alice", "balance": 100})
    bob = accounts.put({"id": "bob", "balance": 0})
    with s.count_requests() as c, s.transaction() as t:
        t.update(accounts, {"id": "alice"}, Attr("balance").add(-30), condition=Attr("balance") >= 30)
        t.update(accounts, {"id": "bob"}, Attr("balance").add(30))
        t.put(ledger, {"id": "alice", "n": 1, "amount": -30}, if_not_exists=True)
        t.check(ledger, {"id": "bob", "n": 1}, condition=Attr("id").not_exists())
        assert len(t) == 4
    assert c.total == 1 and c["dynamodb.TransactWriteItems"] == 1
    alice.refresh()
    bob.refresh()
    assert alice["balance"] == 70 and bob["balance"] == 30
    got = s.transact_get([alice, (ledger, {"id": "alice", "n": 1}), (ledger, {"id": "nobody", "n": 1})])
    assert got[0]["balance"] == 70 and got[1]["amount"] == -30 and got[2] is None


def test_cancelled_transaction_reports_a_reason_per_action(
        two: tuple[cloudorm.Table[cloudorm.Item], cloudorm.Table[cloudorm.Item]]) -> None:
    accounts, ledger = two
    s = accounts.session
    accounts.put({"id": "alice", "balance": 10})
    with pytest.raises(TransactionError) as e, s.transaction() as t:
        t.put(ledger, {"id": "alice", "n": 1, "amount": -30})
        t.update(accounts, {"id": "alice"}, Attr("balance").add(-30), condition=Attr("balance") >= 30)
    reasons = e.value.reasons
    assert len(reasons) == 2 and reasons[0] is None
    assert reasons[1] is not None and reasons[1].code == "ConditionalCheckFailed" and reasons[1].index == 1
    assert e.value.code == "TransactionCanceledException"
    assert ledger.get(id="alice", n=1) is None  # nothing was applied
    got = accounts.get(id="alice")
    assert got is not None and got["balance"] == 10


def test_items_in_transactions_track_their_state(
        two: tuple[cloudorm.Table[cloudorm.Item], cloudorm.Table[cloudorm.Item]]) -> None:
    accounts, _ = two
    s = accounts.session
    new = accounts.Item(id="carol", balance=1)
    old = accounts.put({"id": "dave", "balance": 5})
    gone = accounts.put({"id": "erin"})
    old["balance"] = 6
    with s.transaction() as t:
        t.put(new)
        t.update(old)  # sends just the changed attributes
        t.delete(gone)
    assert cloudorm.state(new) == "saved" and cloudorm.state(old) == "saved" and cloudorm.state(gone) == "deleted"
    assert accounts.get(id="dave")["balance"] == 6  # type: ignore[index]
    assert accounts.get(id="erin") is None


def test_transaction_limits_are_checked_before_sending(
        two: tuple[cloudorm.Table[cloudorm.Item], cloudorm.Table[cloudorm.Item]]) -> None:
    accounts, _ = two
    s = accounts.session
    with s.count_requests() as c:
        t = s.transaction()
        for i in range(100):
            t.put(accounts, {"id": f"u{i}"})
        with pytest.raises(InvalidInput, match="100"):
            t.put(accounts, {"id": "one-too-many"})
        t2 = s.transaction()
        t2.put(accounts, {"id": "x"})
        with pytest.raises(InvalidInput, match="twice"):
            t2.update(accounts, {"id": "x"}, Attr("n").add(1))
        with pytest.raises(InvalidInput):
            t2.put(cloudorm.Item({"id": "unbound"}))
    assert c.total == 0
    with s.transaction() as t3:
        pass
    assert t3.committed and len(t3) == 0


def test_an_exception_in_the_block_sends_nothing(
        two: tuple[cloudorm.Table[cloudorm.Item], cloudorm.Table[cloudorm.Item]]) -> None:
    accounts, _ = two
    with pytest.raises(RuntimeError), accounts.session.transaction() as t:
        t.put(accounts, {"id": "zed"})
        raise RuntimeError("boom")
    assert accounts.get(id="zed") is None
