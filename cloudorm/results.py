"""The one results type: what an operation on many targets did to each (cluster runs, transfers, batches).

``Results`` is a list with one result per target, in the order the targets were given; a failure never hides the
others. ``.ok`` says whether all went well, ``.failed`` lists the failures, ``.by_target()`` maps targets to results
and ``.raise_for_errors()`` raises the area's error (``BatchError``, ``ClusterError``...) when any failed.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from cloudorm.errors import BatchError, CloudError

if TYPE_CHECKING:
    from typing_extensions import Self

V = TypeVar("V")


class Outcome(Protocol):
    """What a result offers: the target it is about, and whether that went well."""

    @property
    def target(self) -> Hashable:
        """The target (a node's name, an object's key, an item's key...)."""

    @property
    def ok(self) -> bool:
        """True when this target went well."""


R = TypeVar("R", bound=Outcome)


@attrs.frozen
class Result(Generic[V]):
    """A plain result: the ``target``, and its ``value`` or the ``error`` it met."""

    target: Any
    value: V | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when no error was met."""
        return self.error is None


class Results(list[R]):
    """One result per target, in target order. Subclasses name their targets (``what``) and may raise their own
    error (``_error``)."""

    what = "targets"
    """What the targets are, for messages (``"3 of 20 transfers failed"``)."""

    @property
    def ok(self) -> bool:
        """True when every target went well."""
        return all(r.ok for r in self)

    @property
    def failed(self) -> list[R]:
        """The results that did not go well, in target order."""
        return [r for r in self if not r.ok]

    def by_target(self) -> dict[Hashable, R]:
        """The results keyed by their target."""
        return {r.target: r for r in self}

    def exception(self) -> CloudError | None:
        """The error ``raise_for_errors()`` would raise, or None when every target went well."""
        failed = self.failed
        return self._error(failed) if failed else None

    def raise_for_errors(self) -> Self:
        """These results, or the area's error (``BatchError``, ``ClusterError``...) when any target failed."""
        error = self.exception()
        if error is not None:
            raise error
        return self

    def _summary(self, failed: list[R]) -> str:
        """``"2 of 5 transfers failed; first: <target>: <error>"``."""
        first = failed[0]
        cause = getattr(first, "error", None)
        return (f"{len(failed)} of {len(self)} {self.what} failed; first: {first.target}"
                + (f": {cause}" if cause is not None else ""))

    def _error(self, failed: list[R]) -> CloudError:
        """The error ``raise_for_errors`` raises: ``BatchError`` whose ``unprocessed`` holds the failed results."""
        return BatchError(self._summary(failed), failed)


__all__ = ["Outcome", "Result", "Results"]
