"""Shared helpers for the benchmark scripts: timing, tables and the common command line."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).with_name("request_counts.json")
"""The committed request counts: ``{script: {"quick" | "full": {operation: count}}}``."""
UPDATE_ENV = "CLOUDORM_BENCH_UPDATE_BASELINE"
"""Set to 1 (or pass ``--update-baseline``) to rewrite the baseline with the counts of this run."""


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--quick`` flag every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a small, fast smoke run (numbers are not meaningful)")
    p.add_argument("--update-baseline", action="store_true",
                   help=f"record this run's request counts as the baseline ({BASELINE.name})")
    return p


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect garbage, then keep the collector off while timing (as ``timeit`` does)."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    """The shortest wall-clock time of ``repeat`` calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        with gc_paused():
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
    return best


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    out = [title] if title else []
    out += [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if v >= 100:
            return f"{v:,.0f}"
        if v >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    return str(v)


def ratio(baseline: float, ours: float) -> str:
    """How many times faster ``ours`` is than ``baseline`` (both times), as ``"3.21x"``."""
    return f"{baseline / ours:.2f}x" if ours > 0 else "inf"


def verdict(value: float, target: float) -> str:
    """``"ok (>= 3x)"`` or ``"MISSED (< 3x)"``."""
    return f"ok (>= {target:g}x)" if value >= target else f"MISSED (< {target:g}x)"


def environment() -> str:
    """One line on what the numbers were measured with."""
    import boto3
    import botocore

    return (f"python {platform.python_version()} ({sys.implementation.name}), {os.cpu_count()} cpus, "
            f"boto3 {boto3.__version__}, botocore {botocore.__version__}, {platform.platform(terse=True)}")


def check_requests(script: str, counts: Mapping[str, int], *, quick: bool | None = None,
                   baseline: Path | None = None, update: bool | None = None) -> None:
    """Compare ``counts`` (requests by operation, deterministic ones only) with the committed baseline of ``script``
    in this mode (``quick`` None: ``--quick`` on the command line). A count above the baseline, or an operation
    it lacks, prints what regressed and exits 1; a count below prints a note to lower the baseline. A missing
    baseline fails in quick mode and is recorded in a full run. ``update`` (None: ``--update-baseline`` or
    ``CLOUDORM_BENCH_UPDATE_BASELINE=1``) writes these counts as the baseline instead."""
    mode = "quick" if (("--quick" in sys.argv[1:]) if quick is None else quick) else "full"
    if update is None:
        update = "--update-baseline" in sys.argv[1:] or os.environ.get(UPDATE_ENV) == "1"
    path = baseline or Path(os.environ.get("CLOUDORM_BENCH_BASELINE") or BASELINE)
    recorded: dict[str, dict[str, dict[str, int]]] = json.loads(path.read_text()) if path.exists() else {}
    actual = {op: int(n) for op, n in sorted(counts.items())}
    expected = recorded.get(script, {}).get(mode)
    if update or (expected is None and mode == "full"):
        recorded.setdefault(script, {})[mode] = actual
        path.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
        print(f"\nrequest counts of {script} ({mode}) recorded in {path}: commit it")
        return
    if expected is None:
        print(f"\nREQUEST COUNT CHECK FAILED: {path.name} has no {mode} baseline for {script}; record one with "
              f"python benchmarks/{script} {'--quick ' if mode == 'quick' else ''}--update-baseline")
        sys.exit(1)
    regressed = [(op, expected.get(op, 0), n) for op, n in actual.items() if n > expected.get(op, 0)]
    lower = [(op, n, actual.get(op, 0)) for op, n in expected.items() if actual.get(op, 0) < n]
    for op, was, now in lower:
        print(f"note: {script} ({mode}) sent fewer {op!r} requests than its baseline ({now} < {was}): lower it with "
              f"--update-baseline")
    if regressed:
        for op, was, now in regressed:
            print(f"REQUEST COUNT REGRESSED: {script} ({mode}) {op!r}: expected at most {was}, sent {now}")
        print(f"(a deliberate change? rerun with --update-baseline and commit {path.name})")
        sys.exit(1)
    print(f"\nrequest counts of {script} ({mode}): {sum(actual.values())} requests in {len(actual)} operations, "
          "none above the baseline")
