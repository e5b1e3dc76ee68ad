"""Transactions across tables: ``with s.transaction() as t: t.put(...); t.update(...); t.delete(...); t.check(...)``
commits all actions atomically (TransactWriteItems) when the block ends without an exception."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm import errors as ce
from cloudorm.nosql import codec
from cloudorm.nosql.batch import check_targets
from cloudorm.nosql.expressions import Condition
from cloudorm.nosql.item import Item
from cloudorm.nosql.requests import Request
from cloudorm.nosql.table import Table

if TYPE_CHECKING:
    from cloudorm.core import SessionLike

MAX_ACTIONS = 100
Target = Item | Table[Any]


def _resolve(target: Target, data: Any, what: str) -> tuple[Table[Any], Any]:
    """The table and the item/key an action is about: an Item bound to its table, or a Table and a dict."""
    if isinstance(target, Table):
        if data is None:
            raise ce.InvalidInput(what, "give the item or key after the table: t.put(table, {...})")
        return target, data
    if isinstance(target, Item):
        if data is not None:
            raise ce.InvalidInput(what, "an Item carries its own key; pass nothing after it")
        return target._co_bound(), target
    raise ce.InvalidInput(what, f"expected an Item or a Table, got {type(target).__name__}")


class Transaction:
    """Collects up to 100 write actions and commits them atomically on ``commit()`` or when the ``with`` block
    ends; ``TransactionError`` carries the reason per action."""

    def __init__(self, session: SessionLike) -> None:
        self._session = session
        self._actions: list[tuple[Table[Any], Request]] = []
        self._keys: set[tuple[str, tuple[Any, ...]]] = set()
        self.token = str(uuid.uuid4())
        self.committed = False

    def _add(self, table: Table[Any], request: Request) -> None:
        if self.committed:
            raise ce.InvalidInput("transaction", "has been committed already")
        if len(self._actions) >= MAX_ACTIONS:
            raise ce.InvalidInput("transaction", f"holds at most {MAX_ACTIONS} actions")
        wire_key = request.params.get("Key") or {n: request.params["Item"][n] for n in table.schema.key_names}
        identity = (table.name, codec.key_identity(wire_key, table.schema.key_names))
        if identity in self._keys:
            raise ce.InvalidInput("transaction", f"touches the item {codec.decode_item(wire_key)} of "
                                                 f"{table.name!r} twice; DynamoDB allows one action per item")
        self._keys.add(identity)
        self._actions.append((table, request))

    def put(self, target: Target, data: Mapping[str, Any] | Item | None = None, *, if_not_exists: bool = False,
            condition: Condition | None = None) -> None:
        """Put a whole item: ``t.put(item)`` for a bound Item, or ``t.put(table, {...})``."""
        table, item = _resolve(target, data, "put")
        _, request = table._put_request(item, if_not_exists=if_not_exists, condition=condition)
        self._add(table, request)

    def update(self, target: Target, *args: Any, condition: Condition | None = None) -> None:
        """Update an item: ``t.update(item)`` sends its changed attributes, ``t.update(item, *actions)`` or
        ``t.update(table, key, *actions)`` applies atomic actions."""
        if isinstance(target, Table):
            if not args or not isinstance(args[0], Mapping):
                raise ce.InvalidInput("update", "give the key after the table: t.update(table, {...}, *actions)")
            key = target._key_from(args[0], {})
            self._add(target, target._key_update_request(key, args[1:], condition, returns="NONE"))
            return
        table, item = _resolve(target, None, "update")
        request = (table._item_update_request(item, args, condition, returns="NONE") if args
                   else table._save_request(item, condition=condition))
        if request is not None:  # an unchanged item has nothing to send
            self._add(table, request)

    def delete(self, target: Target, key: Mapping[str, Any] | None = None, /, *,
               condition: Condition | None = None, missing_ok: bool = True) -> None:
        """Delete an item: ``t.delete(item)`` or ``t.delete(table, key)``."""
        table, what = _resolve(target, key, "delete")
        values = table._key_from(what, {})
        version = None
        vname = table._version_field()
        if isinstance(what, Item) and vname is not None:
            version = what._co_values().get(vname)
        request = table._delete_request(values, condition=condition, missing_ok=missing_ok, version=version)
        if isinstance(what, Item):
            item = what

            def done() -> None:
                item._co_deleted = True

            request = attrs.evolve(request, on_success=done)
        self._add(table, request)

    def check(self, target: Target, key: Mapping[str, Any] | None = None, /, *, condition: Condition) -> None:
        """Require ``condition`` to hold on an item for the transaction to commit."""
        table, what = _resolve(target, key, "check")
        self._add(table, table._check_request(table._key_from(what, {}), condition))

    def __len__(self) -> int:
        return len(self._actions)

    def commit(self) -> None:
        """Send every action as one TransactWriteItems (nothing is sent for an empty transaction)."""
        if self.committed:
            raise ce.InvalidInput("transaction", "has been committed already")
        if not self._actions:
            self.committed = True
            return
        items = [{request.operation: request.params} for _, request in self._actions]
        try:
            self._session.nosql.transact_write(items, self.token)
        except ce.TransactionError as e:  # each failed condition names its table, key and versions
            for reason, (table, request) in zip(e.reasons, self._actions, strict=False):
                if reason is not None and reason.code == "ConditionalCheckFailed":
                    stored = reason.item if isinstance(reason.item, Mapping) else None
                    reason.message = table._failed_condition_text(request, stored, reason.message)
            raise
        self.committed = True
        for _, request in self._actions:
            request.on_success()

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()


def transact_get(session: SessionLike, targets: Iterable[Item | tuple[Table[Any], Mapping[str, Any]]]) -> list[Any]:
    """Read up to 100 items atomically: each target an Item or ``(table, key)``; ``None`` where missing."""
    check_targets("transact_get", targets)
    tables: list[Table[Any]] = []
    requests = []
    seen: set[tuple[str, tuple[Any, ...]]] = set()
    for target in targets:
        if isinstance(target, Item):
            table = target._co_bound()
            key = table._row_key(target)
        elif isinstance(target, tuple) and len(target) == 2 and isinstance(target[0], Table):
            table = target[0]
            key = table._key_from(target[1], {})
        else:
            raise ce.InvalidInput("transact_get", f"expected an Item or (table, key), got {target!r}")
        wire = codec.encode_item(key)
        identity = (table.name, codec.key_identity(wire, table.schema.key_names))
        if identity in seen:
            raise ce.InvalidInput("transact_get", f"reads the item {key} of {table.name!r} twice; DynamoDB allows one "
                                                  "read per item in a transaction")
        seen.add(identity)
        tables.append(table)
        requests.append({"Get": {"TableName": table.name, "Key": wire}})
    if len(requests) > MAX_ACTIONS:
        raise ce.InvalidInput("transact_get", f"reads at most {MAX_ACTIONS} items, got {len(requests)}")
    if not requests:
        return []
    found = session.nosql.transact_get(requests)
    hydrate: list[Callable[[Any], Any]] = [t._row for t in tables]
    return [None if w is None else h(w) for h, w in zip(hydrate, found, strict=True)]
