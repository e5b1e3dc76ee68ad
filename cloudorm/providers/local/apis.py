"""REST APIs on the local cloud: moto keeps the control plane; the local gateway serves them on 127.0.0.1.

``invoke_url`` is the gateway's URL for the API's stage. The gateway reads each API's routes, stages, usage plans
and keys from moto through this service and keeps them for ``ROUTING_TTL`` seconds; any change made through a
local ApiService of this process drops what is kept, and a request the kept data would refuse (an unknown route or
key) reads again first (at most every ``REFRESH_GAP`` seconds), so a key created or a route deployed elsewhere a
moment ago works too. A stage serves the routes of its deployment as they were when this process deployed it (the
current routes when it was deployed elsewhere).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from cloudorm import errors as ce
from cloudorm.providers.aws.apigateway import AwsApiService
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.contract import API_GATEWAY_PRINCIPAL, FunctionService, Invocation, ResourceInfo
from cloudorm.providers.local.gateway import gateway
from cloudorm.providers.local.routing import Plan, Route, Routing, changed, changed_by, generation

ROUTING_TTL = 1.0
"""Seconds the gateway trusts what it read of an API."""

REFRESH_GAP = 0.1
"""Least seconds between two reads of an API forced by requests it would refuse."""

_DEFAULT_ACCOUNT = "123456789012"
_deployed: dict[tuple[str, str], list[ResourceInfo]] = {}
"""(api id, deployment id) → the resources it deployed, for deployments made by this process."""


class LocalApiService(AwsApiService):
    """``ApiService`` of the local cloud: the control plane on moto, the data plane on the local gateway."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = (), *,
                 functions: FunctionService) -> None:
        super().__init__(clients, provider, secrets)
        self.functions = functions
        """The function service the gateway invokes."""
        self._cache: dict[str, tuple[float, int, Routing | None]] = {}
        clients.hook("after-call", "apigateway", None, changed_by)
        self._reading = threading.Lock()

    # ------------------------------------------------------------------------------------------ data plane

    def invoke_url(self, api_id: str, stage: str) -> str:
        """``http://127.0.0.1:{port}/{api_id}/{stage}`` on this process's gateway (started on first use)."""
        server = gateway()
        server.register(api_id, self)
        return f"{server.url}/{api_id}/{stage}"

    def invoke_function(self, function_arn: str, payload: bytes) -> Invocation:
        """Invoke the function an integration names (by its ARN)."""
        return self.functions.invoke(function_arn, payload, wait=True)

    def routing(self, api_id: str, fresh: bool = False) -> Routing | None:
        """What the gateway needs of ``api_id`` (None if there is no such API), read again when older than
        ``ROUTING_TTL``, after a change, or when ``fresh`` is asked (at most every ``REFRESH_GAP`` seconds)."""
        with self._reading:
            now = time.monotonic()
            cached = self._cache.get(api_id)
            if cached is not None and cached[1] == generation():
                age = now - cached[0]
                if age < ROUTING_TTL and (not fresh or age < REFRESH_GAP):
                    return cached[2]
            seen = generation()
            routing = self._read(api_id)
            self._cache[api_id] = (time.monotonic(), seen, routing)
            return routing

    def _read(self, api_id: str) -> Routing | None:
        try:
            stages = self.stages(api_id)
        except ce.NotFound:
            return None
        current: list[ResourceInfo] | None = None
        routes: dict[str, tuple[Route, ...]] = {}
        account = _DEFAULT_ACCOUNT
        for stage in stages:
            resources = _deployed.get((api_id, str(stage["deployment_id"])))
            if resources is None:
                current = self.resources(api_id) if current is None else current
                resources = current
            routes[stage["name"]] = tuple(Route(r["path"], r["id"], dict(r["methods"])) for r in resources)
            account = _account(resources) or account
        plans = self.usage_plans(api_id) if stages else []
        enabled = {k["id"]: bool(k.get("enabled")) for k in self._items("GetApiKeys")} if plans else {}
        by_stage: dict[str, list[Plan]] = {}
        for plan in plans:
            keys = {v: k["id"] for k in self.plan_keys(plan["id"]) if (v := k["value"]) and enabled.get(k["id"])}
            limits = Plan(plan["id"], plan["throttle"], plan["quota"], keys)
            for plan_api, stage_name in plan["stages"]:
                if plan_api == api_id:
                    by_stage.setdefault(stage_name, []).append(limits)
        return Routing(api_id, account, self.clients.region, routes, {k: tuple(v) for k, v in by_stage.items()},
                       self._grants({m["function_arn"] for rs in routes.values() for r in rs
                                     for m in r.methods.values() if m.get("function_arn")}))

    def _grants(self, function_arns: set[str]) -> dict[str, tuple[str, ...]]:
        """Per function, the source ARNs its resource policy lets API Gateway invoke it from (``*``: any)."""
        grants: dict[str, tuple[str, ...]] = {}
        for arn in function_arns:
            try:
                statements = self.functions.permissions(arn)
            except ce.NotFound:  # a function that is gone: the gateway answers 500, as API Gateway does
                statements = []
            grants[arn] = tuple(s.get("source_arn") or "*" for s in statements
                                if s.get("principal") == API_GATEWAY_PRINCIPAL)
        return grants

    # ------------------------------------------------------------------------------------------ changes
    # Every other change reaches the gateway through the ``changed_by`` hook (any request that is not a read).

    def delete_api(self, api_id: str) -> None:
        """Delete an API; the gateway stops serving it."""
        try:
            super().delete_api(api_id)
        finally:
            for deployed in [k for k in list(_deployed) if k[0] == api_id]:  # list(): other threads add to it
                _deployed.pop(deployed, None)
            changed()

    def deploy(self, api_id: str, stage: str, description: str | None, stage_description: str | None) -> str:
        """Deploy the current routes to ``stage``; the gateway serves them from the next request."""
        try:
            deployment_id = super().deploy(api_id, stage, description, stage_description)
            _deployed[(api_id, deployment_id)] = self.resources(api_id)
            return deployment_id
        finally:
            changed()


def _account(resources: Sequence[ResourceInfo]) -> str | None:
    """The account of the functions the routes invoke (the API's own, on one account)."""
    for resource in resources:
        for method in (resource.get("methods") or {}).values():
            parts = str(method.get("function_arn") or "").split(":")
            if len(parts) > 4 and parts[4]:
                return parts[4]
    return None
