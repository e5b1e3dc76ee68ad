"""The one pagination engine: limit, page size, laziness, resuming and request counts, on a real page source."""

from __future__ import annotations

from typing import Any

import pytest

from cloudorm.paging import Pager, every


class Numbers:
    """A page source over ``range(n)`` whose token is the next offset; records the sizes it was asked for."""

    def __init__(self, n: int, most: int = 10) -> None:
        self.n, self.most = n, most
        self.asked: list[int | None] = []

    def __call__(self, token: Any, size: int | None) -> tuple[list[int], Any]:
        self.asked.append(size)
        start = token or 0
        stop = min(self.n, start + min(size or self.most, self.most))
        return list(range(start, stop)), stop if stop < self.n else None


@pytest.mark.parametrize(("n", "limit", "page_size", "asked", "got"), [
    (25, None, None, [None, None, None], 25),
    (25, None, 4, [4] * 7, 25),
    (25, 7, None, [7], 7),                       # the limit lowers the request: one request
    (25, 7, 3, [3, 3, 1], 7),                    # ... and the last page asks for what is still wanted
    (25, 30, None, [30, 20, 10], 25),            # each request asks for what the limit still wants
    (0, None, None, [None], 0),
])
def test_limit_and_page_size(n: int, limit: int | None, page_size: int | None, asked: list[int | None],
                             got: int) -> None:
    source = Numbers(n)
    pager = Pager(source, limit, page_size)
    items = list(pager.items())
    assert items == list(range(got)) and source.asked == asked and pager.requests == len(asked)


def test_pages_are_lazy_and_cut_to_the_limit() -> None:
    source = Numbers(25)
    pages = Pager(source, limit=12, fixed_size=True).pages()  # a filter may drop items: the size stays fixed
    assert source.asked == []
    first = next(pages)
    assert (first.items, first.last, source.asked) == (list(range(10)), False, [None])
    second = next(pages)
    assert (second.items, second.last) == ([10, 11], False)  # cut: items remain after these
    assert list(pages) == [] and source.asked == [None, None]
    end = list(Pager(Numbers(10), limit=10).pages())
    assert [(p.items, p.last) for p in end] == [(list(range(10)), True)]


def test_resume_from_the_token() -> None:
    pager = Pager(Numbers(25), limit=10)
    assert list(pager.items()) == list(range(10)) and pager.token == 10
    rest = Pager(Numbers(25), token=pager.token)
    assert list(rest.items()) == list(range(10, 25)) and rest.token is None


def test_measure_counts_without_cutting() -> None:
    counts = lambda token, size: ([{"Count": 4}], (token or 0) + 1 if (token or 0) < 5 else None)  # noqa: E731
    pager = Pager(counts, limit=10, measure=lambda rs: sum(r["Count"] for r in rs))
    assert sum(len(p.items) for p in pager.pages()) == 3 and pager.requests == 3  # 4 + 4 + 4 >= 10: stop


def test_every_follows_every_page() -> None:
    source = Numbers(45, most=20)
    assert list(every(source, 20)) == list(range(45)) and source.asked == [20, 20, 20]

