"""The base of every area's service contract: the records' type, capability flags, and ``Unsupported`` for every
operation a provider does not implement."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from cloudorm.errors import Unsupported

Wire = dict[str, Any]
"""A request or an answer in a provider's own parameter names (DynamoDB's wire format, an IAM spec ...)."""


@attrs.frozen
class Capabilities:
    """What a service does beyond its area's core, as flags (False: not offered); each area subclasses it."""


class Service:
    """The base of every area's contract: each operation a subclass does not override raises ``Unsupported``
    naming the provider and the operation, before any request."""

    area: ClassVar[str] = "service"
    """The area a service serves (``storage``, ``iam`` ...): the Session attribute it is reached by."""

    core: ClassVar[frozenset[str]] = frozenset()
    """The operations every provider of the area implements; the others are optional."""

    provider_name: str = "unknown"
    """The name of the provider this service belongs to (set by ``Provider.service``), for errors."""

    capabilities: Capabilities = Capabilities()
    """What this service does beyond the core (a subclass of ``Capabilities`` per area)."""

    def _unsupported(self, operation: str) -> Unsupported:
        return Unsupported(self.provider_name, f"{self.area}.{operation}", operation=operation)

    @classmethod
    def operations(cls) -> tuple[str, ...]:
        """Every operation of the area's contract (its public methods)."""
        return tuple(n for n, v in vars(cls._contract()).items() if callable(v) and not n.startswith("_"))

    def implements(self, operation: str) -> bool:
        """True when this service overrides ``operation`` (a call of any other raises ``Unsupported``)."""
        return getattr(type(self), operation) is not getattr(self._contract(), operation)

    @classmethod
    def _contract(cls) -> type[Service]:
        """The area's contract class this service derives from."""
        return next(c for c in cls.__mro__ if Service in c.__bases__)
