"""What every IAM entity shares: its lifecycle (new → saved → changed → deleted), change tracking, fields loaded
lazily when a listing did not return them, and deletes that check (or with ``cascade`` remove) what blocks them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

import attrs

from cloudorm import errors as ce

if TYPE_CHECKING:
    from typing_extensions import Self

    from cloudorm.providers.base import IAMService
    from cloudorm.session import Session

T = TypeVar("T")
Blockers = dict[str, list[str]]
"""What blocks a delete: ``{"access keys": ["…WXYZ"], "attached policies": [arn, ...], ...}``."""


class _Unknown:
    """A field's value that the provider has not told us yet (a listing does not return every field)."""

    def __repr__(self) -> str:
        return "<not loaded>"

    def __copy__(self) -> _Unknown:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Unknown:
        return self


UNKNOWN: Any = _Unknown()


class Lazy(Generic[T]):
    """A field loaded with one ``refresh()`` on first read when a listing left it out; checked when set."""

    def __init__(self, check: Callable[[Any], T]) -> None:
        self.check = check
        self.attr = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = f"_{name}"

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Lazy[T]: ...

    @overload
    def __get__(self, obj: Entity, owner: type | None = None) -> T: ...

    def __get__(self, obj: Entity | None, owner: type | None = None) -> Lazy[T] | T:
        if obj is None:
            return self
        if getattr(obj, self.attr) is UNKNOWN:
            obj._fill_unknown()
        value: T = getattr(obj, self.attr)
        return value

    def __set__(self, obj: Entity, value: Any) -> None:
        setattr(obj, self.attr, self.check(value))


