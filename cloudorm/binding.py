"""``bind(factory)``: a Session method made from an entity's constructor or an area's listing, with the factory's
own signature (less its session) for type checkers and IDEs; nothing is declared twice. ``later(module)`` names a
factory whose module is imported when the method is first used."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from cloudorm.lazy import import_module

P = ParamSpec("P")
R = TypeVar("R", covariant=True)
S = TypeVar("S", contravariant=True)


class bind(Generic[S, P, R]):
    """``User = bind(UserEntity)`` in ``Session``'s body makes ``s.User(...)`` call ``UserEntity(s, ...)``; mypy
    checks the session against the factory's first parameter and the rest against its signature."""

    def __init__(self, factory: Callable[Concatenate[S, P], R]) -> None:
        self.factory = factory
        self.__doc__ = None if isinstance(factory, later) else factory.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.__name__ = name

    def __repr__(self) -> str:
        return f"bind({getattr(self.factory, '__qualname__', self.factory)})"

    @overload
    def __get__(self, session: None, owner: type[Any] | None = None) -> bind[S, P, R]: ...

    @overload
    def __get__(self, session: S, owner: type[Any] | None = None) -> Callable[P, R]: ...

    def __get__(self, session: S | None, owner: type[Any] | None = None) -> bind[S, P, R] | Callable[P, R]:
        if isinstance(self.factory, later):
            self.factory = self.factory.resolve()
            self.__doc__ = self.factory.__doc__
        if session is None:
            return self
        bound: Callable[P, R] = types.MethodType(self.factory, session)
        return bound


class later:
    """``later("cloudorm").nosql.open.open_table`` stands for that function until ``bind`` first uses it, which
    imports its module then (a Session loads an area when one of its methods is first used)."""

    def __init__(self, path: str) -> None:
        self._path = path

    def __getattr__(self, name: str) -> later:
        if name.startswith("__"):
            raise AttributeError(name)
        return later(f"{self._path}.{name}")

    def __repr__(self) -> str:
        return f"later({self._path!r})"

    def resolve(self) -> Any:
        """What the dotted path names: its longest importable module, then attributes."""
        parts = self._path.split(".")
        for end in range(len(parts), 0, -1):
            name = ".".join(parts[:end])
            try:
                found: Any = import_module(name)
            except ModuleNotFoundError as e:
                if e.name != name:
                    raise
                continue
            for attribute in parts[end:]:
                found = getattr(found, attribute)
            return found
        raise ModuleNotFoundError(self._path)
