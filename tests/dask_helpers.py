"""What the Dask test files share: tasks Dask sends by value, and the names of the workers a scheduler has."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any


def tasks() -> tuple[Callable[..., tuple[int, str]], Callable[[int, int], float]]:
    """``slow_square(x, seconds=0)`` (``x * x`` and the worker's name, after ``seconds``) and ``divide(a, b)``, made as
    local functions: Dask pickles those by value (a module-level function of a test module would be pickled by
    reference, and the nodes cannot import ``tests``)."""
    import distributed

    def slow_square(x: int, seconds: float = 0.0) -> tuple[int, str]:
        time.sleep(seconds)
        return x * x, distributed.get_worker().name

    def divide(a: int, b: int) -> float:
        return a / b

    return slow_square, divide


def worker_names(client: Any) -> list[str]:
    """The names of every worker the client's scheduler has, sorted."""
    return sorted(str(w["name"]) for w in client.scheduler_info(n_workers=-1)["workers"].values())


def relabelled(folder: Path, version: str) -> list[Path]:
    """Wheels of this environment's ``dask`` and ``distributed`` as release ``version``: the same code, another
    version number (what Dask compares), made here without the package index."""
    from cloudorm.testing.wheelhouse import repack

    folder.mkdir(parents=True, exist_ok=True)
    return [repack(metadata.distribution(name), folder, version) for name in ("dask", "distributed")]
