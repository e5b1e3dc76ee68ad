"""The one results type: per-target results in order, ``.ok``, ``.failed``, ``.raise_for_errors()`` raising each
area's own error (``BatchError`` for batches and transfers, ``ClusterError`` for cluster runs)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import cloudorm
from cloudorm.errors import BatchError, CloudError, ClusterError, CommandFailed, NotFound
from cloudorm.nosql.batch import BatchResults
from cloudorm.results import Result, Results


def test_results_in_target_order_with_their_failures() -> None:
    boom = CloudError("boom")
    results: Results[Result[int]] = Results([Result("a", 1), Result("b", error=boom), Result("c", 3)])
    assert [r.target for r in results] == ["a", "b", "c"] and not results.ok
    assert results.failed == [results[1]] and results.by_target()["c"].value == 3
    with pytest.raises(BatchError, match="1 of 3 targets failed; first: b: boom") as e:
        results.raise_for_errors()
    assert e.value.unprocessed == [results[1]] and results.exception() is not None
    fine = Results([Result("a", 1)])
    assert fine.ok and fine.exception() is None and fine.raise_for_errors() is fine


def test_batch_results_raise_batch_error_with_what_was_left() -> None:
    cause = CloudError("slow down", code="Throttled", request_id="r-1", provider="aws")
    error = BatchResults.left("batch write to 't' failed: slow down", [{"id": 1}, {"id": 2}], cause)
    assert isinstance(error, BatchError) and error.message == "batch write to 't' failed: slow down"
    assert error.unprocessed == [{"id": 1}, {"id": 2}] and (error.code, error.request_id) == ("Throttled", "r-1")


def test_cluster_runs_and_transfers_are_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDORM_STATE_DIR", str(tmp_path / "state"))
    s = cloudorm.Session()
    name = f"results-{uuid.uuid4().hex[:6]}"
    cluster = s.Cluster(name, size=2, runtime=None, progress=False).save()
    try:
        run = cluster.run(f'test "$CLOUDORM_NODE" != {name}-2')
        assert isinstance(run, Results) and [r.target for r in run] == [f"{name}-1", f"{name}-2"]
        assert run.failed == run.failures == [run[1]] and run.by_target() == run.by_node()
        with pytest.raises(ClusterError, match=f"1 of 2 nodes failed: {name}-2") as e:
            run.raise_for_errors()
        assert list(e.value.causes) == [f"{name}-2"] and e.value.results is run
        assert isinstance(e.value.causes[f"{name}-2"], CommandFailed)
        with pytest.raises(CommandFailed):  # check() keeps its own error
            run.check()
        fine = cluster.run("true")
        assert fine.raise_for_errors() is fine
    finally:
        cluster.delete()

    bucket = s.Bucket(f"results-{uuid.uuid4().hex[:8]}").save()
    try:
        bucket.upload_many({"a": b"a"}).raise_for_errors()
        got = bucket.download_many(["a", "gone"], tmp_path / "out")
        assert isinstance(got, Results) and list(got.by_target()) == ["a", "gone"]
        assert isinstance(got.failed[0].error, NotFound)
        with pytest.raises(BatchError, match="1 of 2 transfers failed; first: gone") as b:
            got.raise_for_errors()
        assert b.value.unprocessed == got.failed
    finally:
        bucket.delete(force=True)
