"""Shared helpers for the benchmark scripts: timing, tables and the common command line."""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--quick`` flag every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a small, fast smoke run (numbers are not meaningful)")
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
