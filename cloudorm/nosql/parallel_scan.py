"""Parallel scans: a table's segments scanned on a few threads, their items merged as they arrive."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cloudorm.paging import Pager
from cloudorm.providers.contract import Wire

MAX_SEGMENTS = 1_000_000
"""DynamoDB's limit on a parallel scan's TotalSegments."""
SCAN_WORKERS = 8
"""Threads a parallel scan runs on, however many segments it has (each scans one segment after another)."""


def parallel_scan(segments: int, limit: int | None, segment_pager: Callable[[int], Pager[Wire]]) -> Iterator[Wire]:
    """Scan ``segments`` segments (``segment_pager(n)`` pages segment n) on at most ``SCAN_WORKERS`` threads, each
    taking the next segment when done with one; items arrive in no particular order, at most ``limit`` of them."""
    workers = min(segments, SCAN_WORKERS)
    results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=workers * 4)
    stop = threading.Event()
    pending = iter(range(segments))
    taking = threading.Lock()

    def scan_segments() -> None:
        try:
            while not stop.is_set():
                with taking:
                    segment = next(pending, None)
                if segment is None:
                    break
                pager = segment_pager(segment)
                pager.limit = None  # the limit is applied to the merged items below
                for page in pager.pages():
                    if page.items:
                        results.put(("items", page.items))
                    if stop.is_set():
                        break
        except BaseException as e:
            results.put(("error", e))
        finally:
            results.put(("done", None))

    remaining = limit
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cloudorm-scan") as pool:
        for _ in range(workers):
            pool.submit(scan_segments)
        running = workers
        try:
            while running:
                kind, value = results.get()
                if kind == "done":
                    running -= 1
                elif kind == "error":
                    raise value
                else:
                    for wire in value:
                        yield wire
                        if remaining is not None:
                            remaining -= 1
                            if remaining == 0:
                                return
        finally:
            stop.set()
            while running:  # drain so no worker blocks on a full queue
                kind, _ = results.get()
                if kind == "done":
                    running -= 1
