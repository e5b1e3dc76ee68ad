"""How an Api's declaration reaches API Gateway, as plans: resources and methods put or pruned, invoke permissions
granted or revoked, a deployment when routes changed, and the usage plan made or brought up to date."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm import errors as ce
from cloudorm.core import Plan, Record, SessionLike, call
from cloudorm.providers.base import API_GATEWAY_PRINCIPAL
from cloudorm.serverless.routes import FunctionLike, Route, ancestors, cors_headers, statement_id, statement_prefix

if TYPE_CHECKING:
    from cloudorm.serverless.api import Api

ROUTING = frozenset({"routes", "cors", "key_required", "deployment", "stage_description"})
"""Changes that touch resources, methods, permissions or the stage."""
PLAN = frozenset({"routes", "key_required", "throttle", "quota", "plan_name", "plan_description"})
"""Changes that touch the usage plan."""

Arns = dict[tuple[str, str], str]


def managed(method: Record) -> bool:
    """A method an Api makes: a Lambda proxy integration, or a CORS preflight the gateway answers."""
    return bool(method.get("function_arn")) or "Access-Control-Allow-Origin" in (method.get("mock_headers") or {})


def function_arns(routes: dict[tuple[str, str], Route]) -> Plan[Arns]:
    """Each route's function ARN (a function that does not exist is ``NotFound``, before anything is changed)."""
    from cloudorm.serverless.function import Function

    arns: Arns = {}
    for key, route in routes.items():
        fn: FunctionLike = route.function
        arns[key] = (yield from fn._co_arn()) if isinstance(fn, Function) else str(fn.arn)
    return arns


def apply(api: Api, record: Record, changed: set[str] | None, arns: Arns) -> Plan[Record]:
    """Make the deployed API ``record`` what ``api`` declares: all of it for a new one (``changed`` None), else what
    ``changed`` touches. Returns the API's record as it now stands."""
    api_id = record["id"]
    routes = api._current()
    out: dict[str, Any] = {**record, "description": api.description or record.get("description")}
    if changed is None or changed & ROUTING:
        resources = yield from call("api_gateway", "resources", api_id)
        before = {m["function_arn"] for r in resources for m in r["methods"].values() if m["function_arn"]}
        pending, api._undeployed = api._undeployed, True  # until deployed: a failed save() deploys on retry
        moved = yield from prune(api, api_id, resources)
        moved = (yield from put_routes(api, api_id, resources, arns)) or moved
        yield from grant(api.session, api_id, arns, before)
        stage = next((s for s in (yield from call("api_gateway", "stages", api_id)) if s["name"] == api.stage), None)
        description = api.stage_description
        if moved or pending or stage is None or (description is not None and description != stage["description"]):
            yield from call("api_gateway", "deploy", api_id, api.stage, api.deployment_description, description)
        api._undeployed = False
        out["stage_description"] = description if description is not None else (stage or {}).get("description")
    if changed is None or changed & PLAN:
        plan = yield from save_plan(api, api_id, routes)
        out.update(plan_name=plan["name"] if plan else None, plan_description=plan["description"] if plan else None,
                   throttle=api.throttle, quota=api.quota)
    deployed = {key: attrs.evolve(r, key_required=api.key_for(r)) for key, r in routes.items()}
    out.update(routes=deployed, cors=api.cors,
               key_required=bool(deployed) and all(r.key_required for r in deployed.values()))
    return out


def prune(api: Api, api_id: str, resources: list[Record]) -> Plan[bool]:
    """Delete the managed methods no longer declared, then resources left empty that no route needs."""
    routes = api._current()
    wanted = set(routes)
    if api.cors:
        wanted |= {(path, "OPTIONS") for path, _ in routes}
    needed = {p for path, _ in routes for p in ancestors(path)}
    changed = False
    for r in resources:
        for method, info in list(r["methods"].items()):
            if managed(info) and (r["path"], method) not in wanted:
                yield from call("api_gateway", "delete_method", api_id, r["id"], method)
                del r["methods"][method]
                changed = True
    children: dict[str | None, int] = {}
    for r in resources:
        children[r["parent_id"]] = children.get(r["parent_id"], 0) + 1
    for r in sorted(resources, key=lambda r: -r["path"].count("/")):
        if r["path"] not in needed and r["parent_id"] and not r["methods"] and not children.get(r["id"]):
            yield from call("api_gateway", "delete_resource", api_id, r["id"])
            children[r["parent_id"]] -= 1
            resources.remove(r)
            changed = True
    return changed


