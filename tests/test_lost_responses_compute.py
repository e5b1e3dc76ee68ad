"""A DigitalOcean droplet create whose answer is lost after the API made the droplets (FaultProxy ``drop_after`` in
front of FakeDigitalOcean): it is never sent twice, and the droplets it made are its answer, not an error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudorm
from cloudorm.testing import FakeDigitalOcean
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
        proxy.matches = lambda method, path, target: method == "POST" and path.startswith("/v2/droplets")
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
