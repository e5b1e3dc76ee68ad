"""Changing an item's key (the Cloud package's ``ChangeKeyValues``): one TransactWriteItems that deletes the item
under its old key, on condition that it is still as it was read, and puts it, every attribute kept, under the new
key, on condition that no item has that key. Either both happen or neither does."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm import errors as ce
from cloudorm.nosql import codec
from cloudorm.nosql.placeholders import ExpressionBuilder
from cloudorm.providers.contract import Wire

if TYPE_CHECKING:
    from cloudorm.nosql.requests import RequestBuilder

MAX_EXPRESSION = 4096
"""DynamoDB's limit on the length of a condition expression, in bytes."""


@attrs.frozen
class Move:
    """A prepared key change: the two transaction actions, the item as it will be stored, and the keys."""

    actions: list[Wire]
    item: Wire
    old_key: dict[str, Any]
    new_key: dict[str, Any]


def new_key(table: RequestBuilder[Any], old: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The new key: ``old`` with the values ``given`` for some key attributes, checked as keys are
    (``InvalidInput``, before any request, for a name that is no key attribute, a value of the wrong type, or a
    key that is the old one)."""
    names = table.schema.key_names
    if not given:
        raise ce.InvalidInput("key", f"give the new value of {' or '.join(names)}: change_key({names[0]}=...)")
    for name in given:
        if name not in names:
            raise ce.InvalidInput(name, f"is not a key attribute of {table.name!r} (its key is {', '.join(names)}); "
                                        "change other attributes with save() or update()")
    key = table.key_values({**old, **given})
    if _identity(key, names) == _identity(old, names):
        raise ce.InvalidInput("key", f"the new key {key} is the item's key already: nothing to change")
    return key


def _identity(key: Mapping[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    return codec.key_identity(codec.encode_item(key), names)


def as_read(table: RequestBuilder[Any], stored: Wire) -> tuple[str, ExpressionBuilder]:
    """The condition that the item is still as ``stored`` (what was read): present and, for a versioned model,
    holding the version read; otherwise every top-level attribute read holds the value read. An attribute another
    writer adds under a new name cannot be seen by a condition: a versioned model is safe from that too.
    ``InvalidInput`` when the condition would exceed DynamoDB's 4 KB limit on an expression."""
    b = ExpressionBuilder()
    names = table.schema.key_names
    parts = [f"attribute_exists({b.name((names[0],))})"]
    vname = table._version_field()
    if vname is not None:
        held = stored.get(vname)
        parts.append(f"attribute_not_exists({b.name((vname,))})" if held is None
                     else f"{b.name((vname,))} = {b.wire_value(held)}")
    else:
        parts += [f"{b.name((name,))} = {b.wire_value(value)}" for name, value in stored.items() if name not in names]
    expression = " AND ".join(parts)
    if len(expression.encode()) > MAX_EXPRESSION:
        raise ce.InvalidInput("item", f"has {len(stored)} attributes: the condition that it is unchanged since it "
                                      f"was read would be {len(expression):,} bytes, over DynamoDB's limit of "
                                      f"{MAX_EXPRESSION:,}; give the table a typed model with a version field, "
                                      "whose condition is the version alone")
    return expression, b


def prepare(table: RequestBuilder[Any], stored: Wire, values: Wire, key: Mapping[str, Any]) -> Move:
    """The actions moving the item ``stored`` (as read) to ``key``, writing ``values`` (the item's attributes in
    wire form) with the new key; a versioned model's version goes up by one, as on every write."""
    names = table.schema.key_names
    stored = codec.encode_item(codec.decode_item(stored))  # binary read as base64 text goes back as bytes
    values = codec.encode_item(codec.decode_item(values))
    old = codec.decode_item({n: stored[n] for n in names})
    condition, b = as_read(table, stored)
    delete: Wire = {"TableName": table.name, "Key": {n: stored[n] for n in names}, "ConditionExpression": condition,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD", **b.params()}
    item = {**values, **codec.encode_item(key)}
    vname = table._version_field()
    if vname is not None:
        held = codec.decode_item({vname: stored[vname]})[vname] if vname in stored else 0
        item[vname] = codec.encode_value(int(held) + 1)
    codec.check_item_size(item)
    put: Wire = {"TableName": table.name, "Item": item, "ConditionExpression": "attribute_not_exists(#h)",
                 "ExpressionAttributeNames": {"#h": names[0]}}
    return Move([{"Delete": delete}, {"Put": put}], item, old, dict(key))


def send(table: RequestBuilder[Any], move: Move) -> None:
    """Send the move as one TransactWriteItems with a fresh ClientRequestToken (botocore's re-sends after a lost
    answer carry it, so the move is applied once). A failed condition is the error it means: ``AlreadyExists``
    (an item has the new key), ``NotFound`` (the item is gone) or ``ConflictError`` (it changed since it was
    read; ``e.item`` is the stored item)."""
    try:
        table._co_self()._nosql.transact_write(move.actions, str(uuid.uuid4()))
    except ce.TransactionError as e:
        raise _meaning(table, move, e) from None


def _meaning(table: RequestBuilder[Any], move: Move, e: ce.TransactionError) -> ce.CloudError:
    """What a cancelled move means, naming the table and keys."""
    reasons = [*e.reasons, None, None]
    details = e.provider_details()
    gone, taken = reasons[0], reasons[1]
    if gone is not None and gone.code == "ConditionalCheckFailed":
        if gone.item is None:
            return ce.NotFound(f"the item {move.old_key} is no longer in {table.name!r}", **details)
        conflict = ce.ConflictError(f"the item {move.old_key} of {table.name!r} changed since it was read; read it "
                                    "again before changing its key", **details)
        try:
            conflict.item = table._co_self()._row(codec.encode_item(gone.item))
        except ce.InvalidInput:  # a stored row that does not fit the model: as it is
            conflict.item = gone.item
        return conflict
    if taken is not None and taken.code == "ConditionalCheckFailed":
        return ce.AlreadyExists(f"an item with the key {move.new_key} exists already in {table.name!r}", **details)
    return e