def put_routes(api: Api, api_id: str, resources: list[Record], arns: Arns) -> Plan[bool]:
    """Create missing resources, and put each declared method (and CORS preflight) that differs."""
    routes = api._current()
    by_path = {r["path"]: r for r in resources}
    changed = False
    for path, _ in routes:
        for parent, child in itertools.pairwise(ancestors(path)):
            if child not in by_path:
                by_path[child] = yield from call("api_gateway", "create_resource", api_id, by_path[parent]["id"],
                                                 child.rsplit("/", 1)[1])
                changed = True
    for key, route in routes.items():
        resource = by_path[route.path]
        have = resource["methods"].get(route.method)
        want_key = api.key_for(route)
        if have is None or have["function_arn"] != arns[key] or have["key_required"] != want_key:
            yield from call("api_gateway", "put_lambda_method", api_id, resource["id"], route.method, arns[key],
                            want_key)
            changed = True
    if api.cors:
        methods: dict[str, list[str]] = {}
        for path, method in routes:
            methods.setdefault(path, []).append(method)
        for path, declared in methods.items():
            resource, headers = by_path[path], cors_headers(api.cors, declared)
            if (resource["methods"].get("OPTIONS") or {}).get("mock_headers") != headers:
                yield from call("api_gateway", "put_mock_method", api_id, resource["id"], "OPTIONS", headers)
                changed = True
    return changed


def grant(session: SessionLike, api_id: str, arns: Arns, before: set[str]) -> Plan[None]:
    """One invoke permission per function and route, scoped to the route's source ARN; statements of routes
    the Api no longer declares are removed from the functions that had them."""
    wanted: dict[str, dict[str, str]] = {arn: {} for arn in {*arns.values(), *before}}
    for (path, method), arn in arns.items():
        wanted[arn][statement_id(api_id, method, path)] = session.api_gateway.source_arn(api_id, arn, method, path)
    prefix = statement_prefix(api_id)
    for arn, statements in wanted.items():
        try:
            listed = yield from call("serverless", "permissions", arn)
        except ce.NotFound:
            if statements:
                raise
            continue  # a function the Api used to call is gone, and its statements with it
        have = {s["sid"]: s for s in listed if str(s.get("sid") or "").startswith(prefix)}
        for sid, source in statements.items():
            if sid in have and have[sid].get("source_arn") == source:
                continue
            if sid in have:
                yield from call("serverless", "remove_permission", arn, sid)
            yield from call("serverless", "add_permission", arn, sid, API_GATEWAY_PRINCIPAL, source)
        for sid in have.keys() - statements.keys():
            yield from call("serverless", "remove_permission", arn, sid)


def save_plan(api: Api, api_id: str, routes: dict[tuple[str, str], Route]) -> Plan[Record | None]:
    """Create the usage plan (when a route needs a key, or a throttle or quota is set) or bring it up to date;
    returns it (None: there is none)."""
    plan = yield from api._co_plan(api_id)
    throttle = api.throttle.to_wire() if api.throttle else None
    quota = api.quota.to_wire() if api.quota else None
    if plan is None:
        if throttle is None and quota is None and not any(map(api.key_for, routes.values())):
            return None
        made: Record = yield from call("api_gateway", "create_usage_plan", api.plan_name or f"{api.name}-{api.stage}",
                                       api.plan_description, [(api_id, api.stage)], throttle, quota)
        return made
    description = plan["description"] if api.plan_description is None else api.plan_description
    if (plan["throttle"], plan["quota"], plan["description"]) != (throttle, quota, description):
        yield from call("api_gateway", "update_usage_plan", plan["id"], description, throttle, quota)
        plan = {**plan, "throttle": throttle, "quota": quota, "description": description}
    return plan
