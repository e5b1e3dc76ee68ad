"""The Table entity: lifecycle of a DynamoDB-style table and every single-item operation on it.

Request building lives here once (``_put_request``, ``_update_request``, ``_delete_request``, ...) and serves both
single calls and transactions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_flag, check_seconds
from cloudorm.nosql import codec
from cloudorm.nosql.converter import datetime_text, epoch_seconds, parse_datetime, to_stored
from cloudorm.nosql.expressions import (
    Action,
    Attr,
    Condition,
    ExpressionBuilder,
    all_of,
    compile_update,
    parse_path,
)
from cloudorm.nosql.item import Item, changes, construct, mark_read, mark_stored, stored_values, structure
from cloudorm.nosql.schema import (
    MAX_HASH_KEY_BYTES,
    MAX_RANGE_KEY_BYTES,
    ON_DEMAND,
    Billing,
    GlobalIndex,
    Index,
    IndexKeys,
    KeyAttr,
    LocalIndex,
    Provisioned,
    TableSchema,
    check_indexes,
    check_key_size,
    check_key_value,
    check_name,
    global_index_wire,
    key_schema_wire,
    local_index_wire,
    optional_hash_key_attr,
    optional_range_key_attr,
)
from cloudorm.waiting import wait_until

if TYPE_CHECKING:
    from cloudorm.nosql.batch import BatchWriter
    from cloudorm.nosql.queryset import QuerySet
    from cloudorm.providers.base import NoSQLService
    from cloudorm.session import Session

RowT = TypeVar("RowT", bound=Item)
ItemBase = Item  # the class, for annotations inside Table (whose factory method is also called Item)
Wire = dict[str, Any]

TTL_ON = ("ENABLED", "ENABLING")
"""DescribeTimeToLive statuses that mean TTL is on (or being turned on)."""


@attrs.frozen
class Request:
    """One prepared write: the DynamoDB parameters, and what to do to the item once it succeeded."""

    operation: str
    params: Wire
    on_success: Callable[[], None] = lambda: None
    if_not_exists: bool = False
    must_exist: bool = False
    version: tuple[str, int | None] | None = None
    """A versioned write's version field and the version its condition requires the item to hold (0: none stored,
    None: no item with this key), named when the condition fails."""


def _billing(value: Any) -> Billing | None:
    """A billing declaration; None leaves it open (on demand for a table declared with keys)."""
    if value is None:
        return None
    if value in (ON_DEMAND, "on_demand"):
        return ON_DEMAND
    if isinstance(value, Provisioned):
        return value
    raise ce.InvalidInput("billing", f"must be 'PAY_PER_REQUEST' or cloudorm.Provisioned(read, write), not {value!r}")


def _ttl(value: Any) -> str | bool | None:
    """A TTL declaration: an attribute name turns TTL on, False turns it off, None leaves it as it is."""
    if value is None or value is False:
        return value
    if not isinstance(value, str) or not value:
        raise ce.InvalidInput("ttl", f"must be an attribute name, False (TTL off) or None (left as it is), "
                                     f"not {value!r}")
    codec.check_text(value, "ttl")
    return value


def billing_of(description: Mapping[str, Any]) -> Billing:
    """The billing a DescribeTable description shows."""
    if (description.get("BillingModeSummary") or {}).get("BillingMode") == ON_DEMAND:
        return ON_DEMAND
    throughput = description.get("ProvisionedThroughput") or {}
    if not throughput.get("ReadCapacityUnits") or not throughput.get("WriteCapacityUnits"):
        return ON_DEMAND  # providers that leave out the summary of an on-demand table show 0 units
    return Provisioned(int(throughput["ReadCapacityUnits"]), int(throughput["WriteCapacityUnits"]))


def _global_index_names(description: Mapping[str, Any]) -> set[str]:
    return {g["IndexName"] for g in description.get("GlobalSecondaryIndexes") or []}


def _has_index(name: str, description: Mapping[str, Any]) -> bool:
    return name in _global_index_names(description)


def _lacks_index(name: str, description: Mapping[str, Any]) -> bool:
    return name not in _global_index_names(description)


@attrs.define(eq=False, repr=False)
class Table(Generic[RowT]):
    """A table bound to a session. Declare keys to create it with ``save()``, or name an existing one and its
    schema is read from the provider when first needed."""

    session: Session
    name: str = attrs.field(converter=check_name)
    hash_key: KeyAttr | None = attrs.field(default=None, converter=optional_hash_key_attr)
    range_key: KeyAttr | None = attrs.field(default=None, converter=optional_range_key_attr)
    indexes: tuple[Index, ...] | None = attrs.field(default=None, converter=check_indexes)
    _billing: Billing | None = attrs.field(default=None, converter=_billing)
    _ttl: str | bool | None = attrs.field(default=None, converter=_ttl)
    model: type[RowT] | None = None
    _schema: TableSchema | None = attrs.field(default=None, init=False)
    _description: Wire | None = attrs.field(default=None, init=False)
    _declared_keys: bool = attrs.field(default=False, init=False)
    _ttl_seen: tuple[str | None] | None = attrs.field(default=None, init=False)  # (attribute,) once read

    def __attrs_post_init__(self) -> None:
        if self.range_key is not None and self.hash_key is None:
            raise ce.InvalidInput("hash_key", "is required when range_key is given")
        if self.hash_key is not None:
            self._declared_keys = True
            self._schema = TableSchema(self.hash_key, self.range_key, self.indexes or ())
            self._schema.check(self.billing)  # what CreateTable would refuse, refused now

    def __repr__(self) -> str:
        keys = f", hash_key={self.hash_key.name!r}" if self.hash_key else ""
        keys += f", range_key={self.range_key.name!r}" if self.range_key else ""
        row = f", model={self.model.__name__}" if self.model else ""
        return f"Table({self.name!r}{keys}{row})"

    # ------------------------------------------------------------------------------------------- plumbing

    @property
    def billing(self) -> Billing:
        """On demand (``PAY_PER_REQUEST``) or ``Provisioned(read, write)``: as declared; otherwise as the provider
        last described the table (read once with DescribeTable), or on demand for a table declared with keys that
        is still to be created. Set it and ``save()`` to change an existing table's billing."""
        if self._billing is not None:
            return self._billing
        if self._declared_keys and self._description is None:
            return ON_DEMAND
        if self._description is None:
            self.refresh()
        assert self._description is not None
        return billing_of(self._description)

    @billing.setter
    def billing(self, value: Billing | None) -> None:
        self._billing = value  # the converter checks it

    @property
    def ttl(self) -> str | None:
        """The attribute whose epoch seconds expire items, or None when TTL is off: as declared (``ttl=False``
        declares it off), otherwise as the provider reports it (one DescribeTimeToLive, again after
        ``refresh()``). Set it (a name, False, or None to leave it as it is) and ``save()`` to change it."""
        if self._ttl is None and self._ttl_seen is None:
            current = self._nosql.describe_ttl(self.name)
            on = current.get("TimeToLiveStatus") in TTL_ON
            self._ttl_seen = (current.get("AttributeName") if on else None,)
        return self._ttl_attribute()

    @ttl.setter
    def ttl(self, value: str | bool | None) -> None:
        self._ttl = value  # the converter checks it

    def _ttl_attribute(self) -> str | None:
        """The TTL attribute as declared or as last read, without sending a request (None if neither)."""
        if self._ttl is not None:
            return self._ttl if isinstance(self._ttl, str) else None
        return self._ttl_seen[0] if self._ttl_seen is not None else None

    @property
    def _nosql(self) -> NoSQLService:
        return self.session.nosql

    @property
    def schema(self) -> TableSchema:
        """Key attributes and indexes: as declared, or read once with DescribeTable."""
        if self._schema is None:
            self.refresh()
        assert self._schema is not None
        return self._schema

    def _call(self, fn: Callable[[], Any], req: Request | None = None) -> Any:
        """Run a request, turning a failed condition into the error the caller asked about."""
        try:
            return fn()
        except ce.ConflictError as e:
            if e.code != "ConditionalCheckFailedException" or req is None:
                raise
            raise self._explain_failed_condition(e, req) from None

    def _explain_failed_condition(self, e: ce.ConflictError, req: Request) -> ce.CloudError:
        details = e.provider_details()
        stored = codec.decode_item(e.item) if isinstance(e.item, dict) else None
        if isinstance(e.item, dict):  # the stored item the provider returned, as a row of this table
            try:
                e.item = self._row(e.item)
            except ce.InvalidInput:  # stored data that does not fit the model: show it as it is
                e.item = codec.decode_item(e.item)
        if req.if_not_exists or req.must_exist:
            present = e.item is not None or self._exists_key(req.params["Key" if "Key" in req.params else "Item"])
            if req.if_not_exists and present:
                return ce.AlreadyExists(f"an item with this key exists already in {self.name!r} (key "
                                        f"{self._request_key(req)})", **details)
            if req.must_exist and not present:
                return ce.NotFound(f"no item with this key in {self.name!r} (key {self._request_key(req)})",
                                   **details)
        conflict = ce.ConflictError(self._failed_condition_text(req, stored, e.message), **details)
        conflict.item = e.item
        return conflict

    def _request_key(self, req: Request) -> dict[str, Any]:
        """The key of the item a prepared write is about, decoded."""
        wire = req.params.get("Key") or {n: req.params["Item"][n] for n in self.schema.key_names}
        return codec.decode_item(wire)

    def _failed_condition_text(self, req: Request, stored: Mapping[str, Any] | None, message: str | None) -> str:
        """What a failed condition of ``req`` was about: operation, table and key, for a versioned write the version
        it expected and the one ``stored`` (the item, when the provider returned it), then the provider's message."""
        text = f"{req.operation} on {self.name!r} key {self._request_key(req)}"
        if req.version is not None:
            vname, expected = req.version
            text += f": stale {vname} (expected {_version_text(expected)}"
            if stored is not None:
                text += f", stored {_version_text(stored.get(vname, 0))}"
            text += ")"
        return f"{text}: {message or 'the condition failed'}"

    def _exists_key(self, wire: Wire) -> bool:
        key = {k: wire[k] for k in self.schema.key_names if k in wire}
        params = {"TableName": self.name, "Key": key, "ConsistentRead": True,
                  "ProjectionExpression": "#k", "ExpressionAttributeNames": {"#k": self.schema.hash_key.name}}
        return self._nosql.get_item(params) is not None

    def _row(self, wire: Wire, projection: tuple[str, ...] | None = None) -> RowT:
        """An item read from the table, bound to it; ``projection`` names the ``.only()`` paths it was read with,
        so that saving it never overwrites what it did not read."""
        if self.model is None:
            row = ItemBase.__new__(ItemBase)
            d = row.__dict__
            d["_data"] = codec.decode_item(wire)
            d["_co_table"] = self
            d["_co_snapshot"] = wire
            if projection is not None:
                d["_co_projection"] = projection
            return cast(RowT, row)
        decoded = codec.decode_item(wire)
        try:
            typed = structure(self.model, decoded)
        except ce.InvalidInput as e:
            hint = ("; a typed row read with only() needs every field without a default: add them to only() or "
                    "give them defaults") if projection is not None else ""
            raise self._row_error(decoded, e, hint) from None
        typed._co_table = self
        if projection is not None:
            typed._co_projection = projection
        mark_read(typed, wire, decoded)
        return typed

    def _row_error(self, decoded: Mapping[str, Any], e: ce.InvalidInput, hint: str = "") -> ce.RowError:
        """The error for a stored row that does not fit the model: the table, the row's key, the attribute."""
        assert self.model is not None
        key = {n: decoded[n] for n in self.schema.key_names if n in decoded}
        return ce.RowError(self.name, key, self.model.__name__, e.field, e.reason + hint, dict(decoded))

    def _row_values(self, row: RowT) -> dict[str, Any]:
        """What writing ``row`` whole stores: its values, a typed row's undeclared attributes, and a datetime in
        the table's TTL attribute as epoch seconds (DynamoDB's TTL reads only numbers)."""
        values = stored_values(row)
        info = self.model.__cloudorm_model__ if self.model is not None else None
        if info is not None and info.datetimes:
            ttl = self._expiry_attribute()
            when = getattr(row, ttl) if ttl is not None and ttl in info.datetimes else None
            if ttl is not None and isinstance(when, dt.datetime):
                values[ttl] = epoch_seconds(when, f"{type(row).__name__}.{ttl}")
        return values

    def _expiry_attribute(self) -> str | None:
        """The TTL attribute, whose datetimes are stored as epoch seconds; None where the provider has no TTL."""
        try:
            ttl = self.ttl
        except (ce.Unsupported, ce.AccessDenied):  # an emulator without TTL, or no right to look: none known
            return None
        return ttl if isinstance(ttl, str) else None

    def _as_row(self, data: Any) -> RowT:
        """The caller's item or dict as a row of this table, bound to it."""
        if isinstance(data, ItemBase):
            if self.model is not None and not isinstance(data, self.model):
                raise ce.InvalidInput("item", f"{self.name!r} holds {self.model.__name__} rows, "
                                              f"not {type(data).__name__}")
            if data._co_table is not None and data._co_table is not self and data._co_table.name != self.name:
                raise ce.InvalidInput("item", f"belongs to table {data._co_table.name!r}, not {self.name!r}")
            data._co_table = self
            return cast(RowT, data)
        if isinstance(data, Mapping):
            for name in data:
                if not isinstance(name, str):
                    raise ce.InvalidInput("item", f"attribute names must be str, not {type(name).__name__} {name!r}")
            return self.Item(**data)
        raise ce.InvalidInput("item", f"expected a dict or an Item, got {type(data).__name__}")

    def Item(self, **attributes: Any) -> RowT:
        """A new item of this table (a typed model instance for a model table), not yet saved."""
        row: ItemBase
        row = ItemBase(attributes) if self.model is None else construct(self.model, attributes)
        row._co_table = self
        return cast(RowT, row)

    def _stored_key_value(self, value: Any, field: str, attr: KeyAttr | None = None) -> Any:
        """A key value as it is stored: on a model table a typed one (datetime, enum) in its stored form (a naive
        datetime is ``InvalidInput`` naming ``field``; a datetime for ``attr``, a number key that is the table's TTL
        attribute, is epoch seconds, as rows store it there); as given otherwise."""
        if self.model is None:
            return value
        if not isinstance(value, dt.datetime):
            return to_stored(value)
        text = datetime_text(value, field)
        if attr is not None and attr.type == "N" and attr.name == self._expiry_attribute():
            return epoch_seconds(value, field)
        return text

    def key_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The primary key taken from ``values``, checked: present, non-empty, of the declared type."""
        keys = self.schema.keys
        out: dict[str, Any] = {}
        for attr in (keys.hash_key, keys.range_key):
            if attr is None:
                continue
            if attr.name not in values or values[attr.name] is None:
                raise ce.InvalidInput(attr.name, f"key attribute is missing (the key of {self.name!r} is "
                                                 f"{', '.join(keys.names)})")
            value = self._stored_key_value(values[attr.name], attr.name, attr)
            check_key_value(attr, value)
            if attr.type != "N" and not value:
                raise ce.InvalidInput(attr.name, "key attributes cannot be empty")
            check_key_size(attr, value, MAX_HASH_KEY_BYTES if attr is keys.hash_key else MAX_RANGE_KEY_BYTES)
            out[attr.name] = value
        return out

    def _key_from(self, key: Mapping[str, Any] | ItemBase | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        if key is not None and kwargs:
            raise ce.InvalidInput("key", "give the key as a dict or as keyword arguments, not both")
        values: Mapping[str, Any] = kwargs
        if isinstance(key, ItemBase):
            return self._row_key(key)
        elif key is not None:
            if not isinstance(key, Mapping):
                raise ce.InvalidInput("key", f"expected a dict of key attributes, got {key!r}")
            values = key
        extra = set(values) - set(self.schema.key_names)
        if extra:
            raise ce.InvalidInput(sorted(extra)[0], f"is not a key attribute of {self.name!r} "
                                                    f"(its key is {', '.join(self.schema.key_names)})")
        return self.key_values(values)

    def _row_key(self, row: ItemBase, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A row's primary key (from ``values``, its stored forms, when given). A row that was read addresses the
        item it was read from: a datetime key another program (or an earlier cloudorm) spelt differently, the same
        instant, is sent as stored, not in the current form (which would name another item)."""
        key = self.key_values(row._co_values() if values is None else values)
        stored, info = row._co_snapshot, self.model.__cloudorm_model__ if self.model is not None else None
        if stored is None or row._co_deleted or info is None:
            return key
        for name in key.keys() & info.datetimes:
            held = codec.decode_item({name: stored[name]})[name] if name in stored else None
            if isinstance(held, str) and held != key[name] and _same_instant(held, key[name]):
                key[name] = held
        return key

    def _builder(self, ttl: bool = True) -> ExpressionBuilder:
        """An expression builder; on a model table, typed values (datetime, enums, ...) become their stored form
        (a datetime compared with or set on the TTL attribute: epoch seconds; never with ``ttl=False``, which
        sends no request to learn that attribute)."""
        if self.model is None:
            return ExpressionBuilder()

        def prepare(value: Any, field: str) -> Any:
            if isinstance(value, dt.datetime):
                text = datetime_text(value, field)  # a naive datetime is refused first, naming the attribute
                return epoch_seconds(value, field) if ttl and field == self._expiry_attribute() else text
            try:
                return to_stored(value)
            except ce.InvalidInput as e:  # a naive datetime inside a list or map: name the attribute
                raise ce.InvalidInput(field, e.reason) from None

        return ExpressionBuilder(prepare)

    def _check_values(self, *parts: Condition | Sequence[Action] | None) -> None:
        """Compile conditions and update actions once without sending anything, so that a value that cannot be
        stored (a naive datetime) is ``InvalidInput`` before any request (the real compile may first look up the
        TTL attribute with DescribeTimeToLive)."""
        b = self._builder(ttl=False)
        for part in parts:
            if isinstance(part, Condition):
                part.compile(b)
            elif part:
                compile_update(part, b)

    def _version_guard(self, values: Mapping[str, Any], fresh: bool = False) -> tuple[str, Condition, int] | None:
        """For a versioned model: the version field, the condition that the stored version is the one we hold
        (for a ``fresh`` copy, new or deleted since, that no item with its key exists), and the next version."""
        vname = self._version_field()
        if vname is None:
            return None
        current = 0 if fresh else values.get(vname) or 0
        if fresh:
            held = Attr.top(self.schema.hash_key.name).not_exists()
        else:
            held = Attr.top(vname).not_exists() if current == 0 else Attr.top(vname) == current
        return vname, held, current + 1

    def index_keys(self, name: str | None) -> IndexKeys:
        """The keys of index ``name`` (the table's keys for None); an index the declaration does not name is
        looked up once with DescribeTable."""
        schema = self.schema
        if name is None:
            return schema.keys
        try:
            return schema.index(name)
        except ce.InvalidInput:
            if self.indexes is not None:
                raise
            if self._description is None:
                self.refresh()
            else:
                self._learn()
            return self.schema.index(name)

    def _version_field(self) -> str | None:
        info = self.model.__cloudorm_model__ if self.model is not None else None
        return info.version if info is not None else None

    @staticmethod
    def _finish(params: Wire, b: ExpressionBuilder, condition: Condition | None) -> Wire:
        if condition is not None:
            params["ConditionExpression"] = condition.compile(b)
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"  # tells a conflict from a missing item
        params.update(b.params())
        return params

    # ------------------------------------------------------------------------------------------- lifecycle

    def save(self, *, wait: bool = True, timeout: float = 300.0) -> Table[RowT]:
        """Create the table (waiting until it is ACTIVE), or bring an existing one's billing, indexes and TTL in
        line with this declaration, sending only what differs. A table named without keys is never created: its
        declared billing and TTL (if any) are applied to the existing table. ``timeout`` bounds each wait (0: look
        once)."""
        wait = check_flag("wait", wait)
        timeout = check_seconds("timeout", timeout, zero=True)
        if not self._declared_keys:
            if not self.exists():
                raise ce.InvalidInput("hash_key", f"is required to create table {self.name!r}")
            if self._billing is not None:
                self._reconcile_billing(timeout)
            if self._ttl is not None:
                self._sync_ttl()
            return self
        declared = self.schema
        params: Wire = {
            "TableName": self.name,
            "KeySchema": key_schema_wire(declared.hash_key, declared.range_key),
            "AttributeDefinitions": declared.attribute_definitions(),
        }
        self._billing_params(params, self.billing)
        gsis = [global_index_wire(ix, self.billing) for ix in declared.indexes if isinstance(ix, GlobalIndex)]
        lsis = [local_index_wire(ix, declared.hash_key) for ix in declared.indexes if isinstance(ix, LocalIndex)]
        if gsis:
            params["GlobalSecondaryIndexes"] = gsis
        if lsis:
            params["LocalSecondaryIndexes"] = lsis
        try:
            self._description = self._nosql.create_table(params)
            created = True
        except ce.AlreadyExists:
            created = False
        if wait or not created:
            self._wait_active(timeout)
        if not created:
            self._reconcile(timeout)
        if isinstance(self._ttl, str) or (self._ttl is False and not created):
            self._sync_ttl()
        return self

    @staticmethod
    def _billing_params(params: Wire, billing: Billing) -> None:
        if isinstance(billing, Provisioned):
            params["BillingMode"] = "PROVISIONED"
            params["ProvisionedThroughput"] = billing.wire()
        else:
            params["BillingMode"] = ON_DEMAND

    def _wait_active(self, timeout: float) -> None:
        def active() -> Wire | None:
            desc = self._nosql.describe_table(self.name)
            busy = desc.get("TableStatus") != "ACTIVE" or any(
                g.get("IndexStatus", "ACTIVE") != "ACTIVE" for g in desc.get("GlobalSecondaryIndexes", []) or [])
            return None if busy else desc

        self._description = wait_until(active, timeout=timeout, what=f"table {self.name!r} becoming ACTIVE")

    def _update_table(self, params: Wire, applied: Callable[[Wire], bool], timeout: float) -> None:
        """One UpdateTable, then wait until ACTIVE. A failed call whose change is in place anyway (a lost response
        whose re-send the service refused) counts as done: ``applied`` tells from a fresh description."""
        try:
            self._nosql.update_table(params)
        except ce.CloudError:
            if not applied(self._nosql.describe_table(self.name)):
                raise
        self._wait_active(timeout)

    def _reconcile(self, timeout: float) -> None:
        """Update an existing table toward this declaration; key schemas and local indexes cannot change."""
        assert self._description is not None
        actual = TableSchema.from_description(self._description)
        declared = self.schema
        if (actual.hash_key, actual.range_key) != (declared.hash_key, declared.range_key):
            raise ce.ConflictError(f"table {self.name!r} exists with key {actual.key_names}, not {declared.key_names}; "
                                   "a key schema cannot change")
        if self.indexes is not None:
            want_local = {ix.name: ix for ix in declared.indexes if isinstance(ix, LocalIndex)}
            have_local = {ix.name: ix for ix in actual.indexes if isinstance(ix, LocalIndex)}
            if want_local != have_local:
                raise ce.ConflictError(f"table {self.name!r} has local indexes {sorted(have_local)}; "
                                       "local secondary indexes cannot change after creation")
        if self._billing is not None:  # undeclared: the existing table keeps its billing, as it keeps its TTL
            self._reconcile_billing(timeout)
        if self.indexes is None:
            return
        have = {ix.name for ix in actual.indexes if isinstance(ix, GlobalIndex)}
        want = {ix.name: ix for ix in declared.indexes if isinstance(ix, GlobalIndex)}
        for name in sorted(have - set(want)):
            self._update_table(
                {"TableName": self.name, "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": name}}]},
                partial(_lacks_index, name), timeout)
        for name in sorted(set(want) - have):
            ix = want[name]
            self._update_table({
                "TableName": self.name, "AttributeDefinitions": declared.attribute_definitions(),
                "GlobalSecondaryIndexUpdates": [{"Create": global_index_wire(ix, self.billing)}]},
                partial(_has_index, name), timeout)

    def _reconcile_billing(self, timeout: float) -> None:
        """One UpdateTable when the declared billing differs from the last description; nothing otherwise. Moving
        to provisioned gives every global index throughput too (its own declared one, else the table's)."""
        assert self._description is not None
        want = self.billing
        have = billing_of(self._description)
        if have == want:
            return
        if self._description.get("TableStatus") != "ACTIVE":
            self._wait_active(timeout)
        params: Wire = {"TableName": self.name}
        self._billing_params(params, want)
        if isinstance(want, Provisioned) and not isinstance(have, Provisioned):
            own = {ix.name: ix.throughput for ix in self.indexes or () if isinstance(ix, GlobalIndex)}
            updates = [{"Update": {"IndexName": name, "ProvisionedThroughput": (own.get(name) or want).wire()}}
                       for name in sorted(_global_index_names(self._description))]
            if updates:
                params["GlobalSecondaryIndexUpdates"] = updates
        self._update_table(params, lambda d: billing_of(d) == want, timeout)

    def _sync_ttl(self) -> None:
        """Turn TTL on for the declared attribute, or off (``ttl=False``); nothing is sent when it already is.
        Moving TTL to another attribute turns it off, then on again: DynamoDB allows one change per hour, so
        there the second step fails, and the ``ConflictError`` says TTL is now off."""
        assert self._ttl is not None
        target = self._ttl if isinstance(self._ttl, str) else None
        current = self._nosql.describe_ttl(self.name)
        have = current.get("AttributeName") if current.get("TimeToLiveStatus") in TTL_ON else None
        if have != target:
            if have is not None:
                self._update_ttl(have, False)
            if target is not None:
                try:
                    self._update_ttl(target, True)
                except ce.CloudError as e:
                    if have is None:
                        raise
                    self._ttl_seen = (None,)
                    raise ce.ConflictError(f"TTL of {self.name!r} was turned off on {have!r} but could not be "
                                           f"turned on for {target!r} ({e.message}); DynamoDB allows one TTL "
                                           "change per table per hour: save() again later",
                                           **e.provider_details()) from e
        self._ttl_seen = (target,)

    def _update_ttl(self, attribute: str, enabled: bool) -> None:
        """UpdateTimeToLive; a failed call whose change is in place anyway (a lost response whose re-send the
        service refused as a repeat) counts as done."""
        try:
            self._nosql.update_ttl(self.name, attribute, enabled)
        except ce.CloudError:
            now = self._nosql.describe_ttl(self.name)
            on = now.get("TimeToLiveStatus") in TTL_ON
            if on != enabled or (enabled and now.get("AttributeName") != attribute):
                raise

    def delete(self, *, missing_ok: bool = False, wait: bool = True, timeout: float = 300.0) -> None:
        """Delete the table and everything in it (``NotFound`` if absent, unless ``missing_ok``)."""
        wait = check_flag("wait", wait)
        timeout = check_seconds("timeout", timeout, zero=True)
        try:
            self._nosql.delete_table(self.name)
        except ce.NotFound:
            if not missing_ok:
                raise
            return
        if wait:
            wait_until(lambda: not self.exists(), timeout=timeout, what=f"table {self.name!r} being deleted")
        self._description = None

    def refresh(self) -> Table[RowT]:
        """Reload the table's description (status, counts, schema, billing) from the provider; an undeclared
        ``ttl`` is read again when next asked for."""
        self._description = self._nosql.describe_table(self.name)
        self._ttl_seen = None
        self._learn()
        return self

    def _learn(self) -> None:
        """Take what the declaration left open (keys, or indexes) from the last description."""
        assert self._description is not None
        learned = TableSchema.from_description(self._description)
        if self.hash_key is None:
            self._schema = learned
            self.hash_key, self.range_key = learned.hash_key, learned.range_key
        elif self._schema is not None and self.indexes is None:
            self._schema = attrs.evolve(self._schema, indexes=learned.indexes)

    def exists(self) -> bool:
        """Whether the table exists (one DescribeTable request)."""
        try:
            self.refresh()
        except ce.NotFound:
            return False
        return True

    @property
    def status(self) -> str | None:
        """``CREATING``, ``ACTIVE``, ``UPDATING``, ``DELETING`` as last seen (``refresh()`` to update)."""
        return (self._description or {}).get("TableStatus")

    @property
    def item_count(self) -> int | None:
        """The provider's approximate item count as last seen."""
        return (self._description or {}).get("ItemCount")

    @property
    def arn(self) -> str | None:
        """The table's ARN as last seen."""
        return (self._description or {}).get("TableArn")

    # ------------------------------------------------------------------------------------------- request builders

    def _put_request(self, data: Any, *, if_not_exists: bool = False,
                     condition: Condition | None = None) -> tuple[RowT, Request]:
        self._check_values(condition)
        row = self._as_row(data)
        if row._co_projection is not None and row._co_snapshot is not None and not row._co_deleted:
            raise ce.InvalidInput("item", "was read in part (with only()): putting it would replace the attributes "
                                          "it did not read; save() it (which sends only what changed) or read "
                                          "it whole")
        values = self._row_values(row)
        stored = row._co_snapshot
        if stored is not None and not row._co_deleted and self.model is not None:
            # a row that was read writes back what it read and what changed, not the defaults of fields it lacked
            changed = changes(row)
            values = {k: v for k, v in values.items() if k in stored or k in changed}
        values.update(self._row_key(row, values))  # checked; a read row's key as it is stored
        b = self._builder()
        conditions = [condition] if condition is not None else []
        if if_not_exists:
            conditions.append(Attr.top(self.schema.hash_key.name).not_exists())
        vname = self._version_field()
        fresh = row._co_deleted or (row._co_snapshot is None and not (vname and values.get(vname)))
        guard = self._version_guard(values, fresh=fresh)
        if guard is not None:
            vname, held, next_version = guard
            values = {**values, vname: next_version}
            conditions.append(held)
        wire = codec.encode_item(values)
        codec.check_item_size(wire)
        params = self._finish({"TableName": self.name, "Item": wire}, b, all_of(conditions))

        def done() -> None:
            if guard is not None:
                object.__setattr__(row, guard[0], guard[2])
            mark_stored(row, wire)

        version = None if guard is None else (guard[0], None if fresh else guard[2] - 1)
        return row, Request("Put", params, done, if_not_exists=if_not_exists and condition is None,
                            version=version)

    def _save_request(self, row: RowT, *, if_not_exists: bool = False,
                      condition: Condition | None = None) -> Request | None:
        """A PutItem for a new item; for a loaded one, an UpdateItem of the changed attributes (None if none)."""
        if row._co_stale:
            raise ce.ConflictError(f"this {type(row).__name__} was changed by atomic actions in a transaction and "
                                   "its local values are out of date: refresh() it before saving")
        self._check_values(condition)
        if row._co_snapshot is None or row._co_deleted or if_not_exists:
            return self._put_request(row, if_not_exists=if_not_exists, condition=condition)[1]
        values = self._row_values(row)
        key = self._row_key(row, values)
        old = codec.decode_item({n: row._co_snapshot[n] for n in self.schema.key_names if n in row._co_snapshot})
        for name in key:
            if not codec.same_stored(key[name], old.get(name)):
                raise ce.InvalidInput(name, "key attributes cannot change; delete the item and put a new one")
        guard = self._version_guard(values)
        changed = sorted(changes(row) - set(key) - {guard[0] if guard else None})
        if not changed:
            return None
        partly_read = {str(path[0]) for path in map(parse_path, row._co_projection or ()) if len(path) > 1}
        clash = sorted(partly_read & set(changed))
        if clash:
            name = clash[0]
            raise ce.InvalidInput(name, "was read in part (with a nested only() path), so saving it would replace "
                                        "the whole attribute with the part read: change it with item.update("
                                        f"Attr('{name}.…').set(...)) or read the item whole")
        actions = [Attr.top(n).set(values[n]) if n in values else Attr.top(n).remove() for n in changed]
        conditions = [condition] if condition is not None else []
        conditions.append(Attr.top(self.schema.hash_key.name).exists())
        new_values = {n: values[n] for n in changed if n in values}  # the rest of `changed` is removed
        if guard is not None:
            vname, held, next_version = guard
            new_values[vname] = next_version
            actions.append(Attr.top(vname).set(next_version))
            conditions.append(held)
        req = self._update_request(key, actions, all_of(conditions), returns="NONE")
        wire = {n: w for n, w in row._co_snapshot.items() if n not in changed}  # what the table holds afterwards
        wire.update(codec.encode_item(new_values))
        codec.check_item_size(wire)

        def done() -> None:
            if guard is not None:
                object.__setattr__(row, guard[0], guard[2])
            mark_stored(row, wire)

        return attrs.evolve(req, on_success=done, must_exist=True,
                            version=None if guard is None else (guard[0], guard[2] - 1))

    def _update_request(self, key: Mapping[str, Any], actions: Sequence[Action],
                        condition: Condition | None, returns: str = "ALL_NEW") -> Request:
        b = self._builder()
        expression = compile_update(actions, b)
        if expression is None:
            raise ce.InvalidInput("update", "no update actions were given")
        params: Wire = {"TableName": self.name, "Key": codec.encode_item(key), "UpdateExpression": expression}
        if returns != "NONE":
            params["ReturnValues"] = returns
        return Request("Update", self._finish(params, b, condition))

    def _delete_request(self, key: Mapping[str, Any], *, condition: Condition | None,
                        missing_ok: bool, version: int | None = None) -> Request:
        self._check_values(condition)
        b = self._builder()
        conditions = [condition] if condition is not None else []
        if not missing_ok:
            conditions.append(Attr.top(self.schema.hash_key.name).exists())
        vname = self._version_field()
        if vname is not None and version:  # a stale copy must not delete a newer item
            held = Attr.top(vname) == version
            conditions.append(held | Attr.top(self.schema.hash_key.name).not_exists() if missing_ok else held)
        params = self._finish({"TableName": self.name, "Key": codec.encode_item(key)}, b, all_of(conditions))
        versioned = (vname, version) if vname is not None and version else None
        return Request("Delete", params, must_exist=not missing_ok, version=versioned)

    def _key_update_request(self, key: Mapping[str, Any], actions: Sequence[Action], condition: Condition | None,
                            returns: str) -> Request:
        """Atomic actions on the item with ``key``; a versioned model's version is bumped so stale copies fail."""
        self._check_values(condition, actions)
        vname = self._version_field()
        if vname is not None:
            actions = [*actions, Attr.top(vname).add(1)]
        return self._update_request(key, actions, condition, returns)

    def _item_update_request(self, row: RowT, actions: Sequence[Action], condition: Condition | None,
                             returns: str) -> Request:
        """Atomic actions on a loaded item; a versioned one must still hold the stored version."""
        self._check_values(condition, actions)
        values = row._co_values()
        key = self._row_key(row, values)
        conditions = [condition] if condition is not None else []
        all_actions = list(actions)
        guard = self._version_guard(values)
        if guard is not None:
            all_actions.append(Attr.top(guard[0]).set(guard[2]))
            conditions.append(guard[1])
        req = self._update_request(key, all_actions, all_of(conditions), returns)
        if guard is not None:
            req = attrs.evolve(req, version=(guard[0], guard[2] - 1))
        if returns != "NONE":
            return req  # the caller loads the new values from the response

        def done() -> None:  # the new values were not read back: the local copy must not be saved as is
            row._co_stale = True

        return attrs.evolve(req, on_success=done)

    def _check_request(self, key: Mapping[str, Any], condition: Condition) -> Request:
        self._check_values(condition)
        b = self._builder()
        params = self._finish({"TableName": self.name, "Key": codec.encode_item(key)}, b, condition)
        return Request("ConditionCheck", params)

    # ------------------------------------------------------------------------------------------- items

    def put(self, data: Mapping[str, Any] | RowT, *, if_not_exists: bool = False,
            condition: Condition | None = None) -> RowT:
        """Write a whole item (replacing any with the same key); ``if_not_exists`` raises ``AlreadyExists``
        instead of replacing."""
        row, req = self._put_request(data, if_not_exists=if_not_exists, condition=condition)
        once = self._version_field() is not None  # a versioned write is recognised by its token, not its result
        self._call(lambda: self._nosql.put_item(req.params, exactly_once=once), req)
        req.on_success()
        return row

    def get(self, key: Mapping[str, Any] | None = None, /, *, consistent: bool = False,
            **key_values: Any) -> RowT | None:
        """The item with this key, or None: ``table.get(customer="A", placed=5)``."""
        values = self._key_from(key, key_values)
        params: Wire = {"TableName": self.name, "Key": codec.encode_item(values)}
        if consistent:
            params["ConsistentRead"] = True
        wire = self._nosql.get_item(params)
        return None if wire is None else self._row(wire)

    def delete_item(self, key: Mapping[str, Any] | RowT | None = None, /, *, condition: Condition | None = None,
                    missing_ok: bool = False, **key_values: Any) -> None:
        """Delete the item with this key (``NotFound`` if absent, unless ``missing_ok``)."""
        values = self._key_from(key, key_values)
        version = None
        vname = self._version_field()
        if isinstance(key, ItemBase) and vname is not None:
            version = key._co_values().get(vname)
        req = self._delete_request(values, condition=condition, missing_ok=missing_ok, version=version)
        self._call(lambda: self._nosql.delete_item(req.params), req)
        if isinstance(key, ItemBase):
            key._co_deleted = True

    def update(self, key: Mapping[str, Any], *actions: Action, condition: Condition | None = None) -> RowT:
        """Apply atomic actions to the item with ``key`` (created if absent) and return its new state:
        ``table.update({"id": 1}, Attr("visits").add(1), Attr("tags").add({"x"}))``."""
        values = self._key_from(key, {})
        req = self._key_update_request(values, actions, condition, "ALL_NEW")
        response = self._call(lambda: self._nosql.update_item(req.params), req)
        return self._row(response.get("Attributes") or codec.encode_item(values))

    # the Item methods delegate here

    def save_item(self, row: RowT, *, if_not_exists: bool = False, condition: Condition | None = None) -> None:
        """``item.save()``: put a new item, or update just what changed on a loaded one."""
        self._as_row(row)
        req = self._save_request(row, if_not_exists=if_not_exists, condition=condition)
        if req is None:
            return
        send = self._nosql.put_item if req.operation == "Put" else self._nosql.update_item
        once = self._version_field() is not None
        self._call(lambda: send(req.params, exactly_once=once), req)
        req.on_success()

    def refresh_item(self, row: RowT, *, consistent: bool = True) -> None:
        """``item.refresh()``: reload the item's attributes."""
        values = self._row_key(row)
        params: Wire = {"TableName": self.name, "Key": codec.encode_item(values), "ConsistentRead": consistent}
        wire = self._nosql.get_item(params)
        if wire is None:
            raise ce.NotFound(f"the item {values} is not in {self.name!r}")
        row._co_load(codec.decode_item(wire))
        mark_stored(row, wire)

    def update_item(self, row: RowT, *actions: Action, condition: Condition | None = None) -> None:
        """``item.update(...)``: apply atomic actions and load the item's new values."""
        req = self._item_update_request(row, actions, condition, "ALL_NEW")
        once = self._version_field() is not None
        response = self._call(lambda: self._nosql.update_item(req.params, exactly_once=once), req)
        wire = response.get("Attributes") or {}
        row._co_load(codec.decode_item(wire))
        mark_stored(row, wire)

    # ------------------------------------------------------------------------------------------- many items

    def query(self, **key_conditions: Any) -> QuerySet[RowT]:
        """Items with this hash key (and range-key condition): ``table.query(customer="A", placed__gte=5)``.
        Lazy: nothing is sent until the result is consumed."""
        from cloudorm.nosql.queryset import QuerySet

        return QuerySet.for_query(self, key_conditions)

    def scan(self, *, segments: int | None = None) -> QuerySet[RowT]:
        """Every item (``segments=n`` scans in parallel on n threads). Lazy."""
        from cloudorm.nosql.queryset import QuerySet

        return QuerySet.for_scan(self, segments)

    def batch_write(self, *, deadline: float = 60.0) -> BatchWriter[RowT]:
        """A context manager buffering puts and deletes into BatchWriteItem requests of 25."""
        from cloudorm.nosql.batch import BatchWriter

        return BatchWriter(self, deadline=deadline)

    def batch_get(self, keys: Iterable[Mapping[str, Any] | ItemBase], *, consistent: bool = False,
                  deadline: float = 60.0) -> list[RowT]:
        """The items with these keys, in the order asked (missing ones left out), 100 keys per request."""
        from cloudorm.nosql.batch import batch_get

        return batch_get(self, keys, consistent=consistent, deadline=deadline)


def _version_text(version: Any) -> str:
    """A version for an error message: 0 is no version stored, None no item."""
    return "no item" if version is None else "no version" if not version else str(version)


def _same_instant(a: str, b: Any) -> bool:
    """Whether two datetime texts (any ISO-8601 spelling) name one instant."""
    try:
        return isinstance(b, str) and parse_datetime(a) == parse_datetime(b)
    except (ValueError, OverflowError):
        return False
