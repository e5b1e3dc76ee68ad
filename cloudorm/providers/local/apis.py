"""REST APIs on the local cloud: moto keeps the control plane; the local cloud's server serves the deployed stages.

``invoke_url`` is ``{endpoint}/restapis/{api_id}/{stage}/_user_request_`` (LocalStack's form) on the server the
session talks to: the same URL from every process, valid for as long as that server runs. The server's gateway part
(``gateway.py``) reads what it serves through this service, on a session pointed at the server itself.
"""

from __future__ import annotations

from cloudorm import errors as ce
from cloudorm.providers.aws.apigateway import AwsApiService
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.contract import API_GATEWAY_PRINCIPAL, FunctionService, Invocation, ResourceInfo
from cloudorm.providers.local.deployments import Deployments
from cloudorm.providers.local.routing import Plan, Route, Routing


class LocalApiService(AwsApiService):
    """``ApiService`` of the local cloud: the control plane on moto, the data plane on the local cloud's server."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = (), *,
                 functions: FunctionService) -> None:
        super().__init__(clients, provider, secrets)
        self.functions = functions
        """The function service the gateway invokes through (and reads invoke permissions from)."""

    def invoke_url(self, api_id: str, stage: str) -> str:
        """``{endpoint}/restapis/{api_id}/{stage}/_user_request_`` on the local cloud's server (no request)."""
        endpoint = (self.clients.endpoint("apigateway") or "").rstrip("/")
        return f"{endpoint}/restapis/{api_id}/{stage}/_user_request_"

    def invoke_function(self, function_arn: str, payload: bytes) -> Invocation:
        """Invoke the function an integration names (by its ARN), synchronously."""
        return self.functions.invoke(function_arn, payload, wait=True)

    def routing(self, api_id: str, account: str, deployments: Deployments) -> Routing | None:
        """What the gateway needs of ``api_id`` (of ``account``), read now: each stage's routes (those of its
        deployment as ``deployments`` kept it, the current ones for a deployment it did not keep), the stages' usage
        plans with their enabled keys, and the functions' invoke grants. None if there is no such API."""
        try:
            stages = self.stages(api_id)
        except ce.NotFound:
            return None
        current: list[ResourceInfo] | None = None
        routes: dict[str, tuple[Route, ...]] = {}
        for stage in stages:
            resources = deployments.get(api_id, str(stage["deployment_id"]))
            if resources is None:
                current = self.resources(api_id) if current is None else current
                resources = current
            routes[stage["name"]] = tuple(Route(r["path"], r["id"], dict(r["methods"])) for r in resources)
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
