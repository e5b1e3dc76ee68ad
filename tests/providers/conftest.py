"""Sessions for the provider conformance suite: every provider, each on the local server that speaks its wire format
(aws and wasabi and Spaces on moto, DigitalOcean's API on FakeDigitalOcean, memory in this process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import cloudorm
from cloudorm.testing import WasabiEmulator
from cloudorm.testing.digitalocean import FakeDigitalOcean
from tests.conftest import FAKE_CREDS

WASABI_CREDS = {"aws_access_key_id": "WASABIKEY00000000001", "aws_secret_access_key": "wasabi-secret-never-shown",
                "region": "eu-central-2"}
SPACES_CREDS = {"access_token": "dop_v1_token_never_shown", "spaces_key": "DO00SPACESKEY0001",
                "spaces_secret": "spaces-secret-never-shown", "region": "us-east-1"}  # a region moto knows

AREAS = {
    "aws": {"nosql", "iam", "storage", "serverless", "api_gateway", "compute", "billing"},
    "local": {"nosql", "iam", "storage", "serverless", "api_gateway", "compute", "billing"},
    "wasabi": {"iam", "storage"},
    "digitalocean": {"storage", "compute"},
    "memory": {"storage"},
}
"""The areas each provider has: the suite runs each area's checks on exactly these."""


def having(area: str) -> list[str]:
    """The providers that have ``area``."""
    return [p for p, areas in AREAS.items() if area in areas]


@pytest.fixture(scope="module")
def wasabi_url(moto_url: str) -> Iterator[str]:
    """A Wasabi emulator in front of the moto server, for the module."""
    with WasabiEmulator(moto_url, WASABI_CREDS["aws_access_key_id"], WASABI_CREDS["aws_secret_access_key"]) as w:
        yield w.url


@pytest.fixture(scope="module")
def fake_do(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDigitalOcean]:
    """DigitalOcean's API for the module."""
    with FakeDigitalOcean(root=Path(tmp_path_factory.mktemp("do")), boot_delay=0.1, reboot_delay=0.1) as do:
        yield do


@pytest.fixture(scope="module")
def connect(request: pytest.FixtureRequest) -> Callable[[str], cloudorm.Session]:
    """A session of a provider by name, on its local stand-in; one per provider and module (its clients are made
    once), and the stand-ins are started only when asked for."""
    made: dict[str, cloudorm.Session] = {}

    def connect(provider: str) -> cloudorm.Session:
        if provider not in made:
            made[provider] = make(provider)
        return made[provider]

    def make(provider: str) -> cloudorm.Session:
        if provider == "local":
            return cloudorm.Session()
        if provider == "memory":
            return cloudorm.Session("memory")
        moto = request.getfixturevalue("moto_url")
        if provider == "aws":
            return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto)
        if provider == "wasabi":
            return cloudorm.Session("wasabi", creds=WASABI_CREDS, endpoint_url={
                "s3": request.getfixturevalue("wasabi_url"), "iam": moto, "sts": moto})
        assert provider == "digitalocean"
        do: FakeDigitalOcean = request.getfixturevalue("fake_do")
        return cloudorm.Session("digitalocean", creds={**SPACES_CREDS, "access_token": do.token},
                                endpoint_url={"api": do.url, "spaces": moto})
    return connect


@pytest.fixture(scope="module", params=having("storage"))
def storage(request: pytest.FixtureRequest, connect: Callable[[str], cloudorm.Session]) -> cloudorm.Session:
    """A session of every provider with object storage."""
    return connect(request.param)


@pytest.fixture(scope="module", params=having("iam"))
def iam(request: pytest.FixtureRequest, connect: Callable[[str], cloudorm.Session]) -> cloudorm.Session:
    """A session of every provider with IAM."""
    return connect(request.param)
