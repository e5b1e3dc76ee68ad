"""What a compute account offers and holds: ``s.account()``, ``s.regions()``, ``s.sizes()``, ``s.images()``,
``s.ssh_keys()`` with the ``SshKey`` entity, ``s.servers()`` and ``s.server_exists()``, on the local cloud,
DigitalOcean (real pydo against FakeDigitalOcean, in DigitalOcean's JSON) and EC2 (the moto server)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import cloudorm
from cloudorm import errors as ce
from cloudorm.compute.catalog import Account, Image, Server, Size
from cloudorm.compute.keys import KeyPair
from cloudorm.providers.local.nodes_api import PREFIX
from cloudorm.testing import FakeDigitalOcean
from cloudorm.testing.digitalocean import DEFAULT_SIZES
from tests.conftest import FAKE_CREDS
from tests.test_local_clusters import unique
from tests.test_lost_responses_deletes import LoseFirst

pytestmark = pytest.mark.usefixtures("state")  # cluster state in the test's directory (conftest)


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDigitalOcean]:
    with FakeDigitalOcean(root=tmp_path_factory.mktemp("do"), boot_delay=0.1) as do:
        yield do


@pytest.fixture
def do(fake: FakeDigitalOcean) -> cloudorm.Session:
    fake.reset_requests()
    return cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)


@pytest.fixture
def ec2(moto_url: str) -> cloudorm.Session:
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)


def queries(fake: FakeDigitalOcean, path: str) -> list[dict[str, str]]:
    return [q for m, p, q in fake.requests if m == "GET" and p == path]


# ------------------------------------------------------------------------------------------------- the SshKey entity


@pytest.mark.parametrize("kind", ["local", "digitalocean", "aws"])
def test_ssh_key_lifecycle(kind: str, request: pytest.FixtureRequest) -> None:
    s = {"local": lambda: cloudorm.Session(), "digitalocean": lambda: request.getfixturevalue("do"),
         "aws": lambda: request.getfixturevalue("ec2")}[kind]()
    name, pair = unique("key"), KeyPair.generate("laptop")
    key = s.SshKey(name, public_key=pair)
    assert cloudorm.state(key) == "new" and not key.exists()
    with s.count_requests() as c:
        assert key.save() is key
    assert cloudorm.state(key) == "saved" and key.id and key.fingerprint and key.public_key == pair.public_key
    assert c.total <= 3
    with s.count_requests() as c:
        key.save()  # unchanged: nothing sent
    assert c.total == 0
    listed = [k for k in s.ssh_keys() if k.name == name]
    assert listed == [key] and listed[0].public_key and listed[0].public_key.split()[:2] == pair.public_key.split()[:2]
    assert s.SshKey(name).refresh().id == key.id  # by name alone
    adopted = s.SshKey(name, public_key=pair.public_key.rsplit(" ", 1)[0] + " another-comment").save()
    assert adopted == key and adopted.id == key.id  # the same key: adopted (comments aside)
    with pytest.raises(ce.AlreadyExists):
        s.SshKey(name, public_key=pair).save(exists_ok=False)
    with pytest.raises(ce.InvalidInput) as err:
        s.SshKey(name, public_key=KeyPair.generate()).save()  # a saved key cannot become another
    assert err.value.field == "public_key"
    if kind != "aws":  # (EC2 lets one key be imported under many names)
        with pytest.raises(ce.ConflictError, match=name):
            s.SshKey(unique("key"), public_key=pair).save()
    key.delete()
    assert cloudorm.state(key) == "deleted" and not key.exists()
    with pytest.raises(ce.NotFound):
        key.delete()
    key.delete(missing_ok=True)
    key.save()  # made again from what it held
    assert key.exists() and s.SshKey(name).refresh().fingerprint == key.fingerprint
    s.SshKey(name).delete()


def test_bad_ssh_keys_are_refused_before_any_request() -> None:
    s = cloudorm.Session()
    with s.count_requests() as c:
        for make, field in [(lambda: s.SshKey(""), "name"), (lambda: s.SshKey("a\nb"), "name"),
                            (lambda: s.SshKey("k", public_key="not a key"), "public_key"),
                            (lambda: s.SshKey("k", public_key="ssh-ed25519 AAAA\nssh-rsa AAAA"), "public_key"),
                            (lambda: s.SshKey("k", public_key=42), "public_key"),
                            (lambda: s.SshKey("k").save(), "public_key"),
                            (lambda: s.servers(name=""), "name"),
                            (lambda: s.server_exists(None), "name")]:  # type: ignore[arg-type]
            with pytest.raises(ce.InvalidInput) as err:
                make()
            assert err.value.field == field
    assert c.total == 0


def test_a_key_registered_by_a_call_whose_answer_is_lost_is_its_answer(fake: FakeDigitalOcean) -> None:
    name, pair = unique("key"), KeyPair.generate()
    fake.reset_requests()
    with LoseFirst(fake.url) as proxy:
        proxy.matches = lambda method, path, target, body: method == "POST" and path == "/v2/account/keys"
        s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=proxy.url)
        key = s.SshKey(name, public_key=pair).save()  # was CloudError, then a re-send refused "already in use"
        assert proxy.lost == 1
    assert [k["name"] for k in fake.keys.values() if k["fingerprint"] == pair.md5_fingerprint] == [name]
    assert key.fingerprint == pair.md5_fingerprint
    assert sum(1 for m, p, _ in fake.requests if m == "POST" and p == "/v2/account/keys") == 1
    cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url).SshKey(name).delete()


def test_a_key_delete_whose_answer_is_lost_is_done(fake: FakeDigitalOcean) -> None:
    """The SDK sends the DELETE again; the key it finds gone after it was seen is deleted (no false NotFound)."""
    name = unique("key")
    cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url).SshKey(
        name, public_key=KeyPair.generate()).save()
    with LoseFirst(fake.url) as proxy:
        proxy.matches = lambda method, path, target, body: method == "DELETE" and "/v2/account/keys/" in path
        s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=proxy.url)
        key = s.SshKey(name)
        key.delete()
        assert proxy.lost == 1 and cloudorm.state(key) == "deleted" and not key.exists()


# ------------------------------------------------------------------------------------------------------ local


def test_a_local_key_whose_answer_is_lost_is_registered_once() -> None:
    direct = cloudorm.Session()
    name, pair = unique("key"), KeyPair.generate()
    with LoseFirst(str(direct.endpoint_url)) as proxy:
        proxy.matches = lambda method, path, target, body: path == PREFIX + "CreateSshKey"
        s = cloudorm.Session("local", endpoint_url=proxy.url)
        with s.count_requests() as c:
            key = s.SshKey(name, public_key=pair).save()  # the re-send (same token) gets the first answer
        assert proxy.lost == 1 and c["compute.CreateSshKey"] == 2
    assert [k.id for k in direct.ssh_keys() if k.name == name] == [key.id]
    direct.SshKey(name).delete()  # (the key object's session went with the proxy)


def test_local_listings() -> None:
    s = cloudorm.Session()
    account = s.account()
    assert account == Account("local", "local", None, "active", 1000, account.details)
    assert account.details["nodes"] >= 0
    [region] = list(s.regions())
    assert (region.slug, region.available, region.sizes[1]) == (s.region, True, "s-1vcpu-1gb")
    sizes = list(s.sizes())
    assert sizes[1] == Size("s-1vcpu-1gb", 1, 1024, 25, Decimal("6.0"), True, ())
    [image] = list(s.images())
    assert image.name_for_cluster == "local" == s.compute.default_image
    cluster = s.Cluster(unique("ls"), size=2, runtime=None, progress=False).save()
    try:
        names = [x.name for x in s.servers()]
        assert {n.name for n in cluster.nodes} <= set(names)
        [one] = list(s.servers(name=cluster.nodes[1].name))
        assert isinstance(one, Server) and one.cluster == cluster.name and one.id == cluster.nodes[1].id
        assert s.server_exists(cluster.nodes[0].name) and not s.server_exists(unique("nothing"))
    finally:
        cluster.delete()
    assert not s.server_exists(cluster.name + "-1")


# ------------------------------------------------------------------------------------------------ DigitalOcean


def test_digitalocean_account_regions_sizes_images(do: cloudorm.Session, fake: FakeDigitalOcean) -> None:
    account = do.account()
    assert (account.provider, account.email, account.status, account.node_limit) == (
        "digitalocean", "fake@example.com", "active", fake.droplet_limit)
    assert account.id and account.details["email_verified"] is True and "droplet_limit" not in account.details
    fake.max_per_page = 3
    try:
        with do.count_requests() as c:
            regions = list(do.regions())
        assert c["GET /v2/regions"] == 4 and [q["page"] for q in queries(fake, "/v2/regions")] == ["1", "2", "3", "4"]
        assert len(regions) == 10 and regions[1].slug == "nyc3" and regions[1].name == "New York 3"
        assert "s-1vcpu-1gb" in regions[1].sizes and regions[1].available
        assert [r.slug for r in do.regions().limit(2)] == ["nyc1", "nyc3"]
        sizes = list(do.sizes())
        assert [z.slug for z in sizes] == [z["slug"] for z in DEFAULT_SIZES]
        assert sizes[1].price_monthly == Decimal("6.0") and "nyc3" in sizes[1].regions
        images = list(do.images())
    finally:
        fake.max_per_page = 200
    assert {q["type"] for q in queries(fake, "/v2/images")} == {"distribution"}
    assert [i.name_for_cluster for i in images] == ["ubuntu-24-04-x64", "ubuntu-22-04-x64", "debian-12-x64"]
    assert isinstance(images[0], Image) and images[0].distribution == "Ubuntu" and images[0].created


def test_digitalocean_servers_by_name(do: cloudorm.Session, fake: FakeDigitalOcean) -> None:
    name = unique("ls")
    spec = {"size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64", "region": "nyc3", "key_id": None, "user_data": None}
    do.compute.create_nodes(name, [f"{name}-1", f"{name}-2"], spec)
    try:
        assert do.server_exists(f"{name}-2") and not do.server_exists(f"{name}-3")
        assert {"name": f"{name}-2", "page": "1", "per_page": "1"} in queries(fake, "/v2/droplets")
        [server] = list(do.servers(name=f"{name}-1"))
        assert server.cluster == name and server.size == "s-1vcpu-1gb" and server.region == "nyc3"
        assert {f"{name}-1", f"{name}-2"} <= {x.name for x in do.servers()}
    finally:
        do.compute.delete_cluster_nodes(name)


def test_digitalocean_ssh_keys_listed_page_by_page(do: cloudorm.Session, fake: FakeDigitalOcean) -> None:
    keys = [do.SshKey(unique("key"), public_key=KeyPair.generate()).save() for _ in range(3)]
    fake.max_per_page = 2
    try:
        listed = list(do.ssh_keys())
        assert len(queries(fake, "/v2/account/keys")) >= 2
    finally:
        fake.max_per_page = 200
        for key in keys:
            key.delete()
    assert set(keys) <= set(listed) and all(k.public_key for k in listed)


# ------------------------------------------------------------------------------------------------------ EC2


def test_ec2_account_regions_images_and_servers(ec2: cloudorm.Session) -> None:
    account = ec2.account()
    assert account.id == "123456789012" and account.node_limit and account.node_limit > 0
    assert "max-instances" in account.details["attributes"]
    regions = [r.slug for r in ec2.regions()]
    assert "us-east-1" in regions and "eu-west-1" in regions
    images = ec2.images().limit(20)[:20]
    assert images and all(i.id.startswith("ami-") and i.slug is None for i in images)
    with pytest.raises(ce.Unsupported):
        list(ec2.sizes())  # EC2 publishes no prices
    name = unique("ls")
    key = ec2.compute.import_key(f"cloudorm-{name}", KeyPair.generate().public_key)
    ec2.compute.create_nodes(name, [f"{name}-1"], {"size": "t3.micro", "image": "ami-785db401", "key_id": key["id"]})
    try:
        [server] = list(ec2.servers(name=f"{name}-1"))
        assert server.cluster == name and server.id.startswith("i-") and server.size == "t3.micro"
        assert ec2.server_exists(f"{name}-1") and not ec2.server_exists(f"{name}-2")
    finally:
        ec2.compute.delete_cluster_nodes(name)
        ec2.compute.delete_key(key["id"])
    assert not ec2.server_exists(f"{name}-1")


def test_listings_are_lazy_and_unsupported_names_the_provider(ec2: cloudorm.Session) -> None:
    with ec2.count_requests() as c:
        listing: Any = ec2.regions()
        ec2.servers(name="x")
        ec2.ssh_keys()
    assert c.total == 0 and listing is not None
    wasabi = cloudorm.Session("wasabi", creds={"aws_access_key_id": "AKIAWASABI0000000000",
                                               "aws_secret_access_key": "secret-0000"})
    with pytest.raises(ce.Unsupported, match="wasabi"):
        wasabi.account()
