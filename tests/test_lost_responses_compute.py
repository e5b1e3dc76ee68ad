"""A DigitalOcean droplet create whose answer is lost after the API made the droplets (FaultProxy ``drop_after`` in
front of FakeDigitalOcean): it is never sent twice, and the droplets it made are its answer, not an error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudorm
from cloudorm.compute.keys import KeyPair
from cloudorm.testing import FakeDigitalOcean
from tests.conftest import FAKE_CREDS
from tests.test_lost_responses_deletes import LoseFirst

SPEC = {"size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64", "region": "nyc3", "key_id": None, "user_data": None}


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDigitalOcean]:
    with FakeDigitalOcean(root=tmp_path_factory.mktemp("do"), boot_delay=0.1, reboot_delay=0.1) as do:
        yield do


def test_a_create_whose_answer_is_lost_returns_the_droplets_it_made(fake: FakeDigitalOcean, tmp_path: Path) -> None:
    direct = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)
    cluster = f"c{uuid.uuid4().hex[:10]}"
    names = [f"{cluster}-{n}" for n in range(1, 4)]
    with LoseFirst(fake.url) as proxy:
        proxy.matches = lambda method, path, target, body: method == "POST" and path.startswith("/v2/droplets")
        s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=proxy.url)
        try:
            records = s.compute.create_nodes(cluster, names, SPEC)  # was CloudError "could not reach DigitalOcean"
            assert proxy.lost == 1
            assert [r["name"] for r in records] == names
            assert {r["cluster"] for r in records} == {cluster}
            assert sorted(n["name"] for n in direct.compute.list_nodes(cluster)) == names  # made once
            assert sum(b["names"] == names for b in fake.create_requests) == 1  # sent once
        finally:
            direct.compute.delete_nodes([n["id"] for n in direct.compute.list_nodes(cluster)])


@pytest.mark.parametrize("action", [b"Action=CreateSecurityGroup", b"Action=AuthorizeSecurityGroupIngress"])
def test_an_ec2_firewall_whose_answer_is_lost_is_made_once(moto_url: str, action: bytes) -> None:
    """botocore re-sends CreateSecurityGroup / AuthorizeSecurityGroupIngress after a lost answer; EC2's
    ``InvalidGroup.Duplicate`` / ``InvalidPermission.Duplicate`` for what the first send did is not an error."""
    direct = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    cluster = f"c{uuid.uuid4().hex[:10]}"
    with LoseFirst(moto_url) as proxy:
        proxy.matches = lambda method, path, target, body: action in body
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=5)
        group_id = s.compute.create_firewall(cluster, ["192.0.2.0/24"])  # was AlreadyExists
        assert proxy.lost == 1
    assert direct.compute.find_firewall(cluster) == group_id  # type: ignore[attr-defined]
    assert direct.compute._ssh_ranges(group_id) == {"192.0.2.0/24"}  # type: ignore[attr-defined]
    direct.compute.delete_firewall(group_id)


def test_an_ec2_firewall_delete_whose_answer_is_lost_succeeds(moto_url: str) -> None:
    """DeleteSecurityGroup is not re-sent after a lost answer (the re-send was ``InvalidGroup.NotFound``, a false
    NotFound): DescribeSecurityGroups finds the group gone, so the delete is done."""
    direct = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    cluster = f"c{uuid.uuid4().hex[:10]}"
    group_id = direct.compute.create_firewall(cluster, ["192.0.2.0/24"])  # type: ignore[attr-defined]
    with LoseFirst(moto_url) as proxy:
        proxy.matches = lambda method, path, target, body: b"Action=DeleteSecurityGroup" in body
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=5)
        s.compute.delete_firewall(group_id)  # was NotFound
        assert proxy.lost == 1
    assert direct.compute.find_firewall(cluster) is None  # type: ignore[attr-defined]
    with pytest.raises(cloudorm.errors.NotFound):  # a group that is not there is still NotFound
        direct.compute.delete_firewall(group_id)


def test_an_ec2_key_imported_by_a_call_whose_answer_is_lost_counts_as_created_by_it(moto_url: str) -> None:
    """ImportKeyPair is not re-sent after a lost answer; the key found carries this call's token, so it is
    ``created`` (a failed save's cleanup deletes it) — a key that was there before is still not."""
    direct = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    name = f"cloudorm-c{uuid.uuid4().hex[:10]}"
    public_key = KeyPair.generate("tester").public_key
    with LoseFirst(moto_url) as proxy:
        proxy.matches = lambda method, path, target, body: b"Action=ImportKeyPair" in body
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=5)
        key = s.compute.import_key(name, public_key)
        assert proxy.lost == 1
        assert key["created"] is True  # was False: the cleanup of a failed save left the key behind
        assert key["name"] == name and key["fingerprint"]
        again = s.compute.import_key(name, public_key)  # (answered: the key another call imported)
    assert again["id"] == key["id"] and again["created"] is False
    assert direct.compute.find_key(name)["id"] == key["id"]  # type: ignore[index]
    direct.compute.delete_key(key["id"])
