"""Providers: the swappable backends behind a Session. Each is imported only when a session asks for it."""

from __future__ import annotations

import importlib

from cloudorm.errors import InvalidInput
from cloudorm.providers.base import Provider

_PROVIDERS = {
    "local": ("cloudorm.providers.local", "LocalProvider"),
    "aws": ("cloudorm.providers.aws", "AwsProvider"),
    "wasabi": ("cloudorm.providers.wasabi", "WasabiProvider"),
    "digitalocean": ("cloudorm.providers.digitalocean", "DigitalOceanProvider"),
}

NAMES = tuple(_PROVIDERS)
"""The provider names a Session accepts."""


def provider_class(name: str) -> type[Provider]:
    """The Provider class registered as ``name`` (``InvalidInput`` for an unknown one)."""
    try:
        module, attr = _PROVIDERS[name]
    except (KeyError, TypeError):
        raise InvalidInput("provider", f"unknown provider {name!r}; use one of {', '.join(NAMES)}") from None
    cls: type[Provider] = getattr(importlib.import_module(module), attr)
    return cls
