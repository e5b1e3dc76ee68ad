"""A table's definition on the wire: CreateTable/UpdateTable/TTL parameters built from a declaration, the record
read from a DescribeTable answer, and the plans (service calls, no I/O of their own) that create, reconcile, wait
for and delete a table."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from cloudorm import errors as ce
from cloudorm.core import UNSET, Plan, call, pause
from cloudorm.nosql import codec
from cloudorm.nosql.schema import (
    ON_DEMAND,
    Billing,
    GlobalIndex,
    Index,
    LocalIndex,
    Provisioned,
    TableSchema,
    check_indexes,
    global_index_wire,
    key_schema_wire,
    local_index_wire,
)
from cloudorm.providers.contract import Wire

TTL_ON = ("ENABLED", "ENABLING")
"""DescribeTimeToLive statuses that mean TTL is on (or being turned on)."""


# ------------------------------------------------------------------------------------------- declarations


def check_billing(value: Any) -> Any:
    """A billing declaration; None leaves it as it is (``UNSET``)."""
    if value is None:
        return UNSET
    if value in (ON_DEMAND, "on_demand"):
        return ON_DEMAND
    if isinstance(value, Provisioned):
        return value
    raise ce.InvalidInput("billing", f"must be 'PAY_PER_REQUEST' or cloudorm.Provisioned(read, write), not {value!r}")


def check_ttl(value: Any) -> Any:
    """A TTL declaration: an attribute name turns TTL on, False turns it off, None leaves it as it is."""
    if value is None:
        return UNSET
    if value is False:
        return value
    if not isinstance(value, str) or not value:
        raise ce.InvalidInput("ttl", f"must be an attribute name, False (TTL off) or None (left as it is), "
                                     f"not {value!r}")
    codec.check_text(value, "ttl")
    return value


def check_table_indexes(value: Any) -> Any:
    """Index declarations; None leaves the table's indexes as they are (``UNSET``)."""
    return UNSET if value is None else check_indexes(value)


def same_ttl(new: Any, old: Any) -> bool:
    """Whether a declared TTL (an attribute, or False for off) is what the table has (an attribute or None)."""
    return (new or None) == (old or None)


def same_indexes(new: tuple[Index, ...], old: tuple[Index, ...] | None) -> bool:
    """Whether declared indexes match the table's: the same global index names, the same local indexes."""
    old = old or ()
    return (global_names(new) == global_names(old)
            and {ix for ix in new if isinstance(ix, LocalIndex)} == {ix for ix in old if isinstance(ix, LocalIndex)})


def global_names(indexes: tuple[Index, ...]) -> set[str]:
    """The names of the global indexes among ``indexes``."""
    return {ix.name for ix in indexes if isinstance(ix, GlobalIndex)}


# ------------------------------------------------------------------------------------------- answers


def billing_of(description: Mapping[str, Any]) -> Billing:
    """The billing a DescribeTable description shows."""
    if (description.get("BillingModeSummary") or {}).get("BillingMode") == ON_DEMAND:
        return ON_DEMAND
    throughput = description.get("ProvisionedThroughput") or {}
    if not throughput.get("ReadCapacityUnits") or not throughput.get("WriteCapacityUnits"):
        return ON_DEMAND  # providers that leave out the summary of an on-demand table show 0 units
    return Provisioned(int(throughput["ReadCapacityUnits"]), int(throughput["WriteCapacityUnits"]))


def record_of(description: Mapping[str, Any]) -> dict[str, Any]:
    """A table's record (what its fields read) from a DescribeTable description."""
    schema = TableSchema.from_description(description)
    return {"name": description.get("TableName"), "hash_key": schema.hash_key, "range_key": schema.range_key,
            "indexes": schema.indexes, "billing": billing_of(description), "status": description.get("TableStatus"),
            "item_count": description.get("ItemCount"), "arn": description.get("TableArn"),
            "description": dict(description)}


def ttl_of(answer: Mapping[str, Any]) -> str | None:
    """The TTL attribute a DescribeTimeToLive answer shows on, or None when TTL is off."""
    return answer.get("AttributeName") if answer.get("TimeToLiveStatus") in TTL_ON else None


