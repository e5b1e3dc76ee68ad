"""cloudorm's names are imported on first use (``cloudorm/lazy.py``); a first use from many threads at once must
work as it did when ``import cloudorm`` loaded every area (found by trying it: 5 of 8 threads failed with
``ImportError: ... partially initialized module`` before first imports were made one thread at a time)."""

from __future__ import annotations

import subprocess
import sys

FIRST_USE_FROM_THREADS = """
import threading
from concurrent.futures import ThreadPoolExecutor
import cloudorm
s = cloudorm.Session("memory")
barrier = threading.Barrier(8)
def work(i):
    barrier.wait()
    return cloudorm.Item({"a": i}) if i % 2 else s.Table(f"tbl-{i}", hash_key=("id", "S"))
with ThreadPoolExecutor(8) as pool:
    futures = [pool.submit(work, i) for i in range(8)]
errors = [repr(f.exception()) for f in futures if f.exception()]
print(errors)
raise SystemExit(1 if errors else 0)
"""


def test_a_first_use_from_many_threads_at_once_works() -> None:
    for _ in range(3):  # a fresh interpreter each time: nothing imported yet
        result = subprocess.run([sys.executable, "-c", FIRST_USE_FROM_THREADS], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
