"""The Api entity: a REST API whose routes proxy requests to Functions, deployed to a stage, with API keys and a
usage plan (``Throttle``, ``Quota``); and ``ApiKey``, whose value is readable once.

``save()`` is declarative: the routes, CORS preflights and invoke permissions the Api declares are created, and those
it manages but no longer declares are removed (methods of other kinds, added by other tools, are left alone).
"""

from __future__ import annotations

import contextlib
import itertools
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_flag
from cloudorm.credentials import protect
from cloudorm.listing import Listing
from cloudorm.providers.base import API_GATEWAY_PRINCIPAL
from cloudorm.serverless.routes import (
    FunctionLike,
    Quota,
    Route,
    Throttle,
    ancestors,
    check_cors,
    check_method,
    check_path,
    check_quota,
    check_routes,
    check_stage,
    check_text,
    check_throttle,
    cors_headers,
    statement_id,
    statement_prefix,
)

if TYPE_CHECKING:
    from cloudorm.providers.base import ApiService
    from cloudorm.session import Session

__all__ = ["Api", "ApiKey", "Quota", "Throttle"]

Wire = dict[str, Any]


def _name(value: Any) -> str:
    checked = check_text("name", value, 1024, required=True)
    assert checked is not None
    return checked


def _description(value: Any) -> str | None:
    return check_text("description", value)


def _plan_name(value: Any) -> str | None:
    return check_text("plan_name", value)


def _plan_description(value: Any) -> str | None:
    return check_text("plan_description", value)


def _stage_description(value: Any) -> str | None:
    return check_text("stage_description", value)


def _deployment_description(value: Any) -> str | None:
    return check_text("deployment_description", value)


def _key_required(value: Any) -> bool:
    return check_flag("key_required", value)


def _api_id(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not (value.isascii() and value.isalnum())):
        raise ce.InvalidInput("api_id", f"must be a REST API id such as 'a1b2c3d4e5', not {value!r}")
    return value


def _managed(method: Wire) -> bool:
    """A method an Api makes: a Lambda proxy integration, or a CORS preflight the gateway answers."""
    return bool(method.get("function_arn")) or "Access-Control-Allow-Origin" in (method.get("mock_headers") or {})


@attrs.define(eq=False, repr=False)
class ApiKey:
    """An API key of an Api's usage plan: ``key.id``, ``key.name``, ``key.value`` (readable once, right after
    ``api.create_key()``; None after and on listed keys), ``key.delete()``."""

    api: Api
    id: str
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    created: datetime | None = None
    _value: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def _from_record(cls, api: Api, record: Wire) -> ApiKey:
        value = record.get("value")
        if value:
            protect((value,))  # redacted from every log line from now on
        return cls(api, record["id"], record.get("name"), record.get("description"), record.get("enabled"),
                   record.get("created"), value)

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id!r}, name={self.name!r}, api={self.api.name!r})"

    def __reduce__(self) -> Any:
        raise TypeError("an ApiKey is not picklable (it may hold a secret)")

    @property
    def value(self) -> str | None:
        """The key's value, for the ``x-api-key`` header: readable once, on the key ``create_key()`` returned
        (None after, and on keys from ``api.keys()``)."""
        value, self._value = self._value, None
        return value

    def refresh(self) -> ApiKey:
        """Load the key's name, description, enabled flag and creation time (never its value)."""
        record = self.api.session.api_gateway.get_key(self.id)
        self.name, self.description = record.get("name"), record.get("description")
        self.enabled, self.created = record.get("enabled"), record.get("created")
        return self

    def delete(self, *, missing_ok: bool = False) -> None:
        """Delete the key (it is taken out of its usage plans); ``NotFound`` if it is gone, unless ``missing_ok``."""
        self._value = None
        try:
            self.api.session.api_gateway.delete_key(self.id)
        except ce.NotFound:
            if not missing_ok:
                raise