def is_active(description: Mapping[str, Any]) -> bool:
    """Whether a table and all its global indexes are ACTIVE."""
    return description.get("TableStatus") == "ACTIVE" and all(
        g.get("IndexStatus", "ACTIVE") == "ACTIVE" for g in description.get("GlobalSecondaryIndexes", []) or [])


def global_index_names(description: Mapping[str, Any]) -> set[str]:
    """The global indexes a description shows."""
    return {g["IndexName"] for g in description.get("GlobalSecondaryIndexes") or []}


# ------------------------------------------------------------------------------------------- requests


def billing_params(params: Wire, billing: Billing) -> Wire:
    """``params`` with the billing mode (and throughput) of ``billing``."""
    if isinstance(billing, Provisioned):
        params["BillingMode"] = "PROVISIONED"
        params["ProvisionedThroughput"] = billing.wire()
    else:
        params["BillingMode"] = ON_DEMAND
    return params


def create_params(name: str, schema: TableSchema, billing: Billing) -> Wire:
    """CreateTable's parameters for a declaration."""
    params: Wire = {"TableName": name, "KeySchema": key_schema_wire(schema.hash_key, schema.range_key),
                    "AttributeDefinitions": schema.attribute_definitions()}
    billing_params(params, billing)
    gsis = [global_index_wire(ix, billing) for ix in schema.indexes if isinstance(ix, GlobalIndex)]
    lsis = [local_index_wire(ix, schema.hash_key) for ix in schema.indexes if isinstance(ix, LocalIndex)]
    if gsis:
        params["GlobalSecondaryIndexes"] = gsis
    if lsis:
        params["LocalSecondaryIndexes"] = lsis
    return params


def billing_update(name: str, want: Billing, description: Mapping[str, Any],
                   declared: tuple[Index, ...]) -> Wire:
    """UpdateTable's parameters to move to ``want``; moving to provisioned gives every global index throughput too
    (its own declared one, else the table's)."""
    params = billing_params({"TableName": name}, want)
    if isinstance(want, Provisioned) and not isinstance(billing_of(description), Provisioned):
        own = {ix.name: ix.throughput for ix in declared if isinstance(ix, GlobalIndex)}
        updates = [{"Update": {"IndexName": n, "ProvisionedThroughput": (own.get(n) or want).wire()}}
                   for n in sorted(global_index_names(description))]
        if updates:
            params["GlobalSecondaryIndexUpdates"] = updates
    return params


def check_reconcilable(name: str, have: Mapping[str, Any], want: Mapping[str, Any], changed: set[str]) -> None:
    """``ConflictError`` before any request for what cannot change on an existing table: its key schema and its
    local indexes."""
    if changed & {"hash_key", "range_key"}:
        keys = tuple(k.name for k in (have["hash_key"], have["range_key"]) if k is not None)
        wanted = tuple(k.name for k in (want["hash_key"], want["range_key"]) if k is not None)
        raise ce.ConflictError(f"table {name!r} exists with key {keys}, not {wanted}; a key schema cannot change")
    if "indexes" in changed:
        want_local = {ix for ix in want["indexes"] if isinstance(ix, LocalIndex)}
        have_local = {ix for ix in have["indexes"] or () if isinstance(ix, LocalIndex)}
        if want_local != have_local:
            raise ce.ConflictError(f"table {name!r} has local indexes {sorted(ix.name for ix in have_local)}; "
                                   "local secondary indexes cannot change after creation")


# ------------------------------------------------------------------------------------------- plans


