"""Item requests: the DynamoDB parameters of every single-item write (put, save, update, delete, condition
check), built once for single calls, batches and transactions, with the keys and values they address. Pure: no
request is sent here (the definition they read, schema and TTL attribute, is loaded by the table)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_flag
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
from cloudorm.nosql.item import Item, changes, construct, held_values, held_wire, mark_stored, stored_values
from cloudorm.nosql.schema import (
    MAX_HASH_KEY_BYTES,
    MAX_RANGE_KEY_BYTES,
    KeyAttr,
    TableSchema,
    check_key_size,
    check_key_value,
)
from cloudorm.providers.contract import Wire

if TYPE_CHECKING:
    from cloudorm.nosql.table import Table

RowT = TypeVar("RowT", bound=Item)
ItemBase = Item  # the class, for annotations inside the table (whose factory method is also called Item)


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


class RequestBuilder(Generic[RowT]):
    """The request-building half of a ``Table``: what it sends for an item, from its name, model and definition."""

    name: str
    model: type[RowT] | None

    def _co_self(self) -> Table[Any]:
        """This table, typed as the ``Table`` it is part of."""
        return cast("Table[Any]", self)

    if TYPE_CHECKING:
        @property
        def schema(self) -> TableSchema:
            """The table's keys and indexes."""

        @property
        def ttl(self) -> str | bool | None:
            """The table's TTL attribute."""

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
            data._co_table = self._co_self()
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
        row._co_table = self._co_self()
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
        info = self.model.__cloudorm_model__ if self.model is not None else None
        if row._co_snapshot is None or row._co_deleted or info is None or not key.keys() & info.datetimes:
            return key
        stored = held_values(row) or {}
        for name in key.keys() & info.datetimes:
            held = stored.get(name)
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


    def _put_request(self, data: Any, *, if_not_exists: bool = False,
                     condition: Condition | None = None) -> tuple[RowT, Request]:
        check_flag("if_not_exists", if_not_exists)
        self._check_values(condition)
        row = self._as_row(data)
        if row._co_projection is not None and row._co_snapshot is not None and not row._co_deleted:
            raise ce.InvalidInput("item", "was read in part (with only()): putting it would replace the attributes "
                                          "it did not read; save() it (which sends only what changed) or read "
                                          "it whole")
        values = self._row_values(row)
        stored = held_values(row) if self.model is not None and not row._co_deleted else None
        if stored is not None:
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

    def _save_request(self, row: RowT, *, if_not_exists: bool = False, condition: Condition | None = None,
                      adopt: bool = False) -> Request | None:
        """For a new item a PutItem (with ``adopt``, unless it must not exist or is versioned: an UpdateItem that
        merges it into a stored item with its key); for a loaded one, an UpdateItem of the changed attributes
        (None if none)."""
        check_flag("if_not_exists", if_not_exists)
        if row._co_stale:
            raise ce.ConflictError(f"this {type(row).__name__} was changed by atomic actions in a transaction and "
                                   "its local values are out of date: refresh() it before saving")
        self._check_values(condition)
        if row._co_snapshot is None or row._co_deleted or if_not_exists:
            if adopt and not if_not_exists and self._version_field() is None:
                return self._adopt_request(row, condition)
            return self._put_request(row, if_not_exists=if_not_exists, condition=condition)[1]
        values = self._row_values(row)
        key = self._row_key(row, values)
        as_read = held_values(row) or {}
        old = {n: as_read[n] for n in self.schema.key_names if n in as_read}
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
        wire = {n: w for n, w in (held_wire(row) or {}).items() if n not in changed}  # what the table holds now
        wire.update(codec.encode_item(new_values))
        codec.check_item_size(wire)

        def done() -> None:
            if guard is not None:
                object.__setattr__(row, guard[0], guard[2])
            mark_stored(row, wire)

        return attrs.evolve(req, on_success=done, must_exist=True,
                            version=None if guard is None else (guard[0], guard[2] - 1))

    def _adopt_request(self, row: RowT, condition: Condition | None) -> Request:
        """A new item's save: one UpdateItem that SETs every attribute it holds (keys excluded; an empty set is
        not stored) and returns the whole item (``ALL_NEW``), so that it is created if absent and merged into
        the stored item, whose other attributes are kept, if present. The caller loads the answer."""
        values = self._row_values(row)
        key = self._row_key(row, values)
        given = {n: v for n, v in values.items() if n not in key and not codec.is_empty_set(v)}
        codec.check_item_size(codec.encode_item({**given, **key}))
        b = self._builder()
        expression = compile_update([Attr.top(n).set(v) for n, v in given.items()], b)
        params: Wire = {"TableName": self.name, "Key": codec.encode_item(key), "ReturnValues": "ALL_NEW"}
        if expression is not None:  # a key alone has none: the caller puts it if absent instead
            params["UpdateExpression"] = expression
        return Request("Update", self._finish(params, b, condition))

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
        check_flag("missing_ok", missing_ok)
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


def _version_text(version: Any) -> str:
    """A version for an error message: 0 is no version stored, None no item."""
    return "no item" if version is None else "no version" if not version else str(version)


def _same_instant(a: str, b: Any) -> bool:
    """Whether two datetime texts (any ISO-8601 spelling) name one instant."""
    try:
        return isinstance(b, str) and parse_datetime(a) == parse_datetime(b)
    except (ValueError, OverflowError):
        return False
