"""The lifecycle rules of docs/entities.md, tested once for every entity kind on the local cloud.

Kinds are described in ``tests/lifecycle_kinds/<area>.py``; every rule below runs on each of them."""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import cloudorm
from cloudorm import errors as ce
from tests import lifecycle_kinds
from tests.lifecycle_kinds import Kind

READS = ("Get", "List", "Describe", "Head")


def _kinds() -> list[Kind]:
    found: list[Kind] = []
    for module in pkgutil.iter_modules(lifecycle_kinds.__path__):
        found += importlib.import_module(f"tests.lifecycle_kinds.{module.name}").KINDS
    return found


KINDS = _kinds()


@pytest.fixture(scope="module")
def s() -> Iterator[cloudorm.Session]:
    session = cloudorm.Session()
    yield session
    session.close()


@pytest.fixture(params=KINDS, ids=[k.name for k in KINDS])
def kind(request: pytest.FixtureRequest, s: cloudorm.Session) -> Iterator[Kind]:
    uid = uuid.uuid4().hex[:8]
    request.node.uid = uid
    yield request.param
    request.param.cleanup(s, uid)


@pytest.fixture
def uid(request: pytest.FixtureRequest, kind: Kind) -> str:
    return str(request.node.uid)


def _writes(counter: Any) -> dict[str, int]:
    return {op: n for op, n in counter.by_operation.items() if not op.split(".")[-1].startswith(READS)}


def test_save_returns_the_entity_and_an_unchanged_save_writes_nothing(s: cloudorm.Session, kind: Kind,
                                                                       uid: str) -> None:
    entity = kind.make(s, uid)
    assert cloudorm.state(entity) == "new"
    assert entity.save() is entity
    assert cloudorm.state(entity) == "saved" and cloudorm.changes(entity) == set()
    with s.count_requests() as c:
        assert entity.save() is entity
    assert _writes(c) == {}
    entity.delete()


def test_a_change_is_tracked_and_saved(s: cloudorm.Session, kind: Kind, uid: str) -> None:
    entity = kind.make(s, uid).save()
    kind.change(entity)
    assert cloudorm.state(entity) == "changed" and cloudorm.changes(entity)
    entity.save()
    assert cloudorm.state(entity) == "saved"
    assert cloudorm.changes(kind.twin(entity).refresh()) == set()
    entity.delete()


def test_refresh_exists_delete_and_save_again(s: cloudorm.Session, kind: Kind, uid: str) -> None:
    entity = kind.make(s, uid)
    assert entity.exists() is False
    with pytest.raises(ce.NotFound):
        entity.refresh()
    entity.save()
    assert entity.exists() is True and entity.refresh() is entity
    entity.delete()
    assert cloudorm.state(entity) == "deleted" and entity.exists() is False
    with pytest.raises(ce.NotFound):
        entity.refresh()
    with pytest.raises(ce.NotFound):
        entity.delete()
    entity.delete(missing_ok=True)
    assert entity.save() is entity and entity.exists() is True and cloudorm.state(entity) == "saved"
    entity.delete()


def test_an_existing_resource_is_adopted_unless_exists_ok_is_false(s: cloudorm.Session, kind: Kind,
                                                                    uid: str) -> None:
    if not kind.adopts:
        pytest.skip(kind.why)
    entity = kind.make(s, uid).save()
    with pytest.raises(ce.AlreadyExists):
        kind.twin(entity).save(exists_ok=False)
    twin = kind.twin(entity)
    assert twin.save() is twin and cloudorm.state(twin) == "saved"
    entity.delete()


def test_equality_and_hash_by_identity(s: cloudorm.Session, kind: Kind, uid: str) -> None:
    entity = kind.make(s, uid)
    twin = kind.twin(entity)
    assert entity == twin and hash(entity) == hash(twin) and len({entity, twin}) == 1
    other = kind.make(s, uid + "x")
    assert entity != other
    kind.cleanup(s, uid + "x")
