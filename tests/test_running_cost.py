"""Running cost of nodes and clusters (the Cloud package's ``Economics.RunningCost``) with a fixed clock: the billing
rule itself, DigitalOcean droplets on FakeDigitalOcean (hourly up to the monthly price, read from the sizes' real
``price_hourly`` / ``price_monthly``), EC2 instances on the moto server (no prices: given ones or ``price_per_node``)
and local nodes (free)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

import cloudorm
from cloudorm import errors as ce
from cloudorm.compute.costs import billed
from cloudorm.compute.keys import KeyPair
from cloudorm.providers.contract.compute import BillingInfo
from cloudorm.testing import FakeDigitalOcean
from tests.conftest import FAKE_CREDS

pytestmark = pytest.mark.usefixtures("state")  # cluster state in the test's directory (conftest)

UTC = timezone.utc
DO_RULE: BillingInfo = {"billing_seconds": 3600, "minimum_seconds": 3600, "bills_off": True, "hours_per_month": 672}
EC2_RULE: BillingInfo = {"billing_seconds": 1, "minimum_seconds": 60, "bills_off": False, "hours_per_month": 730}
HOURLY = Decimal("0.00893")  # s-1vcpu-1gb: 6 USD a month
MONTHLY = Decimal("6.0")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(("start", "end", "expected"), [
    (at(2024, 3, 5, 10), at(2024, 3, 5, 10, 0, 1), HOURLY),                  # a started hour counts whole
    (at(2024, 3, 5, 10), at(2024, 3, 5, 10), HOURLY),                        # at least one hour
    (at(2024, 3, 5, 10), at(2024, 3, 5, 12), 2 * HOURLY),                    # exact hours stay exact
    (at(2024, 3, 5, 10), at(2024, 3, 5, 12, 0, 0, 1), 3 * HOURLY),
    (at(2024, 3, 1), at(2024, 4, 1), MONTHLY),                               # 744 hours: capped at the month
    (at(2024, 3, 1), at(2024, 3, 29), MONTHLY),                              # 672 hours cost 6.00096: capped
    (at(2024, 3, 1), at(2024, 3, 28, 23), Decimal(671) * HOURLY),            # 671 hours: under the cap
    (at(2024, 1, 31, 23, 30), at(2024, 2, 1, 0, 30), 2 * HOURLY),            # half an hour in each month
    (at(2024, 1, 1), at(2024, 4, 1), 3 * MONTHLY),                           # three whole months, each capped
    (at(2024, 1, 15), at(2024, 3, 15), 408 * HOURLY + MONTHLY + 336 * HOURLY),  # 17 days, February, 14 days
    (at(2024, 2, 15), at(2024, 3, 1), Decimal(360) * HOURLY),                # 15 days of a leap February
])
def test_digitalocean_bills_started_hours_up_to_the_monthly_price(start: datetime, end: datetime,
                                                                 expected: Decimal) -> None:
    assert billed(start, end, HOURLY, MONTHLY, DO_RULE) == expected


def test_ec2_bills_seconds_with_a_minute_at_least_and_no_cap() -> None:
    hourly = Decimal("0.0104")
    start = at(2024, 3, 5, 10)
    assert billed(start, start + timedelta(seconds=10), hourly, None, EC2_RULE) == Decimal("0.000173")  # 60 s
    assert billed(start, start + timedelta(hours=1, seconds=30), hourly, None, EC2_RULE) == Decimal("0.010487")
    assert billed(start, start + timedelta(days=62), hourly, None, EC2_RULE) == Decimal("15.4752")
    naive_end = datetime(2024, 3, 5, 11)  # (times are compared in UTC)
    assert billed(start, naive_end.replace(tzinfo=UTC), hourly, None, EC2_RULE) == hourly


# ------------------------------------------------------------------------------------------------------ local


def test_local_nodes_cost_nothing() -> None:
    s = cloudorm.Session()
    cluster = s.Cluster(f"cost-{uuid.uuid4().hex[:6]}", size=2, runtime=None, progress=False).save()
    try:
        assert cluster.running_cost() == Decimal(0)
        assert cluster.nodes[0].running_cost(until=datetime.now(UTC) + timedelta(days=400)) == Decimal(0)
        with s.count_requests() as c, pytest.raises(ce.InvalidInput) as err:
            cluster.running_cost(until="yesterday")  # type: ignore[arg-type]
        assert err.value.field == "until" and c.total == 0
        with s.count_requests() as c, pytest.raises(ce.InvalidInput, match="timezone-aware") as err:
            cluster.running_cost(until=datetime.now())  # naive: no moment
        assert err.value.field == "until" and c.total == 0
        for prices in ({"s-1vcpu-1gb": -1}, {"s-1vcpu-1gb": "a lot"}, {"s-1vcpu-1gb": float("nan")}, ["x"],
                       {"": 1}, {"s-1vcpu-1gb": True}):
            with s.count_requests() as c, pytest.raises(ce.InvalidInput) as err:
                cluster.running_cost(prices=prices)  # type: ignore[arg-type]
            assert err.value.field == "prices" and c.total == 0
        # given prices win over the provider's (hourly, no cap)
        until = min(n.created for n in cluster.nodes) + timedelta(hours=2, minutes=30)  # type: ignore[type-var, operator]
        assert cluster.running_cost(until=until, prices={"s-1vcpu-1gb": "0.5"}) == Decimal("3.0")  # 2 x 3 hours
    finally:
        cluster.delete()
    assert cluster.running_cost() == Decimal(0)  # no nodes left


# ------------------------------------------------------------------------------------------------ DigitalOcean


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDigitalOcean]:
    with FakeDigitalOcean(root=tmp_path_factory.mktemp("do"), boot_delay=0.1, reboot_delay=0.1) as do:
        yield do


def test_a_droplet_cluster_costs_its_sizes_hourly_prices_up_to_the_month(fake: FakeDigitalOcean) -> None:
    s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)
    name = f"cost-{uuid.uuid4().hex[:6]}"
    spec = {"image": "ubuntu-24-04-x64", "region": "nyc3", "key_id": None, "user_data": None}
    s.compute.create_nodes(name, [f"{name}-1"], {**spec, "size": "s-1vcpu-1gb"})
    s.compute.create_nodes(name, [f"{name}-2"], {**spec, "size": "s-2vcpu-4gb"})
    try:
        for droplet in fake.droplets.values():  # a fixed clock: the droplets were made at known times
            if droplet.data["name"] == f"{name}-1":
                droplet.data["created_at"] = "2024-01-31T23:30:00Z"
            elif droplet.data["name"] == f"{name}-2":
                droplet.data["created_at"] = "2024-03-01T00:00:00Z"
                droplet.data["status"] = "off"  # powered off droplets are billed all the same
        cluster = s.Cluster(name)
        with s.count_requests() as c:
            cost = cluster.running_cost(until=at(2024, 3, 2))
        big = Decimal(repr(round(24.0 / 672, 5)))  # the fake's price_hourly of s-2vcpu-4gb, as DigitalOcean's
        # the first: January half an hour (1 h), February capped, March 1 (24 h); the second: March 1 (24 h)
        assert cost == HOURLY + MONTHLY + 24 * HOURLY + 24 * big
        assert c["GET /v2/droplets"] == 1 and c["GET /v2/sizes"] == 1
        assert cluster.nodes[1].running_cost(until=at(2024, 3, 1, 0, 1)) == big
        assert cluster.nodes[1].running_cost(until=at(2023, 1, 1)) == Decimal(0)  # before it was made: nothing
        assert isinstance(cluster.running_cost(), Decimal)  # now
    finally:
        s.compute.delete_cluster_nodes(name)


def test_a_size_without_a_price_is_reported(fake: FakeDigitalOcean) -> None:
    s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)
    name = f"cost-{uuid.uuid4().hex[:6]}"
    spec = {"image": "ubuntu-24-04-x64", "region": "nyc3", "key_id": None, "user_data": None, "size": "c-2"}
    s.compute.create_nodes(name, [f"{name}-1"], spec)
    sizes = fake.sizes
    try:
        fake.sizes = [z for z in sizes if z["slug"] != "c-2"]  # (withdrawn from sale since)
        with pytest.raises(ce.InvalidInput, match="no price for size 'c-2'") as err:
            s.Cluster(name).running_cost()
        assert err.value.field == "prices"
        assert s.Cluster(name).running_cost(until=datetime.now(UTC), prices={"c-2": 1}) == Decimal(1)
    finally:
        fake.sizes = sizes
        s.compute.delete_cluster_nodes(name)


# ------------------------------------------------------------------------------------------------------ EC2


@pytest.fixture
def instances(moto_url: str) -> Iterator[tuple[cloudorm.Session, str]]:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    name = f"cost-{uuid.uuid4().hex[:6]}"
    key = s.compute.import_key(f"cloudorm-{name}", KeyPair.generate().public_key)
    s.compute.create_nodes(name, [f"{name}-1", f"{name}-2"],
                           {"size": "t3.micro", "image": "ami-785db401", "key_id": key["id"]})
    yield s, name
    s.compute.delete_cluster_nodes(name)
    s.compute.delete_key(key["id"])


def test_ec2_has_no_prices_so_they_are_given(instances: tuple[cloudorm.Session, str]) -> None:
    s, name = instances
    cluster = s.Cluster(name)
    with pytest.raises(ce.Unsupported, match="prices"):
        cluster.running_cost()
    launched = max(n.created for n in cluster.nodes)  # type: ignore[type-var]
    hour = launched + timedelta(hours=1)  # type: ignore[operator]
    assert cluster.running_cost(until=hour, prices={"t3.micro": "0.0104"}) == Decimal("0.0208")
    # price_per_node (USD a month) spread over AWS's 730-hour month
    monthly = s.Cluster(name, price_per_node=7.3)
    assert monthly.running_cost(until=hour) == Decimal("0.02")
    # a stopped instance costs nothing (EC2's LaunchTime is its last start)
    monthly.nodes[1].power_off()
    assert monthly.running_cost(until=hour) == Decimal("0.01")
    with pytest.raises(ce.Unsupported, match="prices"):
        cluster.running_cost(prices={"t3.small": 1})  # the size the nodes have is not priced: no guess