def unless_unknown(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``check``, letting a not-yet-loaded value through."""
    def convert(value: Any) -> Any:
        return value if value is UNKNOWN else check(value)
    return convert


def lazy_field(check: Callable[[Any], Any], default: Any = None) -> Any:
    """The attrs field behind a ``Lazy`` property: checked when given to the constructor, not on every set."""
    return attrs.field(default=default, converter=unless_unknown(check), on_setattr=attrs.setters.NO_OP, repr=False)


@attrs.define(eq=False, repr=False)
class Entity:
    """An IAM entity bound to a session: ``save()``, ``refresh()``, ``exists()``, ``delete(cascade=, missing_ok=)``."""

    kind: ClassVar[str]
    tracked: ClassVar[tuple[str, ...]] = ("name", "path")
    """Fields compared with what the provider holds; a saved entity's ``save()`` sends those that changed."""
    fixed: ClassVar[tuple[str, ...]] = ()
    """Tracked fields IAM cannot change after creation."""

    session: Session
    _snapshot: dict[str, Any] | None = attrs.field(default=None, init=False)
    _info: dict[str, Any] = attrs.field(factory=dict, init=False)
    _deleted: bool = attrs.field(default=False, init=False)

    def __repr__(self) -> str:
        name, path = self._raw("name"), self._raw("path")
        return f"{type(self).__name__}({name!r}{'' if path == '/' else f', path={path!r}'})"

    @classmethod
    def _from_record(cls, session: Session, record: dict[str, Any]) -> Self:
        """A saved entity from the provider's (maybe partial) record."""
        entity = cls(session, cls._record_ref(record))  # type: ignore[call-arg]
        entity._load(record)
        return entity

    @staticmethod
    def _record_ref(record: dict[str, Any]) -> str:
        return str(record["name"])

    # ------------------------------------------------------------------------------------------- state

    @property
    def _iam(self) -> IAMService:
        return self.session.iam

    @property
    def arn(self) -> str | None:
        """The entity's ARN (None until it was saved or loaded)."""
        value: str | None = self._info.get("arn")
        return value

    @property
    def id(self) -> str | None:
        """IAM's unique id for the entity (None until it was saved or loaded)."""
        value: str | None = self._info.get("id")
        return value

    @property
    def created(self) -> datetime | None:
        """When the entity was created (None until it was saved or loaded)."""
        value: datetime | None = self._info.get("created")
        return value

    @property
    def state(self) -> str:
        """``"new"``, ``"saved"``, ``"changed"`` or ``"deleted"``."""
        if self._deleted:
            return "deleted"
        if self._snapshot is None:
            return "new"
        return "changed" if self.changes() else "saved"

    @classmethod
    def _is_lazy(cls, field: str) -> bool:
        return isinstance(getattr(cls, field, None), Lazy)

    def _raw(self, field: str) -> Any:
        return getattr(self, f"_{field}" if self._is_lazy(field) else field)

    def _set_raw(self, field: str, value: Any) -> None:
        object.__setattr__(self, f"_{field}" if self._is_lazy(field) else field, value)

    def _differs(self, field: str, new: Any, old: Any) -> bool:
        return bool(new != old)

    def changes(self) -> set[str]:
        """The names of the fields changed since the entity was last saved or loaded (every field when new)."""
        if self._snapshot is None:
            return set(self.tracked)
        out = set()
        for f in self.tracked:
            new, old = self._raw(f), self._snapshot.get(f, UNKNOWN)
            if new is not UNKNOWN and (old is UNKNOWN or self._differs(f, new, old)):
                out.add(f)
        return out

    def _ref(self) -> str:
        """What the provider knows the entity by: its saved name (a policy: its ARN)."""
        return self._snapshot["name"] if self._snapshot else self.name  # type: ignore[attr-defined,no-any-return]

    def _load(self, record: dict[str, Any], only_unknown: bool = False) -> None:
        """Take the provider's record: every tracked field (or only those not known yet), and ARN, id, dates."""
        self._info.update({k: v for k, v in record.items() if k not in self.tracked})
        if self._snapshot is None:
            self._snapshot = {}
        for f in self.tracked:
            if only_unknown and self._raw(f) is not UNKNOWN:
                if self._snapshot.get(f, UNKNOWN) is UNKNOWN and f in record:
                    self._snapshot[f] = copy.deepcopy(record[f])
                continue
            value = record.get(f, UNKNOWN if self._is_lazy(f) else self._raw(f))  # (a policy's path comes from its ARN)
            self._snapshot[f] = copy.deepcopy(value)
            self._set_raw(f, copy.deepcopy(value))
        self._deleted = False

    def _fill_unknown(self) -> None:
        """Load the fields a listing left out, keeping what was changed locally."""
        if self._snapshot is None:
            raise ce.CloudError(f"{self!r} is not loaded: save() or refresh() it first")
        self._load(self._iam.get(self.kind, self._ref()), only_unknown=True)

    # ------------------------------------------------------------------------------------------- lifecycle

    def _check(self) -> None:
        """Validate the whole entity before a request (fields can be changed in place, e.g. ``tags[k] = v``)."""

    def _spec(self) -> dict[str, Any]:
        """What ``create`` needs besides the name."""
        return {f: self._raw(f) for f in self.tracked if f != "name"}

    def save(self) -> Self:
        """Create the entity, or send only what changed since it was last saved or loaded."""
        self._check()
        if self._snapshot is None:
            self._load(self._iam.create(self.kind, self.name, self._spec()))  # type: ignore[attr-defined]
            return self
        changed = self.changes()
        if any(self._snapshot.get(f, UNKNOWN) is UNKNOWN for f in changed):
            self._fill_unknown()  # learn the old values to compare with
            changed = self.changes()
        fixed = sorted(changed & set(self.fixed))
        if fixed:
            raise ce.InvalidInput(fixed[0], f"a {self.kind}'s {fixed[0]} cannot change after it is created "
                                            f"(it is {self._snapshot[fixed[0]]!r})")
        if changed:
            self._update(changed)
            for f in changed:
                self._snapshot[f] = copy.deepcopy(self._raw(f))
            if changed & {"name", "path"}:
                self._rename_arn()
        return self

    def _rename_arn(self) -> None:
        """Keep the ARN (``arn:aws:iam::<account>:<kind><path><name>``) in step with a new name or path."""
        arn = self._info.get("arn")
        if arn and f":{self.kind}/" in arn:
            account = arn.split(f":{self.kind}/", 1)[0]
            self._info["arn"] = f"{account}:{self.kind}{self._raw('path')}{self._raw('name')}"

    def _update(self, changed: set[str]) -> None:
        """Send the changed fields."""
        assert self._snapshot is not None
        changes: dict[str, Any] = {f: self._raw(f) for f in changed}
        if "tags" in changed:
            changes["old_tags"] = self._snapshot["tags"]
        self._iam.update(self.kind, self._ref(), changes)

    def refresh(self) -> Self:
        """Reload every field from the provider (local changes are dropped); ``NotFound`` if it does not exist."""
        self._load(self._iam.get(self.kind, self._ref()))
        return self

    def exists(self) -> bool:
        """True if the provider has this entity."""
        try:
            self._iam.get(self.kind, self._ref())
        except ce.NotFound:
            return False
        return True

    def blockers(self) -> Blockers:
        """What must go before the entity can be deleted (empty when nothing blocks it)."""
        return {}

    def _clear(self, blockers: Blockers) -> None:
        """Remove what blocks the delete."""

    def delete(self, *, cascade: bool = False, missing_ok: bool = False) -> None:
        """Delete the entity. What blocks it (keys, policies, memberships, versions, ...) raises ``ConflictError``
        listing it, or is removed first with ``cascade=True``; ``NotFound`` if absent, unless ``missing_ok``."""
        try:
            found = {k: v for k, v in self.blockers().items() if v}
            if found and not cascade:
                what = "; ".join(f"{k}: {', '.join(v)}" for k, v in found.items())
                error = ce.ConflictError(f"{self.kind} {self._ref()!r} cannot be deleted while it has {what} "
                                         "(delete(cascade=True) removes them)")
                error.blockers = found
                raise error
            if found:
                self._clear(found)
            self._iam.delete(self.kind, self._ref())
        except ce.NotFound:
            if not missing_ok:
                raise
        self._deleted = True
        self._snapshot = None