@attrs.define(eq=False, repr=False, init=False)
class Api:
    """A REST API: ``s.Api("shop", function=fn, route="/orders/{id}", key_required=True,
    throttle=Throttle(rate=100.0, burst=50), quota=Quota(limit=50, period="WEEK", offset=2)).save()``; more routes
    with ``api.route(path, method, function)``; ``api.url``; ``api.create_key("name")``."""

    session: Session
    name: str = attrs.field(converter=_name)
    stage: str = attrs.field(converter=check_stage)
    """The stage ``save()`` deploys to and ``url`` serves."""
    key_required: bool = attrs.field(converter=_key_required)
    """Whether routes that do not say otherwise require an ``x-api-key``."""
    throttle: Throttle | None = attrs.field(converter=check_throttle)
    """The usage plan's steady rate and burst (None: none)."""
    quota: Quota | None = attrs.field(converter=check_quota)
    """The usage plan's requests per period and key (None: none)."""
    cors: str | None = attrs.field(converter=check_cors)
    """The origin CORS preflights (OPTIONS) allow, or None for no CORS. The gateway answers only the preflight:
    proxy handlers must add ``Access-Control-Allow-Origin`` to their own responses."""
    description: str | None = attrs.field(converter=_description)
    """The REST API's description (None: keep what is deployed)."""
    plan_name: str | None = attrs.field(converter=_plan_name)
    """The usage plan's name (None: ``f"{name}-{stage}"``, or the one plan that serves the stage)."""
    plan_description: str | None = attrs.field(converter=_plan_description)
    """The usage plan's description (None: keep what is deployed)."""
    stage_description: str | None = attrs.field(converter=_stage_description)
    """The stage's description (None: keep what is deployed)."""
    deployment_description: str | None = attrs.field(converter=_deployment_description)
    """The description of each deployment ``save()`` makes."""
    _id: str | None = attrs.field(converter=_api_id)
    _routes: dict[tuple[str, str], Route] = attrs.field(factory=dict)
    created: datetime | None = attrs.field(default=None)
    """When the REST API was created (known once saved or loaded)."""
    _undeployed: bool = attrs.field(default=False)
    """A save() changed or may have changed routes and failed before deploying them: the next one deploys."""

    def __init__(self, session: Session, name: str, *, function: FunctionLike | None = None,
                 route: str | None = None, method: str = "GET", stage: str = "prod", key_required: bool = False,
                 throttle: Throttle | None = None, quota: Quota | None = None, cors: bool | str = False,
                 description: str | None = None, plan_name: str | None = None, plan_description: str | None = None,
                 stage_description: str | None = None, deployment_description: str | None = None,
                 api_id: str | None = None) -> None:
        self.__attrs_init__(session, name, stage, key_required, throttle, quota, cors, description, plan_name,
                            plan_description, stage_description, deployment_description, api_id)
        if function is not None or route is not None:
            self.route(route or "/", method, function)

    @classmethod
    def _from_record(cls, session: Session, record: Wire) -> Api:
        """An Api as a listing returned it (its routes load with ``refresh()``)."""
        api = cls(session, record["name"], api_id=record["id"], description=record.get("description"))
        api.created = record.get("created")
        return api

    def __repr__(self) -> str:
        ident = f", id={self._id!r}" if self._id else ""
        return f"Api({self.name!r}{ident}, stage={self.stage!r}, routes={len(self._routes)})"

    @property
    def _service(self) -> ApiService:
        return self.session.api_gateway

    @property
    def id(self) -> str | None:
        """The REST API's id (None until saved or loaded)."""
        return self._id

    @property
    def routes(self) -> list[Route]:
        """The declared routes, in the order they were added."""
        return list(self._routes.values())

    # ------------------------------------------------------------------------------------------- routes

    def route(self, path: str, method: str = "GET", function: FunctionLike | None = None,
              key_required: bool | None = None) -> Api:
        """Declare a route: ``method`` requests to ``path`` (``/orders/{id}``, ``/files/{proxy+}``) go to
        ``function`` (a Lambda proxy integration); ``key_required`` None follows the Api's. Returns the Api."""
        new = Route.of(path, method, function, key_required)
        if (new.path, new.method) in self._routes:
            raise ce.InvalidInput("route", f"{new.method} {new.path} is declared twice")
        check_routes([*self._routes.values(), new], self.cors)
        self._routes[(new.path, new.method)] = new
        return self

    def remove_route(self, path: str, method: str = "GET") -> Api:
        """Stop declaring a route (the next ``save()`` removes it). Returns the Api."""
        key = (check_path(path), check_method(method))
        if self._routes.pop(key, None) is None:
            raise ce.InvalidInput("route", f"{method} {path} is not a route of api {self.name!r}")
        return self

    def _key_for(self, route: Route) -> bool:
        return self.key_required if route.key_required is None else route.key_required

    def _plan_wanted(self) -> bool:
        return self.throttle is not None or self.quota is not None or any(map(self._key_for, self._routes.values()))

    # ------------------------------------------------------------------------------------------- lookups

    def _find(self) -> Wire | None:
        """The REST API's record: by id when known, else the one API with this name (None if there is none)."""
        if self._id is not None:
            record = self._service.get_api(self._id)
            if record["name"] != self.name:
                raise ce.ConflictError(f"REST API {self._id} is named {record['name']!r}, not {self.name!r}")
            return record
        found = [r for r in Listing(self._service.list_apis).page_size(500) if r["name"] == self.name]
        if len(found) > 1:
            ids = ", ".join(r["id"] for r in found)
            raise ce.ConflictError(f"{len(found)} REST APIs are named {self.name!r} ({ids}), perhaps made twice "
                                   "by an earlier request whose answer was lost: delete the extra ones, or give "
                                   "api_id= to say which one")
        return found[0] if found else None

    def _ensure_id(self) -> str:
        """The REST API's id, looked up by name if not known (``NotFound`` if there is no such API)."""
        if self._id is None:
            record = self._find()
            if record is None:
                raise ce.NotFound(f"there is no REST API named {self.name!r}")
            self._adopt(record)
        assert self._id is not None
        return self._id

    def _adopt(self, record: Wire) -> None:
        self._id = record["id"]
        self.created = record.get("created")

    def _plan(self, api_id: str) -> Wire | None:
        """This Api's usage plan on its stage: the one named ``plan_name`` (default ``{name}-{stage}``), else the
        only plan serving the stage when no name was given."""
        serving = [p for p in self._service.usage_plans(api_id) if (api_id, self.stage) in p["stages"]]
        name = self.plan_name or f"{self.name}-{self.stage}"
        named = [p for p in serving if p["name"] == name]
        if not named and self.plan_name is None and len(serving) == 1:
            named = serving
        if len(named) > 1:
            raise ce.ConflictError(f"{len(named)} usage plans named {name!r} serve stage {self.stage!r} of api "
                                   f"{self.name!r} ({', '.join(p['id'] for p in named)}), perhaps made twice "
                                   "by an earlier request whose answer was lost: delete the extra ones")
        return named[0] if named else None

    # ------------------------------------------------------------------------------------------- lifecycle

    def save(self) -> Api:
        """Create or update the REST API: resources, Lambda proxy methods, CORS preflights, invoke permissions,
        a deployment to the stage (only when something changed) and the usage plan. Returns the Api."""
        routes = list(self._routes.values())
        if not routes:
            raise ce.InvalidInput("route", f"api {self.name!r} declares no route: give function= and route=, or "
                                           "call api.route(path, method, function) (refresh() loads deployed ones)")
        check_routes(routes, self.cors)
        svc = self._service
        arns = {key: str(r.function.arn) for key, r in self._routes.items()}  # a missing function fails first
        record = self._find()
        if record is None:
            record = svc.create_api(self.name, self.description)
        elif self.description is not None and self.description != record.get("description"):
            svc.update_api(record["id"], self.description)
        self._adopt(record)
        api_id = record["id"]

        resources = svc.resources(api_id)
        before = {m["function_arn"] for r in resources for m in r["methods"].values() if m["function_arn"]}
        pending, self._undeployed = self._undeployed, True  # until deployed: a failed save() deploys on retry
        changed = self._prune(api_id, resources)
        changed |= self._put_routes(api_id, resources, arns)
        self._grant(api_id, arns, before)

        stage = next((s for s in svc.stages(api_id) if s["name"] == self.stage), None)
        if changed or pending or stage is None or (self.stage_description is not None
                                                   and self.stage_description != stage["description"]):
            svc.deploy(api_id, self.stage, self.deployment_description, self.stage_description)
        self._undeployed = False
        self._save_plan(api_id)
        return self

    def _prune(self, api_id: str, resources: list[Wire]) -> bool:
        """Delete the managed methods no longer declared, then resources left empty that no route needs."""
        svc = self._service
        wanted = set(self._routes)
        if self.cors:
            wanted |= {(path, "OPTIONS") for path, _ in self._routes}
        needed = {p for path, _ in self._routes for p in ancestors(path)}
        changed = False
        for r in resources:
            for method, info in list(r["methods"].items()):
                if _managed(info) and (r["path"], method) not in wanted:
                    svc.delete_method(api_id, r["id"], method)
                    del r["methods"][method]
                    changed = True
        children: dict[str | None, int] = {}
        for r in resources:
            children[r["parent_id"]] = children.get(r["parent_id"], 0) + 1
        for r in sorted(resources, key=lambda r: -r["path"].count("/")):
            if r["path"] not in needed and r["parent_id"] and not r["methods"] and not children.get(r["id"]):
                svc.delete_resource(api_id, r["id"])
                children[r["parent_id"]] -= 1
                resources.remove(r)
                changed = True
        return changed

    def _put_routes(self, api_id: str, resources: list[Wire], arns: dict[tuple[str, str], str]) -> bool:
        """Create missing resources, and put each declared method (and CORS preflight) that differs."""
        svc = self._service
        by_path = {r["path"]: r for r in resources}
        changed = False
        for path, _ in self._routes:
            chain = ancestors(path)
            for parent, child in itertools.pairwise(chain):
                if child not in by_path:
                    by_path[child] = svc.create_resource(api_id, by_path[parent]["id"], child.rsplit("/", 1)[1])
                    changed = True
        for key, route in self._routes.items():
            resource = by_path[route.path]
            have = resource["methods"].get(route.method)
            want_key = self._key_for(route)
            if have is None or have["function_arn"] != arns[key] or have["key_required"] != want_key:
                svc.put_lambda_method(api_id, resource["id"], route.method, arns[key], want_key)
                changed = True
        if self.cors:
            methods: dict[str, list[str]] = {}
            for path, method in self._routes:
                methods.setdefault(path, []).append(method)
            for path, declared in methods.items():
                resource, headers = by_path[path], cors_headers(self.cors, declared)
                if (resource["methods"].get("OPTIONS") or {}).get("mock_headers") != headers:
                    svc.put_mock_method(api_id, resource["id"], "OPTIONS", headers)
                    changed = True
        return changed

    def _grant(self, api_id: str, arns: dict[tuple[str, str], str], before: set[str]) -> None:
        """One invoke permission per function and route, scoped to the route's source ARN; statements of routes
        this Api no longer declares are removed from the functions that had them."""
        svc, functions = self._service, self.session.serverless
        wanted: dict[str, dict[str, str]] = {arn: {} for arn in {*arns.values(), *before}}
        for (path, method), arn in arns.items():
            wanted[arn][statement_id(api_id, method, path)] = svc.source_arn(api_id, arn, method, path)
        prefix = statement_prefix(api_id)
        for arn, statements in wanted.items():
            try:
                have = {s["sid"]: s for s in functions.permissions(arn) if str(s.get("sid") or "").startswith(prefix)}
            except ce.NotFound:
                if statements:
                    raise
                continue  # a function this Api used to call is gone, and its statements with it
            for sid, source in statements.items():
                if sid in have and have[sid].get("source_arn") == source:
                    continue
                if sid in have:
                    functions.remove_permission(arn, sid)
                functions.add_permission(arn, sid, API_GATEWAY_PRINCIPAL, source)
            for sid in have.keys() - statements.keys():
                functions.remove_permission(arn, sid)

    def _save_plan(self, api_id: str) -> None:
        """Create the usage plan (when a route needs a key, or a throttle or quota is set) or bring it up to date."""
        svc = self._service
        plan = self._plan(api_id)
        throttle = self.throttle.to_wire() if self.throttle else None
        quota = self.quota.to_wire() if self.quota else None
        if plan is None:
            if self._plan_wanted():
                svc.create_usage_plan(self.plan_name or f"{self.name}-{self.stage}", self.plan_description,
                                      [(api_id, self.stage)], throttle, quota)
            return
        description = plan["description"] if self.plan_description is None else self.plan_description
        if (plan["throttle"], plan["quota"], plan["description"]) != (throttle, quota, description):
            svc.update_usage_plan(plan["id"], description, throttle, quota)

    def refresh(self) -> Api:
        """Load the REST API: its id, description, routes (each with its function), CORS, the stage's
        description and the usage plan's name, description, throttle and quota. Returns the Api."""
        record = self._find()
        if record is None:
            raise ce.NotFound(f"there is no REST API named {self.name!r}")
        self._adopt(record)
        api_id, svc = record["id"], self._service
        self.description = record.get("description")
        routes: dict[tuple[str, str], Route] = {}
        cors = None
        for r in sorted(svc.resources(api_id), key=lambda r: r["path"]):
            for method, info in sorted(r["methods"].items()):
                if info["function_arn"]:
                    fn = self.session.Function(info["function_arn"])
                    routes[(r["path"], method)] = Route(r["path"], method, fn, bool(info["key_required"]))
                elif _managed(info):
                    cors = (info["mock_headers"] or {}).get("Access-Control-Allow-Origin")
        self._routes = routes
        self.cors = cors
        self.key_required = bool(routes) and all(r.key_required for r in routes.values())
        stage = next((s for s in svc.stages(api_id) if s["name"] == self.stage), None)
        self.stage_description = stage["description"] if stage else None
        plan = self._plan(api_id)
        self.throttle = Throttle.from_wire(plan["throttle"]) if plan else None
        self.quota = Quota.from_wire(plan["quota"]) if plan else None
        self.plan_description = plan["description"] if plan else None
        if plan and self.plan_name is None and plan["name"] != f"{self.name}-{self.stage}":
            self.plan_name = plan["name"]
        return self

    def exists(self) -> bool:
        """Whether the REST API exists (looked up by id, or by name)."""
        try:
            return self._find() is not None
        except ce.NotFound:
            return False

    def delete(self, *, keys: bool = False, missing_ok: bool = False) -> None:
        """Delete the usage plans serving only this API, the invoke permissions it added to its functions, then
        the REST API (with its stages); ``keys=True`` also deletes those plans' API keys. ``NotFound`` if there is
        no such API, unless ``missing_ok``."""
        svc = self._service
        try:
            api_id = self._ensure_id()
            resources = svc.resources(api_id)
        except ce.NotFound:
            if not missing_ok:
                raise
            return
        doomed: list[str] = []
        for plan in svc.usage_plans(api_id):
            if all(a == api_id for a, _ in plan["stages"]):
                if keys:
                    doomed += [k["id"] for k in svc.plan_keys(plan["id"])]
                svc.delete_usage_plan(plan["id"])
        for key_id in doomed:
            with contextlib.suppress(ce.NotFound):  # deleted meanwhile
                svc.delete_key(key_id)
        arns = {m["function_arn"] for r in resources for m in r["methods"].values() if m["function_arn"]}
        self._grant(api_id, {}, arns)
        svc.delete_api(api_id)
        self._id = None

    # ------------------------------------------------------------------------------------------- use

    @property
    def url(self) -> str:
        """The base URL serving the Api's stage (no trailing slash): on AWS ``https://{id}.execute-api.{region}.
        amazonaws.com/{stage}``; on the local cloud a gateway on 127.0.0.1 that runs the functions."""
        return self._service.invoke_url(self._ensure_id(), self.stage)

    def url_for(self, path: str) -> str:
        """The URL of one request path under the stage: ``api.url_for("/orders/1")``."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise ce.InvalidInput("path", f"must start with '/', not {path!r}")
        return self.url + path

    def create_key(self, name: str, description: str | None = None, enabled: bool = True) -> ApiKey:
        """A new API key in this Api's usage plan; its ``value`` is readable once. The plan must exist: save the
        Api first with ``key_required=True``, a ``throttle`` or a ``quota``."""
        name = _name(name)
        description = check_text("description", description)
        enabled = check_flag("enabled", enabled)
        try:
            api_id = self._ensure_id()
        except ce.NotFound:
            raise ce.ConflictError(f"api {self.name!r} does not exist yet: save() it before creating keys") from None
        plan = self._plan(api_id)
        if plan is None:
            raise ce.ConflictError(f"api {self.name!r} has no usage plan on stage {self.stage!r} to add a key to: "
                                   "save() it with key_required=True, a throttle or a quota first")
        key = ApiKey._from_record(self, self._service.create_key(name, description, enabled))
        try:
            self._service.add_key_to_plan(plan["id"], key.id)
        except ce.CloudError:
            key.delete(missing_ok=True)  # no key left behind outside the plan
            raise
        return key

    def keys(self) -> list[ApiKey]:
        """The API keys of this Api's usage plan (without their values)."""
        plan = self._plan(self._ensure_id())
        if plan is None:
            return []
        return [ApiKey(self, k["id"], k.get("name")) for k in self._service.plan_keys(plan["id"])]
