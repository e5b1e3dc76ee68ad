"""The provider contract itself: Unsupported for every operation a provider lacks, each provider's core, capability
flags, ``register_provider``, the constructor contract and sessions' scopes. No request is sent."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import cloudorm
from cloudorm.errors import InvalidInput, Unsupported
from cloudorm.providers import names, provider_class
from cloudorm.providers.contract import CONTRACTS, Provider, Service, StorageCapabilities
from cloudorm.providers.memory import MemoryProvider, MemoryStorageService, MemoryStore
from tests.conftest import FAKE_CREDS
from tests.providers.conftest import AREAS


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.area)
def test_every_operation_of_a_contract_is_unsupported_naming_provider_and_operation(contract: type[Service]) -> None:
    toy = type("Toy", (contract,), {"provider_name": "toy"})()
    assert contract.core <= set(contract.operations()) and len(contract.operations()) >= len(contract.core) >= 1
    for operation in contract.operations():
        method = getattr(toy, operation)
        args = [None for p in inspect.signature(method).parameters.values() if p.default is p.empty]
        with pytest.raises(Unsupported) as e:
            method(*args)
        assert e.value.provider == "toy" and e.value.operation == operation
        assert f"'toy' does not support {contract.area}.{operation}" in str(e.value)
        assert not toy.implements(operation)


@pytest.mark.parametrize(("provider", "area"), [(p, a) for p, areas in AREAS.items() for a in sorted(areas)])
def test_each_provider_implements_the_core_of_its_areas(provider: str, area: str,
                                                         connect: Callable[[str], cloudorm.Session]) -> None:
    s = connect(provider)
    assert provider_class(provider).areas == AREAS[provider]
    with s.count_requests() as c:
        svc: Service = getattr(s, area)
    assert c.total == 0 and isinstance(svc, Service) and svc.area == area and svc.provider_name == provider
    assert [op for op in sorted(svc.core) if not svc.implements(op)] == []
    assert isinstance(svc.capabilities, type(svc._contract().capabilities))


@pytest.mark.parametrize("provider", sorted(AREAS))
def test_areas_a_provider_lacks_are_unsupported_before_any_request(provider: str,
                                                                   connect: Callable[[str], cloudorm.Session]) -> None:
    s = connect(provider)
    with s.count_requests() as c:
        for contract in CONTRACTS:
            if contract.area not in AREAS[provider]:
                with pytest.raises(Unsupported) as e:
                    getattr(s, contract.area)
                assert e.value.provider == provider and e.value.area == contract.area
    assert c.total == 0


def test_capabilities_are_declared_not_inferred_from_names(connect: Callable[[str], cloudorm.Session]) -> None:
    flags = {p: connect(p).storage.capabilities for p in ("aws", "local", "wasabi", "memory")}
    assert flags["aws"] == flags["local"] and flags["aws"].conditional_deletes and not flags["aws"].native_rename
    assert flags["wasabi"] == StorageCapabilities(native_rename=True) and flags["memory"].native_rename
    assert connect("wasabi").iam.capabilities.tags is False and connect("aws").iam.capabilities.tags is True


class Shared(MemoryProvider):
    """A provider of a user's own: memory storage all of whose sessions share one store."""

    name = "shared-memory"
    store_of_all = MemoryStore()

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings, store=self.store_of_all)


def test_register_provider_makes_a_name_a_session_accepts() -> None:
    cloudorm.register_provider("shared-memory", Shared)
    assert "shared-memory" in names() and cloudorm.Session("shared-memory").provider == "shared-memory"
    a, b = cloudorm.Session("shared-memory"), cloudorm.Session("shared-memory", region="eu-west-1")
    a.Bucket("one").save().blob("k").upload(b"v")
    assert cloudorm.Session("shared-memory").Bucket("one").blob("k").download() == b"v"
    assert a.scope == b.scope  # one store (the region joins only regional kinds' identities)
    assert cloudorm.Session("memory").scope != cloudorm.Session("memory").scope  # a store each


@pytest.mark.parametrize(("name", "cls", "field"), [
    ("Bad Name", Shared, "name"), ("", Shared, "name"), (3, Shared, "name"), ("aws", Shared, "name"),
    ("other", Shared, "cls"), ("shared-memory", MemoryStorageService, "cls"), ("shared-memory", "Shared", "cls")])
def test_register_provider_refuses_bad_names_and_classes(name: Any, cls: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        cloudorm.register_provider(name, cls)
    assert e.value.field == field


def test_a_provider_instance_is_a_session() -> None:
    store = MemoryStore()
    s = cloudorm.Session(MemoryProvider(store=store, region="r1"))
    assert (s.provider, s.region) == ("memory", "r1")
    s.Bucket("box").save()
    assert "box" in store.buckets and cloudorm.Session(MemoryProvider(store=store)).Bucket("box").exists()
    with pytest.raises(InvalidInput) as e:
        cloudorm.Session(MemoryProvider(), region="r2")
    assert e.value.field == "provider"
    with pytest.raises(InvalidInput) as e:
        MemoryProvider(creds={"key": "x"})
    assert e.value.field == "creds"


def test_the_constructor_contract_is_keywords_with_defaults() -> None:
    for name in ("aws", "wasabi", "digitalocean", "memory"):
        params = inspect.signature(provider_class(name).__init__).parameters
        assert {"creds", "region", "endpoint_url", "options"} <= set(params)
        assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in ("creds", "region", "endpoint_url",
                                                                            "options"))
    assert isinstance(MemoryProvider(), Provider)


def test_scope_tells_accounts_apart_and_shows_no_key(moto_url: str) -> None:
    other = {**FAKE_CREDS, "aws_access_key_id": "AKIAOTHERKEYID000001"}
    one, same, two = (cloudorm.Session("aws", creds=c, endpoint_url=moto_url) for c in (FAKE_CREDS, FAKE_CREDS, other))
    assert one.scope == same.scope != two.scope  # resources' identities carry the scope
    text = repr(one.scope) + repr(two.scope)
    for value in (*FAKE_CREDS.values(), *other.values()):
        if value != "us-east-1":
            assert value not in text and value[-4:] not in text
