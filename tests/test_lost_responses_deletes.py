"""Deleting a bucket or a table whose answer is lost after the service applied it (FaultProxy ``drop_after``):
botocore would send it again and report ``NotFound`` for what this very call deleted. The delete succeeds."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

import cloudorm
from cloudorm.testing import FaultProxy
from tests.conftest import FAKE_CREDS


class LoseFirst(FaultProxy):
    """A FaultProxy that loses the answer of the first request for which ``matches(method, path, target, body)``
    holds, after forwarding it (``drop_after``), and lets every other request through."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, seed=1)
        self.matches: Any = lambda method, path, target, body: False
        self.lost = 0
        self._lock = threading.Lock()
        self._chosen = threading.local()

    def _handle(self, handler: Any) -> None:
        read_body = type(handler).read_body.__get__(handler)  # (not an earlier request's wrapper: keep-alive)

        def read_and_choose() -> Any:
            body, framed, trailers = read_body()
            hit = self.matches(handler.command, handler.path, handler.headers.get("X-Amz-Target") or "", body)
            with self._lock:
                self._chosen.kind = "drop_after" if hit and not self.lost else None
                self.lost += 1 if self._chosen.kind else 0
            return body, framed, trailers

        handler.read_body = read_and_choose
        super()._handle(handler)

    def _pick_fault(self) -> str | None:
        return getattr(self._chosen, "kind", None)


@pytest.fixture
def proxy(moto_url: str) -> Any:
    with LoseFirst(moto_url) as p:
        yield p


@pytest.fixture
def flaky(proxy: LoseFirst) -> cloudorm.Session:
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=5)


def test_bucket_delete_whose_answer_is_lost_succeeds(proxy: LoseFirst, flaky: cloudorm.Session) -> None:
    name = f"lost-bucket-{uuid.uuid4().hex[:10]}"
    bucket = flaky.Bucket(name).save()
    proxy.matches = lambda method, path, target, body: method == "DELETE" and path.strip("/") == name
    bucket.delete()  # was NotFound: the re-send found the bucket gone
    assert proxy.lost == 1
    assert not bucket.exists()
    with pytest.raises(cloudorm.errors.NotFound):  # a bucket that is not there is still NotFound
        bucket.delete()


def test_table_delete_whose_answer_is_lost_succeeds(proxy: LoseFirst, flaky: cloudorm.Session) -> None:
    table = flaky.Table(f"lost-table-{uuid.uuid4().hex[:10]}", hash_key=("id", "S")).save()
    proxy.matches = lambda method, path, target, body: target.endswith(".DeleteTable")
    table.delete()  # was NotFound: the re-send found the table gone
    assert proxy.lost == 1
    assert not table.exists()
    with pytest.raises(cloudorm.errors.NotFound):
        table.delete()
