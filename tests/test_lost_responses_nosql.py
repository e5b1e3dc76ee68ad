"""DynamoDB writes whose response is lost after the service applied them (FaultProxy ``drop_after``): botocore
re-sends them, and neither a false error nor a second application may follow. Against a moto server (the local
cloud's own server) and dynalite, through a real fault proxy."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

import cloudorm
from cloudorm import Attr
from cloudorm.errors import ConflictError, OutcomeUnknown
from cloudorm.providers.aws.dynamodb_effects import effect_of
from cloudorm.testing import FaultProxy
from tests.conftest import FAKE_CREDS

ALL_FAULTS = ("throttle", "error500", "drop", "drop_after")


class LoseOnce(FaultProxy):
    """A FaultProxy that also faults the next request(s) of a named DynamoDB operation, then lets the rest through;
    ``between`` runs (against the upstream) after a faulted request was applied, before its response is dropped."""

    def __init__(self, upstream: str, backend: str) -> None:
        super().__init__(upstream, seed=5)
        self.backend = backend
        self._planned: dict[str, list[str]] = {}
        self._chosen = threading.local()
        self.between: Callable[[], None] | None = None

    def lose(self, operation: str, times: int = 1, kind: str = "drop_after") -> None:
        """Fault the next ``times`` requests of ``operation`` with ``kind``."""
        self._planned[operation] = [kind] * times

    def _handle(self, handler: Any) -> None:
        operation = (handler.headers.get("X-Amz-Target") or "").rpartition(".")[2]
        planned = self._planned.get(operation)
        self._chosen.kind = planned.pop(0) if planned else None
        super()._handle(handler)

    def _forward(self, *args: Any) -> Any:
        answer = super()._forward(*args)
        if self._chosen.kind and self.between is not None:
            between, self.between = self.between, None
            between()
        return answer

    def _pick_fault(self) -> str | None:
        return getattr(self._chosen, "kind", None) or super()._pick_fault()


@cloudorm.model(table="unused")
class Counter(cloudorm.Item):
    """A versioned counter row."""

    id: str = cloudorm.hash_key()
    n: int = 0
    version: int = cloudorm.version()


@pytest.fixture(params=["moto", "dynalite"])
def proxy(request: pytest.FixtureRequest) -> Iterator[LoseOnce]:
    url: str = request.getfixturevalue("moto_url" if request.param == "moto" else "dynalite_url")
    with LoseOnce(url, request.param) as p:
        yield p


@pytest.fixture
def s(proxy: LoseOnce) -> cloudorm.Session:
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=10)


@pytest.fixture
def counters(s: cloudorm.Session) -> Iterator[cloudorm.Table[Counter]]:
    t = s.Table(f"lost-{uuid.uuid4().hex[:10]}", model=Counter).save()
    yield t
    t.delete(missing_ok=True, wait=False)


@pytest.fixture
def plain(s: cloudorm.Session) -> Iterator[cloudorm.Table[cloudorm.Item]]:
    t = s.Table(f"lost-{uuid.uuid4().hex[:10]}", hash_key=("id", "S")).save()
    yield t
    t.delete(missing_ok=True, wait=False)


def _direct(proxy: FaultProxy) -> Any:
    """A boto3 client straight to the upstream (another writer, unaffected by faults)."""
    return boto3.client("dynamodb", endpoint_url=proxy.upstream, region_name="us-east-1",
                        aws_access_key_id=FAKE_CREDS["aws_access_key_id"],
                        aws_secret_access_key=FAKE_CREDS["aws_secret_access_key"])


def _versioned(proxy: LoseOnce, plain_operation: str) -> str:
    """The operation a versioned write goes out as: a one-action transaction where the endpoint has them."""
    return plain_operation if proxy.backend == "dynalite" else "TransactWriteItems"


# ----------------------------------------------------------------------------------------------- what a write leaves


def _update(expression: str, values: dict[str, Any]) -> dict[str, Any]:
    names = {f"#n{i}": name for i, name in enumerate(["a", "b", "c", "d", "e"])}
    return {"UpdateExpression": expression, "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}


def test_what_an_update_leaves_is_read_from_its_expression() -> None:
    params = _update("SET #n0 = :v0, #n1.#n2[1] = :v1, #n3 = if_not_exists(#n3, :v2) REMOVE #n4 ADD #n2 :v3",
                     {":v0": {"N": "5"}, ":v1": {"S": "x"}, ":v2": {"N": "0"}, ":v3": {"SS": ["t"]}})
    effect = effect_of("UpdateItem", params)
    assert effect.idempotent and effect.known
    stored = {"a": {"N": "5.0"}, "b": {"M": {"c": {"L": [{"S": "-"}, {"S": "x"}]}}}, "d": {"N": "7"},
              "c": {"SS": ["t", "u"]}}
    assert effect.matches(stored)
    assert not effect.matches({**stored, "a": {"N": "6"}})  # another value
    assert not effect.matches({**stored, "e": {"S": "back"}})  # a removed attribute is there
    assert not effect.matches({k: v for k, v in stored.items() if k != "d"})  # if_not_exists: there either way
    assert not effect.matches({**stored, "c": {"SS": ["u"]}})  # the added element is missing
    assert not effect.matches(None)


def test_updates_that_count_twice_are_not_idempotent() -> None:
    for expression, values in [("ADD #n0 :v0", {":v0": {"N": "1"}}),
                               ("SET #n0 = list_append(if_not_exists(#n0, :v0), :v1)",
                                {":v0": {"L": []}, ":v1": {"L": [{"S": "x"}]}}),
                               ("SET #n0 = #n0 + :v0", {":v0": {"N": "1"}}),
                               ("REMOVE #n0[0]", {})]:
        assert not effect_of("UpdateItem", _update(expression, values)).idempotent, expression
    assert effect_of("UpdateItem", _update("ADD #n0 :v0 DELETE #n1 :v1", {":v0": {"NS": ["1"]},
                                                                       ":v1": {"SS": ["x"]}})).idempotent
    odd = effect_of("UpdateItem", _update("SET #n0 = size(#n1)", {}))
    assert not odd.idempotent and not odd.matches({"a": {"N": "1"}})  # not understood: never taken for ours


def test_what_a_put_and_a_delete_leave() -> None:
    put = effect_of("PutItem", {"Item": {"id": {"S": "a"}, "b": {"B": b"\x00"}, "n": {"N": "1"}}})
    assert put.idempotent and put.matches({"id": {"S": "a"}, "b": {"B": "AA=="}, "n": {"N": "1.0"}})
    assert not put.matches({"id": {"S": "a"}, "b": {"B": "AA=="}, "n": {"N": "1"}, "extra": {"S": "x"}})
    delete = effect_of("DeleteItem", {"Key": {"id": {"S": "a"}}})
    assert delete.idempotent and delete.matches(None) and not delete.matches({"id": {"S": "a"}})


# ----------------------------------------------------------------------------------------------- one lost response


def test_versioned_save_whose_response_is_lost_is_applied_once_without_an_error(
        proxy: LoseOnce, counters: cloudorm.Table[Counter]) -> None:
    row = counters.Item(id="c")
    proxy.lose(_versioned(proxy, "PutItem"))
    row.save()  # a new versioned row: put on condition that no row exists
    assert row.version == 1
    row.n += 1
    proxy.lose(_versioned(proxy, "UpdateItem"))
    row.save()  # was: ConflictError (the re-send found version 2 already)
    assert proxy.stats["drop_after"] == 2
    stored = counters.get(id="c", consistent=True)
    assert stored is not None and (stored.n, stored.version) == (1, 2) and row.version == 2
    row.n += 1
    row.save()  # the local copy is current: the next save needs no refresh
    assert counters.get(id="c", consistent=True).version == 3  # type: ignore[union-attr]


def test_versioned_update_and_delete_whose_response_is_lost(
        proxy: LoseOnce, counters: cloudorm.Table[Counter]) -> None:
    row = counters.Item(id="c")
    row.save()
    proxy.lose(_versioned(proxy, "UpdateItem"))
    row.update(Attr("n").add(5))  # checks version 1, sets 2: applied once
    assert (row.n, row.version) == (5, 2)
    proxy.lose("DeleteItem")
    row.delete()  # was: ConflictError (the re-send's version condition found no item)
    assert counters.get(id="c", consistent=True) is None


def test_if_not_exists_put_whose_response_is_lost_is_no_false_already_exists(
        proxy: LoseOnce, plain: cloudorm.Table[cloudorm.Item]) -> None:
    proxy.lose("PutItem")
    plain.put({"id": "a", "v": 1}, if_not_exists=True)  # was: AlreadyExists (its own first attempt)
    assert proxy.stats["drop_after"] == 1
    assert dict(plain.get(id="a", consistent=True) or {}) == {"id": "a", "v": 1}
    with pytest.raises(cloudorm.errors.AlreadyExists):  # another item there: still refused
        plain.put({"id": "a", "v": 2}, if_not_exists=True)


def test_delete_whose_response_is_lost_is_no_false_not_found(
        proxy: LoseOnce, plain: cloudorm.Table[cloudorm.Item]) -> None:
    plain.put({"id": "a"})
    plain.put({"id": "b", "state": "done"})
    proxy.lose("DeleteItem")
    plain.delete_item(id="a")  # was: NotFound (the re-send found it gone)
    proxy.lose("DeleteItem")
    plain.delete_item(id="b", condition=Attr("state") == "done")  # was: ConflictError
    assert plain.scan().consistent().count() == 0
    with pytest.raises(cloudorm.errors.NotFound):
        plain.delete_item(id="a")


def test_conditional_save_whose_response_is_lost(proxy: LoseOnce, plain: cloudorm.Table[cloudorm.Item]) -> None:
    plain.put({"id": "job", "state": "open", "tags": {"x"}})
    job = plain.get(id="job", consistent=True)
    assert job is not None
    job["state"] = "taken"
    job["by"] = "me"
    proxy.lose("UpdateItem")
    job.save(condition=Attr("state") == "open")  # was: ConflictError
    proxy.lose("UpdateItem")
    plain.update({"id": "job"}, Attr("tags").add({"y"}), Attr("note").remove(), condition=Attr("by") == "me")
    stored = plain.get(id="job", consistent=True)
    assert stored is not None and dict(stored) == {"id": "job", "state": "taken", "by": "me", "tags": {"x", "y"}}
    proxy.lose("UpdateItem")
    adopted = plain.Item(id="job", by="you").save()  # a new item adopts: its SET, re-sent, leaves the same item
    assert dict(adopted) == {**dict(stored), "by": "you"} == dict(plain.get(id="job", consistent=True) or {})


def test_a_counter_add_whose_response_is_lost_is_applied_once(
        proxy: LoseOnce, plain: cloudorm.Table[cloudorm.Item]) -> None:
    proxy.lose("UpdateItem" if proxy.backend == "dynalite" else "TransactWriteItems")
    try:
        after = plain.update({"id": "hits"}, Attr("n").add(1), Attr("log").append(["one"]))
    except OutcomeUnknown:  # where there are no transactions (dynalite): not re-sent, and said so
        assert proxy.backend == "dynalite"
    else:
        assert (after["n"], after["log"]) == (1, ["one"])
    assert proxy.stats["drop_after"] == 1
    stored = plain.get(id="hits", consistent=True)
    assert stored is not None and (stored["n"], stored["log"]) == (1, ["one"])  # was: 2, ['one', 'one']


def test_a_lost_response_then_another_writer_is_outcome_unknown_not_a_conflict(
        proxy: LoseOnce, plain: cloudorm.Table[cloudorm.Item]) -> None:
    direct = _direct(proxy)
    table = plain.name
    proxy.between = lambda: direct.put_item(TableName=table, Item={"id": {"S": "a"}, "v": {"N": "9"}})
    proxy.lose("PutItem")
    with pytest.raises(OutcomeUnknown) as e:  # ours was applied, then replaced: neither AlreadyExists nor success
        plain.put({"id": "a", "v": 1}, if_not_exists=True)
    assert not isinstance(e.value, ConflictError)
    assert dict(plain.get(id="a", consistent=True) or {}) == {"id": "a", "v": 9}


def test_a_transaction_whose_response_is_lost_is_committed_once(moto_url: str) -> None:
    with LoseOnce(moto_url, "moto") as proxy:  # (dynalite has no transactions)
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=10)
        plain = s.Table(f"lost-{uuid.uuid4().hex[:10]}", hash_key=("id", "S")).save()
        _commit_with_a_lost_response(s, proxy, plain)
        plain.delete(wait=False)


def _commit_with_a_lost_response(s: cloudorm.Session, proxy: LoseOnce, plain: cloudorm.Table[cloudorm.Item]) -> None:
    plain.put({"id": "stock", "count": 1})
    proxy.lose("TransactWriteItems")
    with s.transaction() as t:  # was: TransactionError (the re-send found the order and no stock)
        t.put(plain, {"id": "order"}, if_not_exists=True)
        t.update(plain, {"id": "stock"}, Attr("count").add(-1), condition=Attr("count") > 0)
    assert proxy.stats["drop_after"] == 1
    assert plain.get(id="stock", consistent=True)["count"] == 0  # type: ignore[index]


def test_batch_writes_whose_response_is_lost_are_whole_item_and_written_once(
        proxy: LoseOnce, plain: cloudorm.Table[cloudorm.Item]) -> None:
    plain.put({"id": "old"})
    proxy.lose("BatchWriteItem")
    with plain.batch_write() as b:
        for i in range(30):
            b.put({"id": f"k{i}", "v": i})
        b.delete(id="old")
    assert proxy.stats["drop_after"] == 1 and b.written == 31
    rows = sorted((r["id"], r["v"]) for r in plain.scan().consistent())
    assert rows == sorted((f"k{i}", i) for i in range(30))


# ----------------------------------------------------------------------------------------------- random faults


@pytest.mark.parametrize(("rate", "seed"), [(0.1, 5), (0.2, 3), (0.3, 1)])  # seeds that lose responses early
def test_versioned_increments_from_two_threads_through_random_faults_count_exactly(
        rate: float, seed: int, moto_url: str) -> None:
    with FaultProxy(moto_url, rate=0, kinds=ALL_FAULTS, seed=seed) as proxy:
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=12)
        counters = s.Table(f"lost-{uuid.uuid4().hex[:10]}", model=Counter).save()
        counters.put(Counter(id="c"))
        proxy.configure(rate=rate)
        acknowledged = [0, 0]

        def work(me: int) -> None:
            row = counters.get(id="c", consistent=True)
            assert row is not None
            for _ in range(20):
                while True:  # the documented recipe: on ConflictError, refresh, re-apply, save again
                    row.n += 1
                    try:
                        row.save()
                    except ConflictError:
                        row.refresh()
                        continue
                    acknowledged[me] += 1
                    break

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        proxy.configure(rate=0)
        stats = proxy.stats
        final = counters.get(id="c", consistent=True)
        counters.delete(wait=False)
    assert stats["drop_after"] > 0
    assert acknowledged == [20, 20]
    assert final is not None and final.n == 40 and final.version == 41  # was 44 at 20 %, 46 at 30 %
