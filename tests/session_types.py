"""Read by mypy, never run (``[tool.mypy] files``): the Session's bound factories keep the entities' signatures.
A ``type: ignore`` here is an assertion, since mypy reports one that is no longer needed."""

from __future__ import annotations

from typing_extensions import assert_type

import cloudorm
from cloudorm.binding import bind
from cloudorm.compute.catalog import Account, Region, Server
from cloudorm.core import Resource, field, resource, stored
from cloudorm.listing import Listing


@cloudorm.model(table="orders")
class Order(cloudorm.Item):
    """A typed row."""

    customer: str = cloudorm.hash_key()


@resource
class Gadget(Resource):
    """A resource on the entity core, bound the way the Session binds its entities."""

    name: str = field(str)
    size: int = field(int, default=1, kw_only=True)
    arn: str = stored()


class GadgetSession(cloudorm.Session):
    """A session with one more entity: one line."""

    Gadget = bind(Gadget)


def check_core(s: GadgetSession) -> None:
    """A core resource's fields are its factory's parameters; its stored values are not."""
    assert_type(s.Gadget("g", size=2), Gadget)
    assert_type(s.Gadget("g").arn, str)
    s.Gadget("g", arn="x")  # type: ignore[call-arg]
    s.Gadget("g", 2)  # type: ignore[call-arg]


def check(s: cloudorm.Session) -> None:
    """Each factory returns its entity, each listing a Listing of them; wrong arguments are refused."""
    assert_type(s.Table("orders"), cloudorm.Table[cloudorm.Item])
    assert_type(s.Table(Order), cloudorm.Table[Order])
    assert_type(s.Table("orders-2025", model=Order), cloudorm.Table[Order])
    assert_type(s.tables(), Listing[cloudorm.Table[cloudorm.Item]])
    assert_type(s.transaction(), cloudorm.Transaction)
    assert_type(s.Bucket("photos"), cloudorm.Bucket)
    assert_type(s.buckets(), Listing[cloudorm.Bucket])
    assert_type(s.User("alice"), cloudorm.User)
    assert_type(s.users(path_prefix="/"), Listing[cloudorm.User])
    assert_type(s.policies(scope="aws"), Listing[cloudorm.Policy])
    assert_type(s.Role("r", service="lambda"), cloudorm.Role)
    assert_type(s.Function("f", memory=256), cloudorm.Function)
    assert_type(s.apis(), Listing[cloudorm.Api])
    assert_type(s.Cluster("workers", 3), cloudorm.Cluster)
    assert_type(s.clusters(), Listing[cloudorm.Cluster])
    assert_type(s.SshKey("laptop", public_key="ssh-ed25519 AAAA"), cloudorm.SshKey)
    assert_type(s.ssh_keys(), Listing[cloudorm.SshKey])
    assert_type(s.servers(name="web-1"), Listing[Server])
    assert_type(s.server_exists("web-1"), bool)
    assert_type(s.regions(), Listing[Region])
    assert_type(s.account(), Account)
    s.Role("r", servise="lambda")  # type: ignore[call-arg]
    s.Function("f", memory="big")  # type: ignore[arg-type]
    s.users("/", "extra")  # type: ignore[call-arg]


def check_summaries(s: cloudorm.Session, orders: cloudorm.Table[Order], row: Order) -> None:
    """The account's IAM summary, costs, key changes and table differences keep their types."""
    from cloudorm.costs import Cost
    from cloudorm.iam import IamSummary
    from cloudorm.nosql.differences import Difference

    assert_type(s.iam_summary(kinds=["users"]), IamSummary)
    assert_type(s.costs("2025-01-01", "2025-02-01", granularity="DAILY"), list[Cost])
    assert_type(orders.change_key({"customer": "a"}, customer="b"), Order)
    assert_type(row.change_key(customer="b"), Order)
    assert_type(orders.differences(), list[Difference])
    s.costs("2025-01-01")  # type: ignore[call-arg]
