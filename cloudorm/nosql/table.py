"""The Table entity: a DynamoDB-style table's definition (keys, indexes, billing, TTL) on the resource core.

Its lifecycle hooks are plans built from ``cloudorm.nosql.definition``; the item operations come from
``cloudorm.nosql.rows`` (which sends what ``cloudorm.nosql.requests`` builds)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, overload

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_flag, check_seconds
from cloudorm.core import UNSET, Plan, Record, Resource, call, field, resource, run, stored
from cloudorm.nosql import definition as d
from cloudorm.nosql.differences import Difference, table_differences
from cloudorm.nosql.item import Item
from cloudorm.nosql.requests import RowT
from cloudorm.nosql.rows import Rows
from cloudorm.nosql.schema import (
    ON_DEMAND,
    Billing,
    Index,
    IndexKeys,
    KeyAttr,
    TableSchema,
    check_name,
    optional_hash_key_attr,
    optional_range_key_attr,
)

if TYPE_CHECKING:
    from cloudorm.core import SessionLike

__all__ = ["Table", "billing_of"]
billing_of = d.billing_of


@resource
class Table(Resource, Rows[RowT]):
    """A table bound to a session. Declare keys to create it with ``save()``, or name an existing one and its
    schema is read from the provider when first needed."""

    kind: ClassVar[str] = "table"

    name: str = field(check_name, fixed=True)
    hash_key: KeyAttr | None = field(optional_hash_key_attr, default=None)
    range_key: KeyAttr | None = field(optional_range_key_attr, default=None)
    indexes: tuple[Index, ...] | None = field(d.check_table_indexes, default=None, compare=d.same_indexes)
    billing: Billing = field(d.check_billing, default=ON_DEMAND)
    """On demand (``PAY_PER_REQUEST``) or ``Provisioned(read, write)``: as declared, else as the provider
    describes the table (on demand for a declared table still to be created). Set it and ``save()`` to change."""
    ttl: str | None = field(d.check_ttl, default=None, compare=d.same_ttl)
    """The attribute whose epoch seconds expire items, or None when TTL is off: as declared (False: off), else as
    the provider reports it (one DescribeTimeToLive, again after ``refresh()``). None leaves it as it is."""
    model: type[RowT] | None = attrs.field(default=None, kw_only=True)
    status: str | None = stored(lazy=False)
    """``CREATING``, ``ACTIVE``, ``UPDATING``, ``DELETING`` as last seen (``refresh()`` to update)."""
    item_count: int | None = stored(lazy=False)
    """The provider's approximate item count as last seen."""
    arn: str | None = stored(lazy=False)
    """The table's ARN as last seen."""
    _declared_keys: bool = attrs.field(default=False, init=False)
    _ttl_seen: tuple[str | None] | None = attrs.field(default=None, init=False)  # (attribute,) once read
    _schema_cache: tuple[Any, ...] | None = attrs.field(default=None, init=False)
    _co_wait: tuple[bool, float] = attrs.field(default=(True, 300.0), init=False)

    @overload
    def __init__(self: Table[RowT], session: SessionLike, name: type[RowT], *, billing: Billing | str | None = ...,
                 ttl: str | bool | None = ...) -> None: ...

    @overload
    def __init__(self: Table[RowT], session: SessionLike, name: str, *, model: type[RowT],
                 billing: Billing | str | None = ..., ttl: str | bool | None = ...) -> None: ...

    @overload
    def __init__(self: Table[Item], session: SessionLike, name: str, hash_key: Any = ..., range_key: Any = ..., *,
                 indexes: Iterable[Index] | None = ..., billing: Billing | str | None = ...,
                 ttl: str | bool | None = ...) -> None: ...

    def __init__(self, session: SessionLike, name: str | type[Any], hash_key: Any = None, range_key: Any = None, *,
                 indexes: Iterable[Index] | None = None, billing: Billing | str | None = None,
                 ttl: str | bool | None = None, model: type[Any] | None = None) -> None:
        """``Table(s, "orders", hash_key=("customer", "S"), range_key=("placed", "N"))``, an existing table by
        name (``Table(s, "orders")``), ``Table(s, Order)`` for a typed model, or ``Table(s, "orders-2025",
        model=Order)`` for a model stored in a table of another name. ``Session.Table`` binds this."""
        if isinstance(name, type):
            name, model = None, name  # type: ignore[assignment]
        if model is not None:
            info = getattr(model, "__cloudorm_model__", None)
            if info is None:
                raise ce.InvalidInput("model", f"{getattr(model, '__name__', model)} is not a typed model: "
                                               "decorate it with @cloudorm.model(table=...)")
            if hash_key is not None or range_key is not None or indexes is not None:
                raise ce.InvalidInput("hash_key", "a model's keys and indexes are declared on the model")
            name = name or info.table
            hash_key, range_key = info.schema.hash_key, info.schema.range_key
            indexes = info.schema.indexes if info.declares_indexes else None
        if hash_key is None and range_key is not None:
            raise ce.InvalidInput("hash_key", "is required when range_key is given")
        given: dict[str, Any] = {} if hash_key is None else {"hash_key": hash_key, "range_key": range_key}
        if indexes is not None:
            given["indexes"] = indexes
        if billing is not None:
            given["billing"] = billing
        if ttl is not None:
            given["ttl"] = ttl
        self.__attrs_init__(session, name, model=model, **given)  # type: ignore[attr-defined]
        if hash_key is not None:
            self._declared_keys = True
            self.schema.check(self.billing)  # what CreateTable would refuse, refused now

    def __repr__(self) -> str:
        held = {**(self._co_record or {}), **{k: v for k, v in self.__dict__.items() if v is not UNSET}}
        keys = "".join(f", {k}={held[k].name!r}" for k in ("hash_key", "range_key") if held.get(k) is not None)
        row = f", model={self.model.__name__}" if self.model else ""
        return f"Table({self.name!r}{keys}{row})"

    # ------------------------------------------------------------------------------------------- definition

    @property
    def schema(self) -> TableSchema:
        """Key attributes and indexes: as declared, or read once with DescribeTable."""
        parts = (self.hash_key, self.range_key, self.indexes)
        cached = self._schema_cache
        if cached is None or any(a is not b for a, b in zip(cached[:3], parts, strict=True)):
            if parts[0] is None:
                raise ce.InvalidInput("hash_key", f"is required to create table {self.name!r}")
            cached = self._schema_cache = (*parts, TableSchema(parts[0], parts[1], parts[2] or ()))
        schema: TableSchema = cached[3]
        return schema

    @property
    def _description(self) -> dict[str, Any] | None:
        """The provider's last DescribeTable answer."""
        return (self._co_record or {}).get("description")

    def _co_lookup(self, key: str, lazy: bool = True) -> tuple[bool, Any]:
        """The record's value; a table named without keys is described on first need, its TTL (which
        DescribeTable does not show) with one DescribeTimeToLive."""
        if key == "ttl":
            record = self._co_record
            if record is not None and "ttl" in record:
                return True, record["ttl"]
            if self._ttl_seen is None and not self._co_deleted:
                try:
                    self._ttl_seen = (d.ttl_of(self._nosql.describe_ttl(self.name)),)
                except (ce.Unsupported, ce.AccessDenied):
                    raise
                except ce.CloudError as e:  # a table still to be created has no TTL yet
                    if record is not None or not (isinstance(e, ce.NotFound) or "NotFound" in (e.code or "")):
                        raise
            return self._ttl_seen is not None, (self._ttl_seen or (None,))[0]
        if self._co_record is None and lazy and not self._declared_keys and not self._co_deleted:
            self._co_take(run(self.session, self._co_fetch()), keep_local=True)
        return super()._co_lookup(key, lazy)

    def _co_take(self, record: Record, *, partial: bool = False, keep_local: bool = False) -> None:
        super()._co_take(record, partial=partial, keep_local=keep_local)
        if "ttl" not in record:
            self._ttl_seen = None  # read again when next asked for

    def index_keys(self, name: str | None) -> IndexKeys:
        """The keys of index ``name`` (the table's keys for None); an index the declaration does not name is
        looked up once with DescribeTable."""
        schema = self.schema
        if name is None:
            return schema.keys
        try:
            return schema.index(name)
        except ce.InvalidInput:
            if self.__dict__.get("indexes", UNSET) is not UNSET or self._co_record is not None:
                raise  # declared, or described already
            self._co_take(run(self.session, self._co_fetch()), keep_local=True)
            return self.schema.index(name)

    def differences(self) -> list[Difference]:
        """How the live table differs from this declaration (the values given to this object, else those it last
        saved or loaded): keys, indexes, billing and TTL, each a ``Difference`` that reads as a sentence; empty when
        it matches. One DescribeTable (and a DescribeTimeToLive when TTL is declared); ``NotFound`` when the table
        does not exist. Nothing is changed."""
        found: list[Difference] = run(self.session, table_differences(self))
        return found

    def matches(self) -> bool:
        """True when the live table matches this declaration (``differences()`` is empty)."""
        return not self.differences()

    # ------------------------------------------------------------------------------------------- lifecycle

    def _co_fetch(self) -> Plan[Record]:
        desc = yield from call("nosql", "describe_table", self._co_ref()[0])
        return d.record_of(desc)

    def _co_create(self) -> Plan[Record]:
        schema, billing, ttl = self.schema, self.billing, self.__dict__.get("ttl", UNSET)
        desc = yield from call("nosql", "create_table", d.create_params(self.name, schema, billing))
        if self._co_wait[0]:
            desc = yield from d.wait_active(self.name, self._co_wait[1])
        record = d.record_of(desc)
        record["ttl"] = (yield from d.sync_ttl(self.name, ttl)) if isinstance(ttl, str) else None
        return record

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        record = self._co_record or {}
        want = {n: getattr(self, n) for n in ("hash_key", "range_key", "indexes", "billing")}
        want["declared"] = self.__dict__.get("indexes") or ()  # their own throughput, when moving to provisioned
        d.check_reconcilable(self.name, record, want, changed)
        answer: dict[str, Any] = {}
        if changed & {"billing", "indexes"}:
            answer = d.record_of((yield from d.reconcile(self.name, record["description"], want, changed,
                                                         self._co_wait[1])))
        if "ttl" in changed:
            try:
                answer["ttl"] = yield from d.sync_ttl(self.name, self.ttl or None)
            except ce.ConflictError:
                self._ttl_seen = (None,)
                raise
        return answer

    def _co_remove(self, **options: Any) -> Plan[None]:
        yield from call("nosql", "delete_table", self._co_ref()[0])
        if options["wait"]:
            yield from d.wait_gone(self.name, options["timeout"])

    def _co_known(self) -> dict[str, Any]:
        """The table's declaration known without a request (a deleted table keeps it for ``save()``): a table
        named without keys is not described, nor its TTL read, just to delete it."""
        record = self._co_record or {}
        if "ttl" not in record and self._ttl_seen is not None:  # (read with DescribeTimeToLive, not in the record)
            record = {**record, "ttl": self._ttl_seen[0]}
        out = {}
        for name in ("name", "hash_key", "range_key", "indexes", "billing", "ttl"):
            value = self.__dict__.get(name, UNSET)
            out[name] = record.get(name, UNSET) if value is UNSET else value
        return {k: v for k, v in out.items() if v is not UNSET}

    def save(self, *, exists_ok: bool = True, wait: bool = True, timeout: float = 300.0) -> Table[RowT]:
        """Create the table (waiting until it is ACTIVE), or bring an existing one's billing, indexes and TTL in
        line with this declaration, sending only what differs (``exists_ok=False``: ``AlreadyExists`` instead).
        A table named without keys is never created: what is declared is applied to the existing table.
        ``timeout`` bounds each wait (0: look once)."""
        self._co_wait = (check_flag("wait", wait), check_seconds("timeout", timeout, zero=True))
        check_flag("exists_ok", exists_ok)
        if self._co_record is None and not self._declared_keys and not self._co_deleted:
            try:
                self._co_take(run(self.session, self._co_fetch()), keep_local=True)
            except ce.NotFound:
                raise ce.InvalidInput("hash_key", f"is required to create table {self.name!r}") from None
            if not exists_ok:
                raise ce.AlreadyExists(f"table {self.name!r} exists already")
        super().save(exists_ok=exists_ok)
        description = self._description
        if self._co_wait[0] and description is not None and not d.is_active(description):  # adopted mid-change
            self._co_take({**(self._co_record or {}), **d.record_of(run(self.session, d.wait_active(
                self.name, self._co_wait[1])))}, keep_local=True)
        return self

    def delete(self, *, missing_ok: bool = False, wait: bool = True, timeout: float = 300.0) -> None:
        """Delete the table and everything in it (``NotFound`` if absent, unless ``missing_ok``); ``save()``
        recreates it."""
        options = {"wait": check_flag("wait", wait), "timeout": check_seconds("timeout", timeout, zero=True)}
        run(self.session, self._co_delete(missing_ok, options))
