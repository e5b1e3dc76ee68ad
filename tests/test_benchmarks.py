"""The benchmark scripts still run (``--quick``), so docs/benchmarks.md can always be reproduced, and their request
counts never grow past ``benchmarks/request_counts.json`` (a script exits 1 when one does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))
sys.path.insert(0, str(BENCHMARKS))
import _bench  # noqa: E402  (the scripts' own helper module, found the way they find it)


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_benchmark_runs_quick(script: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (_bench.UPDATE_ENV, "CLOUDORM_BENCH_BASELINE")}
    result = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300,
                            env=env)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
    assert "cloudorm" in result.stdout
    if "check_requests(" in script.read_text():  # (a script that counts requests checked them: it said so)
        assert f"request counts of {script.name} (quick)" in result.stdout and "recorded" not in result.stdout


def test_every_counting_script_has_a_committed_quick_baseline() -> None:
    recorded = json.loads(_bench.BASELINE.read_text())
    counting = {p.name for p in SCRIPTS if "check_requests(" in p.read_text()}
    assert counting >= {"compute.py", "hydrate.py", "nosql.py", "serverless.py", "startup.py", "storage.py",
                        "storage_many.py"}, counting
    assert {name for name in counting if recorded.get(name, {}).get("quick")} == counting
    assert set(recorded) <= {p.name for p in SCRIPTS}  # (no baseline of a script that is gone)


def check(capsys: pytest.CaptureFixture[str], path: Path, counts: dict[str, int], **kw: bool) -> tuple[int, str]:
    try:
        _bench.check_requests("demo.py", counts, baseline=path, **kw)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().out


def test_a_count_above_the_baseline_fails_naming_script_operation_and_both_counts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "request_counts.json"
    path.write_text(json.dumps({"demo.py": {"quick": {"dynamodb.Query": 1, "dynamodb.GetItem": 30}}}))
    code, out = check(capsys, path, {"dynamodb.Query": 2, "dynamodb.GetItem": 30}, quick=True)
    assert code == 1 and "REQUEST COUNT REGRESSED: demo.py (quick) 'dynamodb.Query': expected at most 1, sent 2" in out
    code, out = check(capsys, path, {"dynamodb.Query": 1, "dynamodb.GetItem": 30, "dynamodb.Scan": 1}, quick=True)
    assert code == 1 and "'dynamodb.Scan': expected at most 0, sent 1" in out  # (an operation it never sent)
    code, out = check(capsys, path, {"dynamodb.Query": 1}, quick=False)
    assert code == 0 and "recorded" in out  # a full run's first counts become its baseline; quick's are kept
    assert json.loads(path.read_text())["demo.py"] == {"quick": {"dynamodb.Query": 1, "dynamodb.GetItem": 30},
                                                       "full": {"dynamodb.Query": 1}}


def test_a_count_below_the_baseline_passes_with_a_note_and_update_rewrites_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "request_counts.json"
    path.write_text(json.dumps({"demo.py": {"quick": {"dynamodb.Query": 3}}}))
    code, out = check(capsys, path, {"dynamodb.Query": 1}, quick=True)
    assert code == 0 and "fewer 'dynamodb.Query' requests than its baseline (1 < 3)" in out
    assert json.loads(path.read_text()) == {"demo.py": {"quick": {"dynamodb.Query": 3}}}  # (not lowered by itself)
    code, out = check(capsys, path, {"dynamodb.Query": 1}, quick=True, update=True)
    assert code == 0 and json.loads(path.read_text()) == {"demo.py": {"quick": {"dynamodb.Query": 1}}}


def test_a_missing_quick_baseline_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys, tmp_path / "none.json", {"s3.PutObject": 1}, quick=True)
    assert code == 1 and "no quick baseline for demo.py" in out and not (tmp_path / "none.json").exists()

