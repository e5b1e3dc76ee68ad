"""The entity core on a toy kind over an in-memory service: the lifecycle rules every entity inherits."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from cloudorm import errors as ce
from cloudorm.core import Found, Plan, Record, Resource, call, changes, field, pause, resource, run, state, stored


class Shelf:
    """An in-memory service holding records by name, counting the calls that change something."""

    def __init__(self) -> None:
        self.held: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []
        self.reads = 0

    def get(self, name: str) -> dict[str, Any]:
        self.reads += 1
        if name not in self.held:
            raise ce.NotFound(f"no {name}")
        return dict(self.held[name])

    def create(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        if name in self.held:
            raise ce.AlreadyExists(f"{name} exists")
        self.writes.append(f"create {name}")
        self.held[name] = {"name": name, **spec, "serial": len(self.writes)}
        return dict(self.held[name])

    def update(self, name: str, changed: dict[str, Any]) -> None:
        self.writes.append(f"update {name} {sorted(changed)}")
        record = self.held.pop(name)
        record.update(changed)
        self.held[record["name"]] = record

    def delete(self, name: str) -> None:
        if name not in self.held:
            raise ce.NotFound(f"no {name}")
        self.writes.append(f"delete {name}")
        del self.held[name]


class ToySession:
    provider, endpoint_url = "toy", None

    region = "here"

    def __init__(self, scope: str = "one") -> None:
        self.shelf = Shelf()
        self.scope = ("toy", scope)


def _tags(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ce.InvalidInput("tags", "must be a dict")
    return dict(value)


@resource
class Box(Resource):
    kind = "box"
    name: str = field(str)
    colour: str = field(str, default="grey")
    tags: dict[str, str] = field(_tags, factory=dict)
    size: int = field(int, default=1, fixed=True)
    serial: int | None = stored()

    def _co_fetch(self) -> Plan[Record]:
        return (yield from call("shelf", "get", self._co_ref()[0]))  # type: ignore[no-any-return]

    def _co_create(self) -> Plan[Record]:
        spec = self._co_spec_values()
        spec.pop("name")
        return (yield from call("shelf", "create", self.name, spec))  # type: ignore[no-any-return]

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        yield from call("shelf", "update", self._co_ref()[0], {f: getattr(self, f) for f in changed})
        return None

    def _co_remove(self, **options: Any) -> Plan[None]:
        yield from call("shelf", "delete", self._co_ref()[0])


@pytest.fixture
def s() -> ToySession:
    return ToySession()


def test_new_saved_changed_deleted(s: ToySession) -> None:
    box = Box(s, "a", colour="red")
    assert state(box) == "new" and changes(box) == {"name", "colour"}
    assert box.save() is box and state(box) == "saved" and box.serial == 1
    assert s.shelf.held["a"] == {"name": "a", "colour": "red", "tags": {}, "size": 1, "serial": 1}
    box.save()
    assert s.shelf.writes == ["create a"]  # unchanged: nothing sent
    box.tags["k"] = "v"
    assert state(box) == "changed" and changes(box) == {"tags"}
    box.save()
    assert s.shelf.writes[-1] == "update a ['tags']" and state(box) == "saved"
    box.delete()
    assert state(box) == "deleted" and not box.exists()
    with pytest.raises(ce.NotFound):
        box.delete()
    box.delete(missing_ok=True)
    box.save()  # the same object recreates the resource, with every value it had
    assert s.shelf.held["a"]["tags"] == {"k": "v"} and s.shelf.held["a"]["colour"] == "red"


def test_existing_is_adopted_and_reconciled(s: ToySession) -> None:
    Box(s, "a", colour="red", tags={"keep": "me"}).save()
    again = Box(s, "a", colour="blue")
    assert again.tags == {}  # read while new: the default, not a change
    with pytest.raises(ce.AlreadyExists):
        Box(s, "a").save(exists_ok=False)
    again.save()
    assert s.shelf.writes[-1] == "update a ['colour']"  # only what was given and differs
    assert s.shelf.held["a"]["tags"] == {"keep": "me"} and again.tags == {"keep": "me"}


def test_lifecycle_flags_are_checked_before_any_request(s: ToySession) -> None:
    with pytest.raises(ce.InvalidInput, match="exists_ok"):
        Box(s, "a").save(exists_ok="no")  # type: ignore[arg-type]  # (not taken for True)
    with pytest.raises(ce.InvalidInput, match="missing_ok"):
        Box(s, "a").delete(missing_ok="yes")  # type: ignore[arg-type]
    assert s.shelf.writes == [] and s.shelf.reads == 0


def test_fixed_field_and_refresh(s: ToySession) -> None:
    box = Box(s, "a").save()
    box.size = 3
    with pytest.raises(ce.InvalidInput, match="size"):
        box.save()
    assert box.refresh() is box and box.size == 1 and state(box) == "saved"
    s.shelf.held["a"]["colour"] = "green"
    assert box.refresh().colour == "green"
    with pytest.raises(ce.InvalidInput, match="tags"):
        box.tags = "x"  # type: ignore[assignment]
    del s.shelf.held["a"]["tags"]  # a field the fetch does not say (a bucket's tags are read apart)
    box.tags["local"] = "change"
    assert box.refresh().tags == {}  # refresh() drops the local change of it too


def test_partial_record_is_completed_once(s: ToySession) -> None:
    Box(s, "a", colour="red").save()
    listed = Box._co_from_record(s, {"name": "a"}, partial=True)
    assert state(listed) == "saved" and listed.colour == "red" and listed.serial == 1
    assert s.shelf.reads == 1
    other = Box._co_from_record(s, {"name": "a", "colour": "red"}, partial=True)
    other.colour = "blue"
    other.save()  # the old value is in the listing's record: sent without a fetch
    assert s.shelf.reads == 1 and s.shelf.writes[-1] == "update a ['colour']"
    assert other.serial == 1 and s.shelf.reads == 2  # what the listing left out still loads on first read
    Box._co_from_record(s, {"name": "a"}, partial=True).delete()
    assert s.shelf.reads == 2  # nothing fetched just to delete


def test_identity_equality(s: ToySession) -> None:
    assert Box(s, "a") == Box(s, "a", colour="red") and len({Box(s, "a"), Box(s, "a")}) == 1
    assert Box(s, "a") != Box(s, "b") and Box(s, "a") != Box(ToySession("two"), "a")
    there = ToySession()
    there.region = "there"
    assert Box(s, "a") != Box(there, "a")
    Box.regional = False
    try:
        assert Box(s, "a") == Box(there, "a")
    finally:
        Box.regional = True


@resource
class LookingBox(Box):
    """A box whose create looks first (as a Function's does, to spare bundling and uploading its code)."""

    def _co_create(self) -> Plan[Record]:
        try:
            found = yield from self._co_fetch()
        except ce.NotFound:
            return (yield from super()._co_create())
        raise Found(f"{self.name} exists", found)


def test_a_create_that_looked_first_hands_over_what_it_found(s: ToySession) -> None:
    Box(s, "a", colour="red").save()
    reads: list[str] = []
    get = s.shelf.get
    s.shelf.get = lambda name: reads.append(name) or get(name)  # type: ignore[method-assign]
    with pytest.raises(ce.AlreadyExists):
        LookingBox(s, "a").save(exists_ok=False)
    LookingBox(s, "a", colour="blue").save()
    assert reads == ["a", "a"] and s.shelf.writes[-1] == "update a ['colour']"  # one read per save


def test_a_plan_pauses_between_calls_without_a_request(s: ToySession) -> None:
    Box(s, "a").save()

    def polled() -> Plan[Any]:
        first = yield from call("shelf", "get", "a")
        yield from pause(0.001)  # the synchronous driver sleeps; nothing is sent
        return first["serial"], (yield from call("shelf", "get", "a"))["serial"]

    assert run(s, polled()) == (1, 1) and s.shelf.writes == ["create a"]


@resource
class Parcel(Box):
    """A kind whose ``changes()`` name something that is no field: pending contents, sent by its update."""

    kind = "parcel"
    pending: str | None = attrs.field(default=None, init=False)

    def _co_changes(self) -> set[str]:
        return super()._co_changes() | ({"contents"} if self.pending else set())

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        self.pending = None
        return (yield from super()._co_update(changed - {"contents"}))


def test_a_change_that_is_no_field(s: ToySession) -> None:
    parcel = Parcel(s, "a").save()
    parcel.pending = "socks"
    assert changes(parcel) == {"contents"} and state(parcel) == "changed"
    parcel.save()
    assert state(parcel) == "saved" and s.shelf.writes[-1] == "update a []"


def test_delete_loads_nothing_and_save_recreates_what_was_known(s: ToySession) -> None:
    Box(s, "a", colour="red").save()
    listed = Box._co_from_record(s, {"name": "a", "colour": "red"}, partial=True)
    s.shelf.get = None  # type: ignore[assignment,method-assign]  # a read now would fail
    listed.delete()
    del s.shelf.get
    assert listed.save() is listed and s.shelf.held["a"]["colour"] == "red"
