"""Pausing Python's cyclic garbage collector while a response's acyclic data is parsed and turned into rows.

Parsing a 1 MB page allocates ~60,000 dicts and lists; each 700 allocations start a collection that walks every
young object, and the pages kept so far are walked again and again. Parsed JSON and the rows built from it hold no
reference cycles, so nothing is lost by not looking for cycles until the page is built (docs/benchmarks.md,
"Issue 16"). The pause nests and is shared by threads: the collector is enabled again when the last pause ends,
and only if it was enabled when the first one began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_reenable = False


@contextmanager
def paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (if it was on); safe to nest and to use from many threads."""
    global _depth, _reenable
    with _lock:
        if _depth == 0:
            _reenable = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _reenable:
                _reenable = False
                gc.enable()
