"""Packages whose public names are imported on first use: ``import cloudorm`` (or an area) loads none of the
modules behind them, and ``from cloudorm import Table`` imports the one it needs."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

_first_imports = threading.RLock()


def import_module(name: str) -> ModuleType:
    """``importlib.import_module`` for a first use, one thread at a time. cloudorm's modules import one another in
    cycles, which Python resolves within one thread but may resolve for a second thread importing the same cycle at
    the same moment by handing it a module still being initialized (``ImportError: ... partially initialized``)."""
    module = sys.modules.get(name)
    if module is not None and not getattr(module.__spec__, "_initializing", False):
        return module
    # (bounded: a thread importing a cloudorm module directly may hold a module lock this import needs)
    locked = _first_imports.acquire(timeout=10)
    try:
        return importlib.import_module(name)
    finally:
        if locked:
            _first_imports.release()


def lazy_names(package: str, homes: Mapping[str, Sequence[str]],
               public: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__``: ``homes`` maps each module to the public names it defines (a
    name equal to the module's last part is the module itself); any other name is a submodule, if there is one.
    A name is imported when first read and kept in the package."""
    where = {name: module for module, names in homes.items() for name in names}
    namespace = importlib.import_module(package).__dict__

    def getattr_(name: str) -> Any:
        """A public name (or a submodule), imported on first use and kept."""
        if name.startswith("_"):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        home = where.get(name)
        if home is None:
            try:
                value = import_module(f"{package}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        else:
            module = import_module(home)
            value = module if home == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        """The package's names, the public ones not imported yet included."""
        return sorted({*namespace, *public})

    return getattr_, dir_