def poll(check: Callable[[], Plan[Any]], *, timeout: float, what: str,
         interval: float = 0.05, max_interval: float = 2.0) -> Plan[Any]:
    """Run the plan ``check()`` until it returns something other than None/False; ``Timeout`` naming ``what``
    after ``timeout`` seconds (0: look once). The plan form of ``cloudorm.waiting.wait_until``."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        result = yield from check()
        if result is not None and result is not False:
            return result
        now = time.monotonic()
        if now >= deadline:
            raise ce.Timeout(f"{what} did not happen within {timeout:g} s")
        yield from pause(min(delay, max(0.0, deadline - now)))
        delay = min(delay * 1.6, max_interval)


def wait_active(name: str, timeout: float) -> Plan[Wire]:
    """Wait until the table and its global indexes are ACTIVE; their last description."""
    def active() -> Plan[Wire | None]:
        desc: Wire = yield from call("nosql", "describe_table", name)
        return desc if is_active(desc) else None

    found: Wire = yield from poll(active, timeout=timeout, what=f"table {name!r} becoming ACTIVE")
    return found


def wait_gone(name: str, timeout: float) -> Plan[None]:
    """Wait until the table no longer exists."""
    def gone() -> Plan[bool]:
        try:
            yield from call("nosql", "describe_table", name)
        except ce.NotFound:
            return True
        return False

    yield from poll(gone, timeout=timeout, what=f"table {name!r} being deleted")


def update_table(name: str, params: Wire, applied: Callable[[Wire], bool], timeout: float) -> Plan[Wire]:
    """One UpdateTable, then wait until ACTIVE (its last description). A failed call whose change is in place
    anyway (a lost response whose re-send the service refused) counts as done: ``applied`` tells from a fresh
    description."""
    try:
        yield from call("nosql", "update_table", params)
    except ce.CloudError:
        if not applied((yield from call("nosql", "describe_table", name))):
            raise
    found: Wire = yield from wait_active(name, timeout)
    return found


def reconcile(name: str, description: Wire, want: Mapping[str, Any], changed: set[str],
              timeout: float) -> Plan[Wire]:
    """Bring billing and global indexes of an existing table in line with ``want`` (the fields that ``changed``);
    the table's last description."""
    if not is_active(description):
        description = yield from wait_active(name, timeout)
    if "billing" in changed:
        target = want["billing"]
        description = yield from update_table(name, billing_update(name, target, description, want["declared"]),
                                              lambda d: billing_of(d) == target, timeout)
    if "indexes" in changed:
        have = global_index_names(description)
        declared = {ix.name: ix for ix in want["indexes"] if isinstance(ix, GlobalIndex)}
        for ix_name in sorted(have - set(declared)):
            description = yield from update_table(
                name, {"TableName": name, "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": ix_name}}]},
                lambda d, n=ix_name: n not in global_index_names(d), timeout)  # type: ignore[misc]
        schema = TableSchema(want["hash_key"], want["range_key"], want["indexes"])
        for ix_name in sorted(set(declared) - have):
            description = yield from update_table(name, {
                "TableName": name, "AttributeDefinitions": schema.attribute_definitions(),
                "GlobalSecondaryIndexUpdates": [{"Create": global_index_wire(declared[ix_name], want["billing"])}]},
                lambda d, n=ix_name: n in global_index_names(d), timeout)  # type: ignore[misc]
    return description


def sync_ttl(name: str, target: str | None) -> Plan[str | None]:
    """Turn TTL on for ``target``, or off (None); nothing is sent when it already is. Moving TTL to another
    attribute turns it off, then on again: DynamoDB allows one change per hour, so there the second step fails,
    and the ``ConflictError`` says TTL is now off. Returns the attribute TTL is now on for."""
    have = ttl_of((yield from call("nosql", "describe_ttl", name)))
    if have == target:
        return target
    if have is not None:
        yield from update_ttl(name, have, False)
    if target is not None:
        try:
            yield from update_ttl(name, target, True)
        except ce.CloudError as e:
            if have is None:
                raise
            raise ce.ConflictError(f"TTL of {name!r} was turned off on {have!r} but could not be turned on for "
                                   f"{target!r} ({e.message}); DynamoDB allows one TTL change per table per hour: "
                                   "save() again later", **e.provider_details()) from e
    return target


def update_ttl(name: str, attribute: str, enabled: bool) -> Plan[None]:
    """UpdateTimeToLive; a failed call whose change is in place anyway (a lost response whose re-send the service
    refused as a repeat) counts as done."""
    try:
        yield from call("nosql", "update_ttl", name, attribute, enabled)
    except ce.CloudError:
        now = yield from call("nosql", "describe_ttl", name)
        if (ttl_of(now) is not None) != enabled or (enabled and now.get("AttributeName") != attribute):
            raise
