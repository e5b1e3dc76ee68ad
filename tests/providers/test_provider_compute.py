"""The compute conformance suite, run by every provider with compute: aws (EC2 on moto), local (working
directories) and digitalocean (FakeDigitalOcean). It speaks the ``ComputeService`` contract's keys and firewalls."""

from __future__ import annotations

import uuid

import pytest

import cloudorm
from cloudorm.compute.keys import KeyPair
from cloudorm.errors import NotFound
from tests.providers.conftest import having


@pytest.fixture(scope="module", params=having("compute"))
def compute(request: pytest.FixtureRequest) -> cloudorm.Session:
    """A session of every provider with compute."""
    connect = request.getfixturevalue("connect")
    return connect(request.param)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def key() -> KeyPair:
    """A user key."""
    return KeyPair.generate("conformance")


def test_a_key_is_imported_once_found_and_deleted(compute: cloudorm.Session, key: KeyPair) -> None:
    svc, name = compute.compute, f"cloudorm-c{uuid.uuid4().hex[:10]}"
    first = svc.import_key(name, key.public_key)
    assert first["created"] is True and first["name"] == name and first["id"]
    again = svc.import_key(name, key.public_key)
    assert again["created"] is False and again["id"] == first["id"]
    found = svc.find_key(name)
    assert found is not None and found["id"] == first["id"] and found["created"] is False
    svc.delete_key(first["id"])
    assert svc.find_key(name) is None
    with pytest.raises(NotFound):
        svc.delete_key(first["id"])


def test_a_firewall_is_made_found_listed_and_deleted(compute: cloudorm.Session) -> None:
    svc, cluster = compute.compute, f"c{uuid.uuid4().hex[:10]}"
    assert svc.find_firewall(cluster) is None
    firewall_id = svc.create_firewall(cluster, ["203.0.113.0/24"])
    assert svc.find_firewall(cluster) == firewall_id
    assert cluster in svc.list_clusters()  # a cluster with a firewall and no nodes yet
    svc.delete_firewall(firewall_id)
    assert svc.find_firewall(cluster) is None and cluster not in svc.list_clusters()
    with pytest.raises(NotFound):
        svc.delete_firewall(firewall_id)


def test_open_port_makes_or_opens_the_firewall_and_allow_peers_finds_it(compute: cloudorm.Session) -> None:
    svc, cluster = compute.compute, f"c{uuid.uuid4().hex[:10]}"
    assert svc.allow_peers(cluster) is None  # no firewall: nothing between the nodes is filtered, none is made
    assert svc.find_firewall(cluster) is None
    firewall_id = svc.open_port(cluster, 8786, ["203.0.113.0/24"])  # made, SSH kept open, the peer rule in it
    assert svc.find_firewall(cluster) == firewall_id
    assert svc.allow_peers(cluster) == firewall_id
    assert svc.open_port(cluster, 8786, ["203.0.113.0/24", "2001:db8::/32"]) == firewall_id
    svc.delete_firewall(firewall_id)
