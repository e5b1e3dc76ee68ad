"""The Api entity: a REST API whose routes proxy requests to Functions, deployed to a stage, with API keys and a
usage plan (``Throttle``, ``Quota``).

``save()`` is declarative: the routes, CORS preflights and invoke permissions the Api declares are created, and those
it manages but no longer declares are removed (methods of other kinds, added by other tools, are left alone).
Settings left out keep what the deployed API has; a new API gets none (no key required, no CORS, no usage plan).
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_flag
from cloudorm.core import UNSET, Found, Plan, Record, Resource, SessionLike, call, field, resource, run, stored
from cloudorm.serverless.deploy import ROUTING, apply, function_arns, grant, managed
from cloudorm.serverless.function import Function
from cloudorm.serverless.keys import ApiKey, check_name
from cloudorm.serverless.routes import (
    FunctionLike,
    Quota,
    Route,
    Throttle,
    check_cors,
    check_method,
    check_path,
    check_quota,
    check_routes,
    check_stage,
    check_text,
    check_throttle,
)
from cloudorm.serverless.usage import KeyUsage, check_window, read_usage

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Api", "ApiKey", "Quota", "Throttle"]

Routes = dict[tuple[str, str], Route]


def _text(name: str) -> Any:
    def check(value: Any) -> str | None:
        return check_text(name, value)
    return check


def _key_required(value: Any) -> bool:
    return check_flag("key_required", value)


def _api_id(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not (value.isascii() and value.isalnum())):
        raise ce.InvalidInput("api_id", f"must be a REST API id such as 'a1b2c3d4e5', not {value!r}")
    return value


def _kept(new: Any, old: Any) -> bool:
    """A description left at None keeps the deployed one."""
    return new is None or new == old


@resource
class Api(Resource):
    """A REST API: ``s.Api("shop", function=fn, route="/orders/{id}", key_required=True,
    throttle=Throttle(rate=100.0, burst=50), quota=Quota(limit=50, period="WEEK", offset=2)).save()``; more routes
    with ``api.route(path, method, function)``; ``api.url``; ``api.create_key("name")``."""

    kind = "api"

    name: str = attrs.field(converter=check_name)
    stage: str = attrs.field(converter=check_stage, default="prod")
    """The stage ``save()`` deploys to and ``url`` serves."""
    deployment_description: str | None = attrs.field(converter=_text("deployment_description"), default=None)
    """The description of each deployment ``save()`` makes."""
    _api_id: str | None = attrs.field(converter=_api_id, default=None)
    _routes: Routes | None = attrs.field(default=None)
    """The declared routes (None: the deployed ones)."""
    _undeployed: bool = attrs.field(default=False, init=False)
    """A save() changed or may have changed routes and failed before deploying them: the next one deploys."""

    key_required: bool = field(_key_required, default=False)
    """Whether routes that do not say otherwise require an ``x-api-key``."""
    throttle: Throttle | None = field(check_throttle, default=None)
    """The usage plan's steady rate and burst (None: none)."""
    quota: Quota | None = field(check_quota, default=None)
    """The usage plan's requests per period and key (None: none)."""
    cors: str | None = field(check_cors, default=None)
    """The origin CORS preflights (OPTIONS) allow, or None for no CORS. The gateway answers only the preflight:
    proxy handlers must add ``Access-Control-Allow-Origin`` to their own responses."""
    description: str | None = field(_text("description"), default=None, compare=_kept)
    """The REST API's description (None: keep what is deployed)."""
    plan_name: str | None = field(_text("plan_name"), default=None, compare=_kept)
    """The usage plan's name (None: ``f"{name}-{stage}"``, or the one plan that serves the stage)."""
    plan_description: str | None = field(_text("plan_description"), default=None, compare=_kept)
    """The usage plan's description (None: keep what is deployed)."""
    stage_description: str | None = field(_text("stage_description"), default=None, compare=_kept)
    """The stage's description (None: keep what is deployed)."""

    created: datetime | None = stored(lazy=False)
    """When the REST API was created (known once saved or loaded)."""

    def __init__(self, session: SessionLike, name: str, *, function: FunctionLike | None = None,
                 route: str | None = None, method: str = "GET", stage: str = "prod", key_required: bool = False,
                 throttle: Throttle | None = None, quota: Quota | None = None, cors: bool | str = False,
                 description: str | None = None, plan_name: str | None = None, plan_description: str | None = None,
                 stage_description: str | None = None, deployment_description: str | None = None,
                 api_id: str | None = None) -> None:
        given = {"key_required": key_required, "throttle": throttle, "quota": quota, "cors": cors,
                 "description": description, "plan_name": plan_name, "plan_description": plan_description,
                 "stage_description": stage_description}
        settings = {k: UNSET if v is None or v is False else v for k, v in given.items()}  # left out: kept
        init = self.__attrs_init__  # type: ignore[attr-defined]  # (attrs makes it: __init__ is the kind's own)
        init(session, name, stage, deployment_description, api_id, **settings)
        if function is not None or route is not None:
            self.route(route or "/", method, function)

    @classmethod
    def _from_record(cls, session: SessionLike, record: Record) -> Self:
        """An Api as a listing returned it (the rest loads on first read)."""
        return cls._co_from_record(session, record, partial=True)

    def __repr__(self) -> str:
        ident = f", id={self.id!r}" if self.id else ""
        routes = self._routes if self._routes is not None else (self._co_record or {}).get("routes") or {}
        return f"Api({self.name!r}{ident}, stage={self.stage!r}, routes={len(routes)})"

    @property
    def id(self) -> str | None:
        """The REST API's id (None until saved or loaded)."""
        return (self._co_record or {}).get("id") or self._api_id

    @property
    def routes(self) -> list[Route]:
        """The routes: as declared, else as deployed (in the order they were added)."""
        return list(self._current().values())

    def _current(self) -> Routes:
        if self._routes is not None:
            return self._routes
        found, deployed = self._co_lookup("routes")
        return dict(deployed) if found else {}

    # ------------------------------------------------------------------------------------------- routes

    def route(self, path: str, method: str = "GET", function: FunctionLike | None = None,
              key_required: bool | None = None) -> Api:
        """Declare a route: ``method`` requests to ``path`` (``/orders/{id}``, ``/files/{proxy+}``) go to
        ``function`` (a Lambda proxy integration); ``key_required`` None follows the Api's. Returns the Api."""
        new = Route.of(path, method, function, key_required)
        routes = self._current()
        if (new.path, new.method) in routes:
            raise ce.InvalidInput("route", f"{new.method} {new.path} is declared twice")
        check_routes([*routes.values(), new], self.cors)
        self._routes = {**routes, (new.path, new.method): new}
        return self

    def remove_route(self, path: str, method: str = "GET") -> Api:
        """Stop declaring a route (the next ``save()`` removes it). Returns the Api."""
        key = (check_path(path), check_method(method))
        routes = self._current()
        if routes.pop(key, None) is None:
            raise ce.InvalidInput("route", f"{method} {path} is not a route of api {self.name!r}")
        self._routes = routes
        return self

    def key_for(self, route: Route) -> bool:
        """Whether ``route`` requires an API key (its own say, else the Api's)."""
        return self.key_required if route.key_required is None else route.key_required

    def _view(self, routes: Routes) -> dict[tuple[str, str], tuple[str, bool]]:
        """Routes as compared with the deployed ones: each route's function name and whether it needs a key."""
        return {key: (r.function.name, self.key_for(r)) for key, r in routes.items()}

    def _co_changes(self) -> set[str]:
        """The changed settings, ``routes`` when the declared ones differ from the deployed, and ``deployment``
        while a failed save left routes undeployed."""
        out = super()._co_changes()
        record = self._co_record
        if record is not None:
            if self._routes is not None and self._view(self._routes) != self._view(record.get("routes") or {}):
                out.add("routes")
            if self._undeployed:
                out.add("deployment")
        return out

    def _co_take(self, record: Record, *, partial: bool = False, keep_local: bool = False) -> None:
        super()._co_take(record, partial=partial, keep_local=keep_local)
        if not keep_local:
            self._routes = None  # (refreshed: the deployed routes)

    # ------------------------------------------------------------------------------------------- reading

    def _co_find(self) -> Plan[Record]:
        """The REST API's record: by id when known, else the one API with this name (``NotFound`` if none)."""
        if self.id is not None:
            record: Record = yield from call("api_gateway", "get_api", self.id)
            if record["name"] != self.name:
                raise ce.ConflictError(f"REST API {self.id} is named {record['name']!r}, not {self.name!r}")
            return record
        found: list[Record] = []
        start = None
        while True:
            page, start = yield from call("api_gateway", "list_apis", start, 500)
            found += [r for r in page if r["name"] == self.name]
            if not start:
                break
        if len(found) > 1:
            ids = ", ".join(r["id"] for r in found)
            raise ce.ConflictError(f"{len(found)} REST APIs are named {self.name!r} ({ids}), perhaps made twice "
                                   "by an earlier request whose answer was lost: delete the extra ones, or give "
                                   "api_id= to say which one")
        if not found:
            raise ce.NotFound(f"there is no REST API named {self.name!r}")
        return found[0]

    def _co_id(self) -> Plan[str]:
        """The REST API's id, looked up by name if not known (``NotFound`` if there is no such API)."""
        if self.id is not None:
            return self.id
        return str((yield from self._co_find())["id"])

    def _co_plan(self, api_id: str) -> Plan[Record | None]:
        """This Api's usage plan on its stage: the one named ``plan_name`` (default ``{name}-{stage}``), else the
        only plan serving the stage when no name was given."""
        plans = yield from call("api_gateway", "usage_plans", api_id)
        serving = [p for p in plans if (api_id, self.stage) in p["stages"]]
        given = self.__dict__.get("plan_name", UNSET)
        name = given or f"{self.name}-{self.stage}"
        named = [p for p in serving if p["name"] == name]
        if not named and not given and len(serving) == 1:
            named = serving
        if len(named) > 1:
            raise ce.ConflictError(f"{len(named)} usage plans named {name!r} serve stage {self.stage!r} of api "
                                   f"{self.name!r} ({', '.join(p['id'] for p in named)}), perhaps made twice "
                                   "by an earlier request whose answer was lost: delete the extra ones")
        return named[0] if named else None

    def _co_fetch(self) -> Plan[Record]:
        """What is deployed: the REST API, its routes (each with its function), CORS, the stage's description and
        the usage plan's name, description, throttle and quota."""
        api = yield from self._co_find()
        api_id = api["id"]
        routes: Routes = {}
        cors = None
        for r in sorted((yield from call("api_gateway", "resources", api_id)), key=lambda r: r["path"]):
            for method, info in sorted(r["methods"].items()):
                if info["function_arn"]:
                    fn = Function(self.session, info["function_arn"])
                    routes[(r["path"], method)] = Route(r["path"], method, fn, bool(info["key_required"]))
                elif managed(info):
                    cors = (info["mock_headers"] or {}).get("Access-Control-Allow-Origin")
        stages = yield from call("api_gateway", "stages", api_id)
        stage = next((s for s in stages if s["name"] == self.stage), None)
        plan = yield from self._co_plan(api_id)
        return {**api, "routes": routes, "cors": cors,
                "key_required": bool(routes) and all(r.key_required for r in routes.values()),
                "stage_description": stage["description"] if stage else None,
                "throttle": Throttle.from_wire(plan["throttle"]) if plan else None,
                "quota": Quota.from_wire(plan["quota"]) if plan else None,
                "plan_name": plan["name"] if plan else None, "plan_description": plan["description"] if plan else None}

    # ------------------------------------------------------------------------------------------- lifecycle

    def _co_check(self) -> None:
        if self._co_record is None and not self._routes:
            raise ce.InvalidInput("route", f"api {self.name!r} declares no route: give function= and route=, or "
                                           "call api.route(path, method, function) (refresh() loads deployed ones)")
        check_routes(self._current().values(), self.cors)

    def _co_create(self) -> Plan[Record]:
        try:
            found = yield from self._co_find()
        except ce.NotFound:
            if self._api_id is not None:
                raise  # (api_id= names an API that should exist)
        else:
            self._api_id = found["id"]
            raise Found(f"a REST API named {self.name!r} exists already", (yield from self._co_fetch()))
        arns = yield from function_arns(self._current())  # (a function that does not exist fails first)
        made = yield from call("api_gateway", "create_api", self.name, self.description)
        self._api_id = made["id"]
        return (yield from apply(self, made, None, arns))

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        record = self._co_record or {}
        arns = (yield from function_arns(self._current())) if changed & ROUTING else {}
        if "description" in changed:
            yield from call("api_gateway", "update_api", record["id"], self.description)
        return (yield from apply(self, record, changed, arns))

    def _co_remove(self, **options: Any) -> Plan[None]:
        """Delete the usage plans serving only this API, the invoke permissions it added to its functions, then
        the REST API (with its stages); ``keys=True`` also deletes those plans' API keys."""
        api_id = yield from self._co_id()
        resources = yield from call("api_gateway", "resources", api_id)
        doomed: list[str] = []
        for plan in (yield from call("api_gateway", "usage_plans", api_id)):
            if all(a == api_id for a, _ in plan["stages"]):
                if options.get("keys"):
                    doomed += [k["id"] for k in (yield from call("api_gateway", "plan_keys", plan["id"]))]
                yield from call("api_gateway", "delete_usage_plan", plan["id"])
        for key_id in doomed:
            with contextlib.suppress(ce.NotFound):  # deleted meanwhile
                yield from call("api_gateway", "delete_key", key_id)
        arns = {m["function_arn"] for r in resources for m in r["methods"].values() if m["function_arn"]}
        yield from grant(self.session, api_id, {}, arns)
        yield from call("api_gateway", "delete_api", api_id)
        self._api_id = None  # (save() makes a new one)

    def delete(self, *, keys: bool = False, missing_ok: bool = False) -> None:
        """Delete the usage plans serving only this API, the invoke permissions it added to its functions, then
        the REST API (with its stages); ``keys=True`` also deletes those plans' API keys. ``NotFound`` if there is
        no such API, unless ``missing_ok``. ``save()`` makes it again, with the routes it had."""
        if self._routes is None and self._co_record is not None:
            self._routes = self._current()  # (kept, to make it again)
        run(self.session, self._co_delete(missing_ok, {"keys": check_flag("keys", keys)}))

    # ------------------------------------------------------------------------------------------- use

    @property
    def url(self) -> str:
        """The base URL serving the Api's stage (no trailing slash): on AWS ``https://{id}.execute-api.{region}.
        amazonaws.com/{stage}``; on the local cloud ``{endpoint}/restapis/{id}/{stage}/_user_request_`` on the local
        cloud's own server, the same from every process."""
        url: str = self.session.api_gateway.invoke_url(run(self.session, self._co_id()), self.stage)
        return url

    def url_for(self, path: str) -> str:
        """The URL of one request path under the stage: ``api.url_for("/orders/1")``."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise ce.InvalidInput("path", f"must start with '/', not {path!r}")
        return self.url + path

    def create_key(self, name: str, description: str | None = None, enabled: bool = True) -> ApiKey:
        """A new API key in this Api's usage plan; its ``value`` is readable once. The plan must exist: save the
        Api first with ``key_required=True``, a ``throttle`` or a ``quota``. A key of this name in the plan
        already is ``AlreadyExists`` (``ApiKey(s, name, api=api).save()`` adopts it instead)."""
        key = ApiKey(self.session, name, api=self, description=UNSET if description is None else description,
                     enabled=enabled)
        return key.save(exists_ok=False)

    def keys(self) -> list[ApiKey]:
        """The API keys of this Api's usage plan (without their values)."""
        def listed() -> Plan[list[Record]]:
            plan = yield from self._co_plan((yield from self._co_id()))
            found: list[Record] = [] if plan is None else (yield from call("api_gateway", "plan_keys", plan["id"]))
            return found

        return [ApiKey._co_from_record(self.session, {k: v for k, v in r.items() if k != "value"}, partial=True,
                                       api=self) for r in run(self.session, listed())]

    def usage(self, start: date | str, end: date | str | None = None, key: ApiKey | str | None = None
              ) -> list[KeyUsage]:
        """How much each key of the Api's usage plan was used, per UTC day from ``start`` to ``end`` (both included;
        ``date`` or ``"YYYY-MM-DD"``; end None: today; 90 days at most): a ``KeyUsage`` per key, sorted by name,
        each with a ``DayUsage(day, used, remaining)`` per day. ``key`` (an ApiKey of this Api, or a key's name)
        reports that key alone. ``[]`` for an Api without a usage plan."""
        first, last = check_window(start, end)
        if key is not None and not isinstance(key, str) and not (isinstance(key, ApiKey) and key.api == self):
            raise ce.InvalidInput("key", f"must be a key's name or an ApiKey of api {self.name!r}, not {key!r}")
        return run(self.session, read_usage(self, first, last, key))
