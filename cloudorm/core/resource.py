"""The one resource base every entity is built on: identity, the record the provider last returned, and the
lifecycle ``save()`` / ``refresh()`` / ``exists()`` / ``delete()``, written once as plans over per-kind hooks."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_flag
from cloudorm.core.fields import UNSET, FieldSpec, Stored, field, install, specs, stored
from cloudorm.core.plans import Plan, run

if TYPE_CHECKING:
    from typing_extensions import Self, dataclass_transform

    from cloudorm.core.bound import SessionLike
else:
    def dataclass_transform(**kwargs: object) -> object:
        """Tells type checkers that ``resource`` makes attrs classes (a no-op at run time)."""
        return lambda decorated: decorated

C = TypeVar("C", bound=type)
Record = Mapping[str, Any]
"""What a provider says about a resource (a typed record of the area's contract)."""


class Found(ce.AlreadyExists):
    """``AlreadyExists`` from a ``_co_create`` that looked before creating: it carries the record it found, so
    adopting the resource needs no second fetch."""

    def __init__(self, message: str, record: Record) -> None:
        super().__init__(message)
        self.record = dict(record)


@dataclass_transform(field_specifiers=(attrs.field, field, stored), eq_default=False)
def resource(cls: C) -> C:
    """Make ``cls`` an attrs resource class: ``attrs.define(eq=False, repr=False, slots=False)`` plus a
    record-backed descriptor for each ``field()``; ``x: T = stored()`` stays a read-only property."""
    notes = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - its entries are removed, not read
    for name in [n for n in notes if isinstance(cls.__dict__.get(n), Stored)]:
        del notes[name]
    made: C = attrs.define(eq=False, repr=False, slots=False)(cls)
    install(made)
    return made


@resource
class Resource:
    """A cloud resource bound to a session. ``save(exists_ok=)``, ``refresh()``, ``exists()``,
    ``delete(missing_ok=)`` behave the same for every kind; a kind supplies the hooks ``_co_fetch``,
    ``_co_create``, ``_co_update`` and ``_co_remove`` as plans."""

    kind: ClassVar[str] = "resource"
    identity: ClassVar[tuple[str, ...]] = ("name",)
    """The fields that name the resource within its session's scope."""
    regional: ClassVar[bool] = True
    """False for kinds named account-wide (IAM entities, buckets): the session's region is not in their identity."""

    session: SessionLike = attrs.field(repr=False)
    _co_record: dict[str, Any] | None = attrs.field(default=None, init=False)
    _co_partial: bool = attrs.field(default=False, init=False)
    _co_deleted: bool = attrs.field(default=False, init=False)
    _co_given: set[str] = attrs.field(factory=set, init=False)
    _co_origin: dict[str, Any] = attrs.field(factory=dict, init=False)

    # ------------------------------------------------------------------------------------------- identity

    def __repr__(self) -> str:
        ref = ", ".join(repr(v) for v in self._co_ref())
        return f"{type(self).__name__}({ref})"

    def _co_ref(self) -> tuple[Any, ...]:
        """The identity fields' values as the provider knows them (the saved ones once loaded)."""
        record = self._co_record
        out = []
        for name in self.identity:
            spec = _spec(type(self), name)
            key = spec.key if spec is not None else name
            out.append(record[key] if record is not None and key in record else getattr(self, name))
        return tuple(out)

    def _co_identity(self) -> tuple[Any, ...]:
        region = self.session.region if self.regional else None
        return (self.kind, self.session.scope, region, *self._co_ref())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return self._co_identity() == other._co_identity()

    def __hash__(self) -> int:
        return hash(self._co_identity())

    # ------------------------------------------------------------------------------------------- record

    @classmethod
    def _co_from_record(cls, session: SessionLike, record: Record, *, partial: bool = False,
                        **identity: Any) -> Self:
        """A saved resource from the provider's record (``partial``: a listing's, completed on first read)."""
        given = {}
        for name in cls.identity:
            spec = _spec(cls, name)
            key = spec.key if spec is not None else name
            given[name] = identity.get(name, record.get(key))
        entity = cls(session, **given)
        entity._co_take(record, partial=partial)
        return entity

    def _co_lookup(self, key: str, lazy: bool = True) -> tuple[bool, Any]:
        """``(True, value)`` from the record, completing a partial one first; ``(False, None)`` when absent."""
        record = self._co_record
        if record is None:
            return False, None
        if key not in record and lazy and self._co_partial:
            self._co_take({**record, **run(self.session, self._co_fetch())}, keep_local=True)  # (a fetch may
            record = self._co_record or {}  # not say all a listing said: what it does not say is kept)
        return (True, record[key]) if key in record else (False, None)

    def _co_take(self, record: Record, *, partial: bool = False, keep_local: bool = False) -> None:
        """Adopt ``record`` as what the provider holds. Values read and not changed are forgotten (they are read
        from the record again); values changed locally go too, unless ``keep_local`` (then they are reconciled)."""
        self._co_record = dict(record)
        self._co_partial = partial
        self._co_deleted = False
        for spec in specs(type(self)):
            name = spec.name
            held = self.__dict__.get(name, UNSET)
            if name not in self.__dict__:
                continue
            unchanged = name in self._co_origin and not spec.differs(held, self._co_origin[name])
            if held is UNSET or unchanged or (not keep_local and spec.key in record):
                self._co_drop(name)

    def _co_drop(self, name: str) -> None:
        self.__dict__.pop(name, None)
        self._co_origin.pop(name, None)
        self._co_given.discard(name)

    def _co_stored(self, changed: set[str], answer: Record | None) -> None:
        """After a create or update: the provider now holds the local values (and what it answered)."""
        record = dict(self._co_record or {})
        for spec in specs(type(self)):
            value = self.__dict__.get(spec.name, UNSET)
            if value is not UNSET and (spec.name in changed or spec.key not in record):
                record[spec.key] = copy.deepcopy(value)
        record.update(answer or {})
        self._co_record, self._co_deleted = record, False  # (a listing's partial record stays partial)
        for spec in specs(type(self)):
            if spec.key in record:
                self._co_drop(spec.name)
        self._co_given.clear()

    def _co_changes(self) -> set[str]:
        """The tracked fields whose local value differs from the record's (every given one while new)."""
        record = self._co_record
        out = set()
        for spec in specs(type(self)):
            if not spec.tracked:
                continue
            held = self.__dict__.get(spec.name, UNSET)
            if held is UNSET:
                continue
            if record is None:
                if spec.name in self._co_given or spec.differs(held, self._co_origin.get(spec.name, UNSET)):
                    out.add(spec.name)
            elif spec.key not in record or spec.differs(held, record[spec.key]):
                out.add(spec.name)
        return out

    def _co_phase(self) -> str:
        """``"deleted"``, ``"new"`` or ``"loaded"`` (saved or changed)."""
        if self._co_deleted:
            return "deleted"
        return "new" if self._co_record is None else "loaded"

    def _co_spec_values(self) -> dict[str, Any]:
        """Every tracked field's value (set, stored or default): what a create sends."""
        return {spec.name: getattr(self, spec.name) for spec in specs(type(self)) if spec.tracked}

    # ------------------------------------------------------------------------------------------- hooks

    def _co_check(self) -> None:
        """Validate the whole resource before a request (values can be changed in place)."""

    def _co_fetch(self) -> Plan[Record]:
        """The provider's record for this resource; ``NotFound`` when it does not exist."""
        raise ce.Unsupported(self.session.provider, f"{self.kind} refresh")
        yield  # pragma: no cover

    def _co_create(self) -> Plan[Record]:
        """Create the resource and return its record; ``AlreadyExists`` when it exists already."""
        raise ce.Unsupported(self.session.provider, f"{self.kind} create")
        yield  # pragma: no cover

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        """Send the changed fields; returns the new record (or None when the answer has none)."""
        raise ce.Unsupported(self.session.provider, f"{self.kind} update")
        yield  # pragma: no cover

    def _co_remove(self, **options: Any) -> Plan[None]:
        """Delete the resource; ``NotFound`` when it is gone already."""
        raise ce.Unsupported(self.session.provider, f"{self.kind} delete")
        yield  # pragma: no cover

    # ------------------------------------------------------------------------------------------- lifecycle

    def _co_save(self, exists_ok: bool) -> Plan[Self]:
        check_flag("exists_ok", exists_ok)  # ("no" is not taken for True)
        self._co_check()
        if self._co_record is None:
            try:
                answer = yield from self._co_create()
            except ce.AlreadyExists as error:
                if not exists_ok:
                    raise
                found = error.record if isinstance(error, Found) else (yield from self._co_fetch())
                self._co_take(found, keep_local=True)
            else:
                self._co_stored(set(self._co_changes()), answer)
                return self
        changed = self._co_changes()
        if self._co_partial and any(_key(type(self), n) not in (self._co_record or {}) for n in changed):
            self._co_take((yield from self._co_fetch()), keep_local=True)  # learn the old values to compare with
            changed = self._co_changes()
        # (a kind may report changes that are no field, such as a Function's code)
        fixed = sorted(n for n in changed if getattr(_spec(type(self), n), "fixed", False))
        if fixed:
            held = (self._co_record or {}).get(_spec(type(self), fixed[0]).key)  # type: ignore[union-attr]
            raise ce.InvalidInput(fixed[0], f"a {self.kind}'s {fixed[0]} cannot change once it exists "
                                            f"(it is {held!r})")
        if changed:
            updated = yield from self._co_update(changed)
            self._co_stored(changed, updated)
        return self

    def save(self, *, exists_ok: bool = True) -> Self:
        """Create the resource, or send only what changed; a new object whose resource exists already is adopted
        and reconciled (``exists_ok=False``: ``AlreadyExists``). Unchanged: no request that changes anything."""
        return run(self.session, self._co_save(exists_ok))

    def _co_refresh(self) -> Plan[Self]:
        record = yield from self._co_fetch()
        for spec in specs(type(self)):  # a local change the fetch does not say (loaded apart: a bucket's tags) goes too
            if spec.tracked and spec.key not in record and spec.name not in self.identity:
                self._co_drop(spec.name)
        self._co_take(record)
        return self

    def refresh(self) -> Self:
        """Reload from the provider, dropping local changes; ``NotFound`` when the resource is gone."""
        return run(self.session, self._co_refresh())

    def _co_exists(self) -> Plan[bool]:
        try:
            yield from self._co_fetch()
        except ce.NotFound:
            return False
        return True

    def exists(self) -> bool:
        """True if the provider has this resource (one request; the object is not changed)."""
        return run(self.session, self._co_exists())

    def _co_current(self, name: str) -> Any:
        """A field's value as set, else as stored (a copy), else its default, loading nothing."""
        spec = _spec(type(self), name)
        assert spec is not None, name
        held = self.__dict__.get(name, UNSET)
        if held is not UNSET:
            return held
        record = self._co_record or {}
        return copy.deepcopy(record[spec.key]) if spec.key in record else spec.default_value()

    def _co_known(self) -> dict[str, Any]:
        """Every tracked field's value known without a request: set locally, in the record, or (new) the default."""
        record = self._co_record
        return {spec.name: self._co_current(spec.name) for spec in specs(type(self)) if spec.tracked and (
            record is None or spec.key in record or self.__dict__.get(spec.name, UNSET) is not UNSET)}

    def _co_delete(self, missing_ok: bool, options: dict[str, Any]) -> Plan[None]:
        check_flag("missing_ok", missing_ok)
        keep = self._co_known()  # (a listed resource's missing fields are not fetched just to delete it)
        try:
            yield from self._co_remove(**options)
        except ce.NotFound:
            if not missing_ok:
                raise
        self._co_forget(keep)

    def _co_forget(self, keep: dict[str, Any]) -> None:
        """Mark deleted, holding every field's last value so that ``save()`` recreates the same resource."""
        self._co_record, self._co_partial, self._co_deleted = None, False, True
        for name, value in keep.items():
            self.__dict__[name] = value
            self._co_given.add(name)

    def delete(self, *, missing_ok: bool = False) -> None:
        """Delete the resource (``NotFound`` if it is gone, unless ``missing_ok``); ``save()`` recreates it."""
        run(self.session, self._co_delete(missing_ok, {}))


def _spec(cls: type, name: str) -> FieldSpec | None:
    return next((s for s in specs(cls) if s.name == name), None)


def _key(cls: type, name: str) -> str:
    spec = _spec(cls, name)
    return spec.key if spec is not None else name


def state(entity: Any) -> str:
    """``"new"``, ``"saved"``, ``"changed"`` or ``"deleted"``: where ``entity`` is in its lifecycle."""
    phase: str = entity._co_phase()
    if phase != "loaded":
        return phase
    return "changed" if entity._co_changes() else "saved"


def changes(entity: Any) -> set[str]:
    """The names of the fields changed since ``entity`` was last saved or loaded."""
    found: set[str] = entity._co_changes()
    return found
