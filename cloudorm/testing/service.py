"""The shape every test server here shares: ``start()`` returns it, ``stop()`` ends it, ``with`` does both."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

S = TypeVar("S", bound="TestService")


class TestService:
    """Base of the test servers (FaultProxy, Dynalite, ...): a context manager around start/stop."""

    __test__ = False  # not a pytest test class

    def start(self: S) -> S:
        """Start serving; returns self."""
        raise NotImplementedError  # pragma: no cover - every subclass starts its own way

    def stop(self) -> None:
        """Stop serving (safe to call twice)."""
        raise NotImplementedError  # pragma: no cover - every subclass stops its own way

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
