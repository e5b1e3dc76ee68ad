"""Rows: the item operations of a ``Table`` (put, get, update, delete, save, refresh, query, scan, batches) and
hydration, turning what the table answers into items or typed rows bound to it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from cloudorm import errors as ce
from cloudorm.nosql import change_key, codec
from cloudorm.nosql.expressions import Action, Condition
from cloudorm.nosql.held import Held
from cloudorm.nosql.item import held_wire, mark_read, mark_stored, structure
from cloudorm.nosql.requests import ItemBase, Request, RequestBuilder, RowT
from cloudorm.providers.contract import Wire

if TYPE_CHECKING:
    from cloudorm.core import SessionLike
    from cloudorm.nosql.batch import BatchWriter
    from cloudorm.nosql.queryset import QuerySet
    from cloudorm.providers.base import NoSQLService


class Rows(RequestBuilder[RowT]):
    """The item half of a ``Table``: sends the requests ``RequestBuilder`` makes and reads rows from answers."""

    session: SessionLike

    @property
    def _nosql(self) -> NoSQLService:
        return self.session.nosql

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
            d["_data"] = data = codec.decode_item(wire)
            d["_co_table"] = self
            d["_co_snapshot"] = Held(data)  # the values themselves, until changed or handed out
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
        typed._co_table = self._co_self()
        if projection is not None:
            typed._co_projection = projection
        mark_read(typed, decoded)
        return typed

    def _row_error(self, decoded: Mapping[str, Any], e: ce.InvalidInput, hint: str = "") -> ce.RowError:
        """The error for a stored row that does not fit the model: the table, the row's key, the attribute."""
        assert self.model is not None
        key = {n: decoded[n] for n in self.schema.key_names if n in decoded}
        return ce.RowError(self.name, key, self.model.__name__, e.field, e.reason + hint, dict(decoded))

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
        """``item.save()``: merge a new item into the stored one with its key (or put it: ``if_not_exists``, a
        versioned row), or update just what changed on a loaded one."""
        self._as_row(row)
        req = self._save_request(row, if_not_exists=if_not_exists, condition=condition, adopt=True)
        if req is None:
            return
        if req.operation == "Update" and "UpdateExpression" not in req.params:  # a key alone: nothing to SET
            try:  # created if absent; if present, adopted as it is stored (a read)
                self.save_item(row, if_not_exists=True, condition=condition)
            except ce.AlreadyExists:
                self.refresh_item(row)
            return
        send = self._nosql.put_item if req.operation == "Put" else self._nosql.update_item
        once = self._version_field() is not None
        answer = self._call(lambda: send(req.params, exactly_once=once), req)
        if req.params.get("ReturnValues") == "ALL_NEW":  # adopted: the row now holds the whole stored item
            row._co_projection = None
            self._load(row, answer.get("Attributes") or {})
        req.on_success()

    def refresh_item(self, row: RowT, *, consistent: bool = True) -> None:
        """``item.refresh()``: reload the item's attributes."""
        values = self._row_key(row)
        params: Wire = {"TableName": self.name, "Key": codec.encode_item(values), "ConsistentRead": consistent}
        wire = self._nosql.get_item(params)
        if wire is None:
            raise ce.NotFound(f"the item {values} is not in {self.name!r}")
        self._load(row, wire)

    def _load(self, row: RowT, wire: Wire) -> None:
        """Make ``row`` hold ``wire``, the whole item as the table now holds it."""
        row._co_load(codec.decode_item(wire))
        mark_stored(row, wire)

    def item_exists(self, row: RowT) -> bool:
        """``item.exists()``: whether the table holds an item with the row's key (one consistent read)."""
        return self._exists_key(codec.encode_item(self._row_key(row)))

    def update_item(self, row: RowT, *actions: Action, condition: Condition | None = None) -> None:
        """``item.update(...)``: apply atomic actions and load the item's new values."""
        req = self._item_update_request(row, actions, condition, "ALL_NEW")
        once = self._version_field() is not None
        response = self._call(lambda: self._nosql.update_item(req.params, exactly_once=once), req)
        self._load(row, response.get("Attributes") or {})

    def change_key(self, key: Mapping[str, Any] | RowT, /, **new_key_values: Any) -> RowT:
        """Give the item with ``key`` another key, every attribute kept: ``table.change_key({"id": "a"},
        id="b")``. One consistent read, then one transaction that deletes it under the old key if it is still as
        read and puts it under the new one if none is there (``AlreadyExists``); returns the item as now stored."""
        old = self._key_from(key, {})
        new = change_key.new_key(self, old, new_key_values)  # bad input refused before any request
        stored = self._nosql.get_item({"TableName": self.name, "Key": codec.encode_item(old), "ConsistentRead": True})
        if stored is None:
            raise ce.NotFound(f"the item {old} is not in {self.name!r}")
        move = change_key.prepare(self, stored, stored, new)
        change_key.send(self, move)
        return self._row(move.item)

    def change_item_key(self, row: RowT, new_key_values: Mapping[str, Any]) -> None:
        """``item.change_key(...)``: move a stored row to a new key (its key attributes changed in place count as
        given), writing what it holds now, undeclared attributes included; the row then holds the new key."""
        self._as_row(row)
        stored = held_wire(row)
        if stored is None or row._co_deleted:
            raise ce.InvalidInput("item", "is not stored: save() it, or give it its new key before saving")
        if row._co_projection is not None:
            raise ce.InvalidInput("item", "was read in part (with only()): moving it would lose the attributes it "
                                          "did not read; read it whole")
        if row._co_stale:
            raise ce.ConflictError(f"this {type(row).__name__} was changed by atomic actions in a transaction and "
                                   "its local values are out of date: refresh() it before changing its key")
        names = self.schema.key_names
        old = codec.decode_item({n: stored[n] for n in names})
        held = row._co_values()
        moved = {n: held[n] for n in names if n in held and not codec.same_stored(held[n], old[n])}
        new = change_key.new_key(self, old, {**moved, **new_key_values})
        values = self._row_values(row)
        move = change_key.prepare(self, stored, codec.encode_item({**values, **new}), new)
        change_key.send(self, move)
        given = {**moved, **new_key_values}
        for name in names:
            if name in given:
                row[name] = given[name]
        vname = self._version_field()
        if vname is not None:
            object.__setattr__(row, vname, int(codec.decode_item({vname: move.item[vname]})[vname]))
        mark_stored(row, move.item)

    # ------------------------------------------------------------------------------------------- many items

    def query(self, **key_conditions: Any) -> QuerySet[RowT]:
        """Items with this hash key (and range-key condition): ``table.query(customer="A", placed__gte=5)``.
        Lazy: nothing is sent until the result is consumed."""
        from cloudorm.nosql.queryset import QuerySet

        return QuerySet.for_query(self._co_self(), key_conditions)

    def scan(self, *, segments: int | None = None) -> QuerySet[RowT]:
        """Every item (``segments=n`` scans in parallel on n threads). Lazy."""
        from cloudorm.nosql.queryset import QuerySet

        return QuerySet.for_scan(self._co_self(), segments)

    def batch_write(self, *, deadline: float = 60.0) -> BatchWriter[RowT]:
        """A context manager buffering puts and deletes into BatchWriteItem requests of 25."""
        from cloudorm.nosql.batch import BatchWriter

        return BatchWriter(self._co_self(), deadline=deadline)

    def batch_get(self, keys: Iterable[Mapping[str, Any] | ItemBase], *, consistent: bool = False,
                  deadline: float = 60.0) -> list[RowT]:
        """The items with these keys, in the order asked (missing ones left out), 100 keys per request."""
        from cloudorm.nosql.batch import batch_get

        return batch_get(self._co_self(), keys, consistent=consistent, deadline=deadline)

