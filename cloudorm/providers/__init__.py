"""Providers: the swappable backends behind a Session. The built-in ones are imported only when a session asks for
them; ``register_provider`` adds another."""

from __future__ import annotations

import importlib
import re
import threading

from cloudorm.errors import InvalidInput
from cloudorm.providers.contract import Provider

_BUILT_IN = {
    "local": ("cloudorm.providers.local", "LocalProvider"),
    "aws": ("cloudorm.providers.aws", "AwsProvider"),
    "wasabi": ("cloudorm.providers.wasabi", "WasabiProvider"),
    "digitalocean": ("cloudorm.providers.digitalocean", "DigitalOceanProvider"),
    "memory": ("cloudorm.providers.memory", "MemoryProvider"),
}
_REGISTERED: dict[str, type[Provider]] = {}
_LOCK = threading.Lock()
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")

NAMES = tuple(_BUILT_IN)
"""The built-in provider names (``names()`` adds the registered ones)."""


def names() -> tuple[str, ...]:
    """Every provider name a Session accepts: the built-in ones, then those registered."""
    return NAMES + tuple(n for n in _REGISTERED if n not in _BUILT_IN)


def register_provider(name: str, cls: type[Provider]) -> None:
    """Make ``Session(name, ...)`` build ``cls``: a ``Provider`` subclass whose ``name`` is ``name`` (lower-case
    letters, digits, ``-`` and ``_``). Registering a name again replaces it; a built-in name cannot be taken."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput("name", f"must be a lower-case provider name (letters, digits, - and _), not {name!r}")
    if name in _BUILT_IN:
        raise InvalidInput("name", f"{name!r} is a built-in provider; register yours under another name")
    if not isinstance(cls, type) or not issubclass(cls, Provider):
        raise InvalidInput("cls", f"must be a subclass of cloudorm.providers.Provider, not {cls!r}")
    if getattr(cls, "name", None) != name:
        raise InvalidInput("cls", f"{cls.__name__}.name is {getattr(cls, 'name', None)!r}, not {name!r}: a "
                                  "provider's errors and identities carry its name")
    with _LOCK:
        _REGISTERED[name] = cls


def provider_class(name: str) -> type[Provider]:
    """The Provider class registered as ``name`` (``InvalidInput`` for an unknown one)."""
    registered = _REGISTERED.get(name) if isinstance(name, str) else None
    if registered is not None:
        return registered
    try:
        module, attr = _BUILT_IN[name]
    except (KeyError, TypeError):
        raise InvalidInput("provider", f"unknown provider {name!r}; use one of {', '.join(names())}") from None
    cls: type[Provider] = getattr(importlib.import_module(module), attr)
    return cls


__all__ = ["NAMES", "Provider", "names", "provider_class", "register_provider"]
