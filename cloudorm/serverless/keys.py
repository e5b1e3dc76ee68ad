"""``ApiKey``: an API key in an Api's usage plan, named within it; its value is readable once, right after the key
is made (a key adopted or listed never shows it)."""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_flag
from cloudorm.core import Found, Plan, Record, Resource, call, field, resource, stored
from cloudorm.credentials import protect
from cloudorm.serverless.routes import check_text
from cloudorm.serverless.usage import KeyUsage

if TYPE_CHECKING:
    from cloudorm.serverless.api import Api


def check_name(value: Any) -> str:
    """An Api's or a key's name: one line of 1 to 1024 characters."""
    checked = check_text("name", value, 1024, required=True)
    assert checked is not None
    return checked


def _description(value: Any) -> str | None:
    return check_text("description", value)


def _enabled(value: Any) -> bool:
    return check_flag("enabled", value)


def _plain(record: Record) -> dict[str, Any]:
    """A key's record without its value (which an entity holds apart, readable once)."""
    return {k: v for k, v in record.items() if k != "value"}


@resource
class ApiKey(Resource):
    """An API key of an Api's usage plan: ``ApiKey(s, "partner", api=api).save()`` (or ``api.create_key(name)``)
    makes it, or adopts the plan's key of that name; ``key.value`` is readable once, right after it was made."""

    kind = "api key"
    identity = ("api", "name")

    name: str = attrs.field(converter=check_name)
    """The key's name: it names the key within its Api's usage plan."""
    api: Api = attrs.field(kw_only=True)
    """The Api whose usage plan the key is in."""
    description: str | None = field(_description, default=None, kw_only=True)
    """A description (None: none)."""
    enabled: bool = field(_enabled, default=True, kw_only=True)
    """Whether the key may call the API."""
    _value: str | None = attrs.field(default=None, init=False)

    id: str | None = stored(lazy=False)
    """The key's id (None until made or loaded)."""
    created: datetime | None = stored()
    """When the key was made."""

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id!r}, name={self.name!r}, api={self.api.name!r})"

    def __reduce__(self) -> Any:
        raise TypeError("an ApiKey is not picklable (it may hold a secret)")

    @property
    def value(self) -> str | None:
        """The key's value, for the ``x-api-key`` header: readable once, on the key that ``save()`` (or
        ``api.create_key()``) made (None after, and on keys adopted or listed by ``api.keys()``)."""
        value, self._value = self._value, None
        return value

    # ------------------------------------------------------------------------------------------- lifecycle

    def _plan_id(self) -> Plan[str]:
        """The id of the Api's usage plan (``ConflictError`` when the Api or its plan does not exist)."""
        try:
            api_id = yield from self.api._co_id()
        except ce.NotFound:
            raise ce.ConflictError(f"api {self.api.name!r} does not exist yet: save() it before creating keys"
                                   ) from None
        plan = yield from self.api._co_plan(api_id)
        if plan is None:
            raise ce.ConflictError(f"api {self.api.name!r} has no usage plan on stage {self.api.stage!r} to add a "
                                   "key to: save() it with key_required=True, a throttle or a quota first")
        return str(plan["id"])

    def _named(self, plan_id: str) -> Plan[Record | None]:
        """The plan's key of this name (None if there is none; ``ConflictError`` if there are several)."""
        keys = yield from call("api_gateway", "plan_keys", plan_id)
        named = [k for k in keys if k.get("name") == self.name]
        if len(named) > 1:
            ids = ", ".join(k["id"] for k in named)
            raise ce.ConflictError(f"{len(named)} keys named {self.name!r} are in the usage plan of api "
                                   f"{self.api.name!r} ({ids}): delete the extra ones")
        return named[0] if named else None

    def _key_id(self) -> Plan[str]:
        """The key's id: known, else found by name in the Api's plan (``NotFound`` if there is no such key)."""
        if self.id is not None:
            return self.id
        try:
            plan_id = yield from self._plan_id()
        except ce.ConflictError as e:
            raise ce.NotFound(e.message) from None
        found = yield from self._named(plan_id)
        if found is None:
            raise ce.NotFound(f"api {self.api.name!r} has no key named {self.name!r}")
        return str(found["id"])

    def _co_fetch(self) -> Plan[Record]:
        key_id = yield from self._key_id()
        record: Record = yield from call("api_gateway", "get_key", key_id)
        return _plain(record)

    def _co_create(self) -> Plan[Record]:
        plan_id = yield from self._plan_id()
        found = yield from self._named(plan_id)
        if found is not None:
            raise Found(f"api {self.api.name!r} has a key named {self.name!r} already",
                        _plain((yield from call("api_gateway", "get_key", found["id"]))))
        made = yield from call("api_gateway", "create_key", self.name, self.description, self.enabled)
        if made.get("value"):
            protect((made["value"],))  # redacted from every log line from now on
        try:
            yield from call("api_gateway", "add_key_to_plan", plan_id, made["id"])
        except ce.CloudError:
            with contextlib.suppress(ce.NotFound):  # no key left behind outside the plan
                yield from call("api_gateway", "delete_key", made["id"])
            raise
        self._value = made.get("value")
        return _plain(made)

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        yield from call("api_gateway", "update_key", self.id, self.description, self.enabled)
        return None

    def _co_remove(self, **options: Any) -> Plan[None]:
        self._value = None
        key_id = yield from self._key_id()
        yield from call("api_gateway", "delete_key", key_id)

    def usage(self, start: date | str, end: date | str | None = None) -> KeyUsage:
        """This key's use per UTC day from ``start`` to ``end`` (as ``api.usage``): requests made and quota left."""
        found = self.api.usage(start, end, key=self)
        return found[0] if found else KeyUsage(self.id or "", self.name, ())
