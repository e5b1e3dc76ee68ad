"""``bind(factory)``: a Session method made from an entity's constructor or an area's listing, with the factory's
own signature (less its session) for type checkers and IDEs; nothing is declared twice."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

P = ParamSpec("P")
R = TypeVar("R", covariant=True)
S = TypeVar("S", contravariant=True)


class bind(Generic[S, P, R]):
    """``User = bind(UserEntity)`` in ``Session``'s body makes ``s.User(...)`` call ``UserEntity(s, ...)``; mypy
    checks the session against the factory's first parameter and the rest against its signature."""

    def __init__(self, factory: Callable[Concatenate[S, P], R]) -> None:
        self.factory = factory
        self.__doc__ = factory.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.__name__ = name

    def __repr__(self) -> str:
        return f"bind({getattr(self.factory, '__qualname__', self.factory)})"

    @overload
    def __get__(self, session: None, owner: type[Any] | None = None) -> bind[S, P, R]: ...

    @overload
    def __get__(self, session: S, owner: type[Any] | None = None) -> Callable[P, R]: ...

    def __get__(self, session: S | None, owner: type[Any] | None = None) -> bind[S, P, R] | Callable[P, R]:
        if session is None:
            return self
        bound: Callable[P, R] = types.MethodType(self.factory, session)
        return bound
