"""Typed models on the local cloud: fields of many types, optimistic locking, transactions across two tables.

    python examples/models.py                                    # an embedded local cloud, gone at exit
    python examples/models.py --endpoint-url http://127.0.0.1:4566   # a running `cloudorm serve`

Like the quickstart, the asserts make it a smoke test (non-zero exit on failure), and its tables get unique names
and are deleted at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import enum
import sys
import uuid
from decimal import Decimal

import attrs

import cloudorm
from cloudorm import Attr
from cloudorm.errors import ConflictError, TransactionError

RUN = uuid.uuid4().hex[:8]  # unique table names, so the example can run many times against one server


class Status(enum.Enum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"


@attrs.define
class Address:  # a nested attrs class, stored as a map
    street: str
    city: str
    country: str = "NL"


@cloudorm.model(table=f"models-orders-{RUN}")
class Order(cloudorm.Item):
    customer: str = cloudorm.hash_key()
    number: int = cloudorm.range_key()
    total: Decimal = Decimal(0)                       # exact money
    weight_kg: float = 0.0
    gift: bool = False
    receipt: bytes = b""
    placed_at: dt.datetime = attrs.Factory(lambda: dt.datetime.now(dt.timezone.utc))
    status: Status = Status.PENDING
    tags: set[str] = attrs.Factory(set)
    skus: list[str] = attrs.Factory(list)
    notes: dict[str, str] = attrs.Factory(dict)
    ship_to: Address | None = None
    version: int = cloudorm.version()                  # optimistic locking


@cloudorm.model(table=f"models-customers-{RUN}")
class Customer(cloudorm.Item):
    id: str = cloudorm.hash_key()
    name: str = ""
    balance: Decimal = Decimal(0)
    orders_placed: int = 0


def section(title: str) -> None:
    print(f"\n== {title} ==")


def create_tables(s: cloudorm.Session) -> tuple[cloudorm.Table[Order], cloudorm.Table[Customer]]:
    section("tables for typed models")
    orders = s.Table(Order).save()         # keys come from the model's hash_key()/range_key() fields
    customers = s.Table(Customer).save()
    print(orders, customers, sep="\n")
    return orders, customers


def typed_items(s: cloudorm.Session, orders: cloudorm.Table[Order], customers: cloudorm.Table[Customer]) -> None:
    section("typed items")
    customers.put(Customer(id="ann", name="Ann", balance=Decimal("100.00")))
    order = Order(
        customer="ann", number=1, total=Decimal("19.99"), weight_kg=1.25, gift=True, receipt=b"\x89PNG",
        placed_at=dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc), status=Status.PAID,
        tags={"books"}, skus=["B-1", "B-2"], notes={"door": "blue"}, ship_to=Address("1 Main St", "Utrecht"),
    )
    orders.put(order)                      # version() fields start at 1 on the first write
    print(order)
    assert order.version == 1

    got = orders.get(customer="ann", number=1)
    assert isinstance(got, Order) and got == order
    assert isinstance(got.placed_at, dt.datetime) and got.status is Status.PAID and got.ship_to == order.ship_to

    section("how the fields are stored")
    # the same table read without the model: the stored forms, as any other DynamoDB client sees them
    raw = s.Table(orders.name).get(customer="ann", number=1)
    assert raw is not None
    for name in ("total", "weight_kg", "gift", "receipt", "placed_at", "status", "tags", "skus", "ship_to"):
        print(f"  {name:10} {raw[name]!r}")
    assert raw["placed_at"] == "2024-05-01T12:30:00.000000+0000" and raw["status"] == "paid"  # UTC, fixed width
    assert raw["ship_to"] == {"street": "1 Main St", "city": "Utrecht", "country": "NL"}

    section("data the model does not declare is kept")
    s.Table(orders.name).update({"customer": "ann", "number": 1}, Attr("coupon").set("SPRING"))  # another program
    order.refresh()
    print("undeclared:", dict(cloudorm.undeclared(order)), "| state:", cloudorm.state(order))
    assert dict(cloudorm.undeclared(order)) == {"coupon": "SPRING"} and cloudorm.state(order) == "saved"

    section("queries return model instances")
    for n, total in ((2, "5.00"), (3, "42.00"), (4, "7.50")):
        orders.put(Order(customer="ann", number=n, total=Decimal(total)))
    # keys and filters take typed values (enums, datetimes), sent in their stored forms
    big = list(orders.query(customer="ann").filter(total__gt=10, status=Status.PENDING))
    print([(o.number, o.total, o.status) for o in big])
    assert [o.number for o in big] == [3] and isinstance(big[0], Order)
    may = orders.query(customer="ann").filter(placed_at__lt=dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc))
    assert [o.number for o in may] == [1]

    section("a projected row saves only what changed")
    stored = orders.get(customer="ann", number=4)
    brief = orders.query(customer="ann", number=4).only("total").first()   # the version comes along too
    assert stored is not None and brief is not None and brief.version == 1
    print("placed_at was not read, so it holds a fresh default:", brief.placed_at != stored.placed_at)
    brief.total = Decimal("8.00")
    brief.save()                           # sends total (and version 1 -> 2); the unread fields are left alone
    full = orders.get(customer="ann", number=4)
    print(full)
    assert full is not None and full.total == Decimal("8.00") and full.version == 2
    assert full.placed_at == stored.placed_at

    section("changes and saves")
    order.status = Status.SHIPPED
    order.tags.add("express")
    print("changes:", sorted(cloudorm.changes(order)))
    assert cloudorm.changes(order) == {"status", "tags"}
    with s.count_requests() as requests:
        order.save()                       # one UpdateItem of status and tags, and version 1 -> 2
    print(requests, "| version", order.version)
    assert requests.total == 1 and order.version == 2
    assert s.Table(orders.name).get(customer="ann", number=1)["coupon"] == "SPRING"  # type: ignore[index]


def optimistic_locking(orders: cloudorm.Table[Order]) -> None:
    section("optimistic locking")
    mine = orders.get(customer="ann", number=2)
    theirs = orders.get(customer="ann", number=2)
    assert mine is not None and theirs is not None
    theirs.total = Decimal("6.00")
    theirs.save()                          # version 1 -> 2
    mine.gift = True
    try:
        mine.save()                        # still at version 1: refused
        raise AssertionError("a stale copy must not overwrite a newer version")
    except ConflictError as e:
        print("stale save ->", type(e).__name__, e.code)
    mine.refresh()                         # reload, re-apply, save
    mine.gift = True
    mine.save()
    print(mine)
    assert (mine.version, mine.total, mine.gift) == (3, Decimal("6.00"), True)

    section("atomic updates and versions")
    mine.update(Attr("tags").add({"checked"}))   # checks the version mine holds (3), sets 4
    assert mine.version == 4 and mine.tags == {"checked"}
    # by key there is no version to check: the stored version is bumped, so every copy read before is stale
    after = orders.update({"customer": "ann", "number": 2}, Attr("tags").add({"audited"}))
    print("table.update ->", after.version, "| mine still holds", mine.version)
    assert after.version == 5
    mine.gift = False
    try:
        mine.save()
        raise AssertionError("a copy older than an atomic update must not overwrite it")
    except ConflictError as e:         # e.item is the stored row, as an Order
        print("stale save -> ConflictError; stored version", e.item.version, "tags", sorted(e.item.tags))
        assert isinstance(e.item, Order) and e.item.version == 5


def transactions(s: cloudorm.Session, orders: cloudorm.Table[Order], customers: cloudorm.Table[Customer]) -> None:
    section("a transaction across two tables")

    def place(number: int, total: Decimal) -> None:
        with s.transaction() as t:         # commits when the block ends; all or nothing
            t.put(orders.Item(customer="ann", number=number, total=total), if_not_exists=True)
            t.update(customers, {"id": "ann"}, Attr("balance").add(-total), Attr("orders_placed").add(1),
                     condition=Attr("balance") >= total)

    place(10, Decimal("30.00"))
    ann = customers.get(id="ann")
    print(ann)
    assert ann is not None and ann.balance == Decimal("70.00") and ann.orders_placed == 1

    section("a failing condition cancels every action")
    try:
        place(11, Decimal("500.00"))       # more than the balance
        raise AssertionError("the transaction should have been cancelled")
    except TransactionError as e:
        print("TransactionError:", e.code)
        for action, reason in zip(("put order", "charge customer"), e.reasons, strict=True):
            print(f"  {action:16} {reason}")
        assert e.reasons[0] is None and e.reasons[1] is not None
        assert e.reasons[1].code == "ConditionalCheckFailed"
    assert orders.get(customer="ann", number=11) is None

    section("reading atomically across tables")
    order, customer, missing = s.transact_get([
        (orders, {"customer": "ann", "number": 10}),
        (customers, {"id": "ann"}),
        (customers, {"id": "nobody"}),
    ])
    print(order, customer, missing, sep="\n")
    assert isinstance(order, Order) and isinstance(customer, Customer) and missing is None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", help="a running local cloud (`cloudorm serve`)")
    args = parser.parse_args(argv)
    s = cloudorm.Session("local", endpoint_url=args.endpoint_url) if args.endpoint_url else cloudorm.Session()
    orders, customers = create_tables(s)
    try:
        typed_items(s, orders, customers)
        optimistic_locking(orders)
        transactions(s, orders, customers)
    finally:
        orders.delete(missing_ok=True)
        customers.delete(missing_ok=True)
    print("\nmodels: all good")
    return 0


if __name__ == "__main__":
    sys.exit(main())
