"""REST APIs on API Gateway (AWS and the local cloud) through botocore's ``apigateway`` client.

Records come back as the neutral dicts ``ApiService`` describes. Methods are Lambda proxy integrations (type
``AWS_PROXY``) or CORS preflights the gateway answers itself (type ``MOCK``); usage plans carry a throttle and a
quota; API key values are kept out of every log line from the moment a response holds one.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from typing import Any

from botocore import exceptions as bx
from botocore import xform_name

from cloudorm import errors as ce
from cloudorm.credentials import protect
from cloudorm.providers.aws.api_usage import UsageReads
from cloudorm.providers.aws.clients import ClientFactory, paginate
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.aws.s3 import _dns_suffix
from cloudorm.providers.aws.settle import send_settled
from cloudorm.providers.contract import ApiInfo, ApiKeyInfo, ApiService, MethodInfo, PlanKeyInfo, QuotaInfo, Wire
from cloudorm.providers.contract.serverless import ResourceInfo, StageInfo, ThrottleInfo, UsagePlanInfo

LAMBDA_API_VERSION = "2015-03-31"
_LAMBDA_URI = re.compile(r"arn:[^:]+:apigateway:[^:]+:lambda:path/[0-9-]+/functions/(?P<arn>.+)/invocations")
_KEY_VALUE = re.compile(rb'"value"\s*:\s*"([^"]+)"')
_HEADER = "method.response.header."
_PARAM = re.compile(r"\{[^}]+\}")

MUTATING = ("CreateRestApi", "DeleteRestApi", "CreateResource", "DeleteResource", "PutMethod", "DeleteMethod",
            "PutMethodResponse", "CreateDeployment", "CreateUsagePlan", "UpdateUsagePlan", "DeleteUsagePlan",
            "CreateApiKey", "CreateUsagePlanKey", "DeleteUsagePlanKey", "DeleteApiKey")
"""API Gateway operations botocore never re-sends: after a lost answer, what API Gateway has decides (``_settled``).
The others it sends (integrations, integration responses, stage and API updates) set values: sending them twice is
harmless."""

KEY_LENGTH = 40
"""Characters of the API key values cloudorm makes (as API Gateway's own; it takes 20 to 128)."""


def _number(value: float) -> str:
    """A number as a patch operation's value: ``100`` for 100.0 (emulators parse integral rates as ints)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _api(raw: Wire) -> ApiInfo:
    return {"id": raw["id"], "name": raw.get("name"), "description": raw.get("description") or None,
            "created": raw.get("createdDate"), "root_id": raw.get("rootResourceId")}


def _method(raw: Wire) -> MethodInfo:
    integration = raw.get("methodIntegration") or {}
    kind = integration.get("type")
    info: MethodInfo = {"key_required": bool(raw.get("apiKeyRequired")), "function_arn": None, "mock_headers": None,
                        "integration": kind, "mock_status": None, "mock_body": None}
    if kind == "AWS_PROXY":
        match = _LAMBDA_URI.fullmatch(integration.get("uri") or "")
        info["function_arn"] = match.group("arn") if match else None
    elif kind == "MOCK":
        status = _mock_status(integration)
        responses = integration.get("integrationResponses") or {}
        answer: Wire = responses.get(str(status)) or next(
            (r for r in responses.values() if not r.get("selectionPattern")), {})
        info["mock_headers"] = {k[len(_HEADER):]: str(v).strip("'")
                                for k, v in (answer.get("responseParameters") or {}).items() if k.startswith(_HEADER)}
        info["mock_status"] = int(answer.get("statusCode") or status)
        info["mock_body"] = str((answer.get("responseTemplates") or {}).get("application/json") or "")
    return info


def _mock_status(integration: Wire) -> int:
    """The status a MOCK integration's request template selects (``{"statusCode": 200}``; 200 when it names none)."""
    template = (integration.get("requestTemplates") or {}).get("application/json") or ""
    try:
        status = json.loads(template).get("statusCode", 200)
        return int(status)
    except (ValueError, TypeError, AttributeError):
        return 200


def resource_info(raw: Wire) -> ResourceInfo:
    """A resource record from API Gateway's wire form (a GetResources item, methods embedded)."""
    return {"id": raw["id"], "path": raw["path"], "parent_id": raw.get("parentId"), "path_part": raw.get("pathPart"),
            "methods": {m: _method(v or {}) for m, v in (raw.get("resourceMethods") or {}).items()}}


def _plan(raw: Wire) -> UsagePlanInfo:
    throttle, quota = raw.get("throttle") or {}, raw.get("quota") or {}
    return {"id": raw["id"], "name": raw.get("name"), "description": raw.get("description") or None,
            "stages": [(s["apiId"], s["stage"]) for s in raw.get("apiStages") or []],
            "throttle": {"rate": float(throttle["rateLimit"]), "burst": int(throttle["burstLimit"])}
            if "rateLimit" in throttle and "burstLimit" in throttle else None,
            "quota": {"limit": int(quota["limit"]), "period": str(quota["period"]),
                      "offset": int(quota.get("offset") or 0)} if "limit" in quota and "period" in quota else None}


def _duplicates(kind: str, name: str, found: list[Wire]) -> str:
    """Says that several ``kind`` (``REST APIs``) share one name, perhaps made twice by an earlier request whose
    answer was lost (before cloudorm stopped re-sending it), and which ones they are."""
    return (f"{len(found)} {kind} are named {name!r} ({', '.join(str(f['id']) for f in found)}), perhaps made "
            "twice by an earlier request whose answer was lost")


def _key(raw: Wire, value: bool) -> ApiKeyInfo:
    out: ApiKeyInfo = {"id": raw["id"], "name": raw.get("name"), "description": raw.get("description") or None,
           "enabled": raw.get("enabled"), "created": raw.get("createdDate")}
    if value and raw.get("value"):
        out["value"] = raw["value"]
    return out


class AwsApiService(UsageReads, ApiService):
    """``ApiService`` over botocore's API Gateway (REST APIs, v1) client."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        self.clients = clients
        """The session's ClientFactory."""
        self.provider = provider
        """The provider's name, for errors."""
        self._secrets = secrets
        self._lock = threading.Lock()
        clients.hook("before-parse", "apigateway", ("CreateApiKey", "GetApiKey", "GetApiKeys", "GetUsagePlanKeys",
                                            "GetUsagePlanKey", "CreateUsagePlanKey"), self._protect_values)
        clients.no_resend("apigateway", MUTATING)

    # ------------------------------------------------------------------------------------------------ plumbing

    @property
    def client(self) -> Any:
        """The botocore API Gateway client (hooked so that key values never reach a log line)."""
        return self.clients.client("apigateway")

    def _protect_values(self, response_dict: Wire, **_: Any) -> None:
        """Keep API key values out of every log line and message, before botocore's parser logs the body."""
        body = response_dict.get("body") or b""
        values = [m.group(1).decode() for m in _KEY_VALUE.finditer(body if isinstance(body, bytes) else body.encode())]
        if values:
            protect(tuple(values))
            with self._lock:
                self._secrets = (*self._secrets, *values)

    def _call(self, operation: str, **params: Any) -> Any:
        """Send one API Gateway operation (e.g. ``GetRestApi``), mapping errors."""
        try:
            return getattr(self.client, xform_name(operation))(**params)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise map_error(e, self.provider, operation, self._secrets) from None

    def _settled(self, operation: str, look: Callable[[], Wire | None], **params: Any) -> Wire:
        """Send one operation of ``MUTATING`` and return its answer: after a lost answer, ``look()`` says whether
        API Gateway applied it (the outcome) or not (None: sent again); errors are mapped."""
        method = getattr(self.client, xform_name(operation))
        return self._settled_by(operation, lambda: method(**params), look)

    def _settled_by(self, operation: str, send: Callable[[], Wire], look: Callable[[], Wire | None]) -> Wire:
        """``_settled`` for a request ``send()`` builds anew each time (from what the service has then)."""
        try:
            return send_settled(send, look, attempts=self.clients.options.max_attempts)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise map_error(e, self.provider, operation, self._secrets) from None

    def _exists(self, operation: str, **params: Any) -> bool:
        """Whether reading the thing (``GetRestApi``, ...) finds it."""
        try:
            self._call(operation, **params)
        except ce.NotFound:
            return False
        return True

    def _gone(self, operation: str, **params: Any) -> Wire | None:
        """A delete's look: ``{}`` (done) if reading the thing finds nothing, else None."""
        return None if self._exists(operation, **params) else {}

    def _items(self, operation: str, **params: Any) -> Iterator[Wire]:
        """Every item of every page of a paginated operation (API Gateway's position and limit)."""
        return paginate(self.client, operation, "items", self.provider, self._secrets, **params)

    # ------------------------------------------------------------------------------------------------ APIs

    def create_api(self, name: str, description: str | None) -> ApiInfo:
        """Create a REST API (regional endpoint); returns its record."""
        params: Wire = {"name": name, "endpointConfiguration": {"types": ["REGIONAL"]}}
        if description:
            params["description"] = description

        def look() -> Wire | None:  # the API made by the request whose answer was lost, found by its name
            found = [a for a in self._items("GetRestApis", PaginationConfig={"PageSize": 500}) if a["name"] == name]
            if len(found) > 1:
                raise ce.ConflictError(_duplicates("REST APIs", name, found) + ": delete the extra ones",
                                       provider=self.provider, operation="CreateRestApi")
            return found[0] if found else None

        return _api(self._settled("CreateRestApi", look, **params))

    def get_api(self, api_id: str) -> ApiInfo:
        """The record of an API (``NotFound`` if absent)."""
        return _api(self._call("GetRestApi", restApiId=api_id))

    def list_apis(self, start: str | None, limit: int | None) -> tuple[list[ApiInfo], str | None]:
        """One page of API records and the position to continue from."""
        params: Wire = {}
        if start:
            params["position"] = start
        if limit:
            params["limit"] = min(limit, 500)
        page = self._call("GetRestApis", **params)
        return [_api(a) for a in page.get("items") or []], page.get("position") or None

    def update_api(self, api_id: str, description: str | None) -> None:
        """Change an API's description."""
        self._call("UpdateRestApi", restApiId=api_id,
                   patchOperations=[{"op": "replace", "path": "/description", "value": description or ""}])

    def delete_api(self, api_id: str) -> None:
        """Delete an API with its resources, deployments and stages."""
        self._settled("DeleteRestApi", lambda: self._gone("GetRestApi", restApiId=api_id), restApiId=api_id)

    # ------------------------------------------------------------------------------------------------ routes

    def resources(self, api_id: str) -> list[ResourceInfo]:
        """Every resource of an API, with its methods."""
        return [resource_info(r) for r in self._items("GetResources", restApiId=api_id, embed=["methods"],
                                                   PaginationConfig={"PageSize": 500})]

    def create_resource(self, api_id: str, parent_id: str, path_part: str) -> ResourceInfo:
        """Add a child resource (one path segment); returns its record."""
        def look() -> Wire | None:  # the resource made by the request whose answer was lost
            return next((r for r in self._items("GetResources", restApiId=api_id, PaginationConfig={"PageSize": 500})
                         if r.get("parentId") == parent_id and r.get("pathPart") == path_part), None)

        return resource_info(self._settled("CreateResource", look, restApiId=api_id, parentId=parent_id,
                                       pathPart=path_part))

    def delete_resource(self, api_id: str, resource_id: str) -> None:
        """Remove a resource with its children and methods."""
        self._settled("DeleteResource", lambda: self._gone("GetResource", restApiId=api_id, resourceId=resource_id),
                      restApiId=api_id, resourceId=resource_id)

    def _put_method(self, api_id: str, resource_id: str, method: str, key_required: bool) -> None:
        where = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": method}
        params = {**where, "authorizationType": "NONE", "apiKeyRequired": key_required}

        def look() -> Wire | None:  # the method put by the request whose answer was lost
            try:
                have = self._call("GetMethod", **where)
            except ce.NotFound:
                return None
            return have if bool(have.get("apiKeyRequired")) == key_required else None

        try:
            self._settled("PutMethod", look, **params)
        except ce.ConflictError:  # API Gateway creates methods only: replace means delete, then put
            self.delete_method(api_id, resource_id, method)
            self._settled("PutMethod", look, **params)

    def lambda_uri(self, function_arn: str) -> str:
        """The Lambda proxy integration URI that invokes ``function_arn`` through Lambda in the function's region
        (this session's region when the ARN does not say)."""
        parts = function_arn.split(":")
        partition, region = (parts[1], parts[3]) if len(parts) >= 7 else ("aws", self.clients.region)
        return (f"arn:{partition}:apigateway:{region}:lambda:path/{LAMBDA_API_VERSION}/functions/"
                f"{function_arn}/invocations")

    def put_lambda_method(self, api_id: str, resource_id: str, method: str, function_arn: str,
                          key_required: bool) -> None:
        """Create or replace a method proxying every request to a function (Lambda proxy integration)."""
        self._put_method(api_id, resource_id, method, key_required)
        self._call("PutIntegration", restApiId=api_id, resourceId=resource_id, httpMethod=method, type="AWS_PROXY",
                   integrationHttpMethod="POST", uri=self.lambda_uri(function_arn))

    def put_mock_method(self, api_id: str, resource_id: str, method: str, headers: dict[str, str]) -> None:
        """Create or replace a method the gateway answers itself with 200 and ``headers`` (CORS preflight)."""
        self._put_method(api_id, resource_id, method, False)
        where = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": method}
        self._call("PutIntegration", **where, type="MOCK",
                   requestTemplates={"application/json": json.dumps({"statusCode": 200})})
        self._settled("PutMethodResponse", lambda: {} if self._exists("GetMethodResponse", **where, statusCode="200")
                      else None, **where, statusCode="200", responseParameters={_HEADER + h: False for h in headers},
                      responseModels={"application/json": "Empty"})
        self._call("PutIntegrationResponse", **where, statusCode="200",
                   responseParameters={_HEADER + h: f"'{v}'" for h, v in headers.items()},
                   responseTemplates={"application/json": ""})

    def delete_method(self, api_id: str, resource_id: str, method: str) -> None:
        """Remove a method."""
        where = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": method}
        self._settled("DeleteMethod", lambda: self._gone("GetMethod", **where), **where)

    # ------------------------------------------------------------------------------------------------ stages

    def deploy(self, api_id: str, stage: str, description: str | None, stage_description: str | None) -> str:
        """Deploy the current routes to ``stage`` (created if needed) and set its description; the deployment id.
        After a lost answer, a stage serving another deployment than before shows the deployment was made."""
        params: Wire = {"restApiId": api_id, "stageName": stage}
        if description:
            params["description"] = description
        if stage_description:
            params["stageDescription"] = stage_description

        def serving() -> str | None:  # the deployment the stage serves (None: no such stage)
            return next((s["deployment_id"] for s in self.stages(api_id) if s["name"] == stage), None)

        before = serving()

        def look() -> Wire | None:
            now = serving()
            return {"id": now} if now is not None and now != before else None

        deployment_id = str(self._settled("CreateDeployment", look, **params)["id"])
        if stage_description is not None:  # a stage that existed keeps its description otherwise
            self._call("UpdateStage", restApiId=api_id, stageName=stage,
                       patchOperations=[{"op": "replace", "path": "/description", "value": stage_description}])
        return deployment_id

    def stages(self, api_id: str) -> list[StageInfo]:
        """The API's stages: ``name``, ``deployment_id``, ``description`` each."""
        return [{"name": s["stageName"], "deployment_id": s.get("deploymentId"),
                 "description": s.get("description") or None}
                for s in self._call("GetStages", restApiId=api_id).get("item") or []]

    def invoke_url(self, api_id: str, stage: str) -> str:
        """``https://{id}.execute-api.{region}.amazonaws.com/{stage}`` (no request)."""
        region = self.clients.region
        return f"https://{api_id}.execute-api.{region}.{_dns_suffix(region)}/{stage}"

    def source_arn(self, api_id: str, function_arn: str, method: str, path: str) -> str:
        """``arn:{partition}:execute-api:{region}:{account}:{api_id}/*/{METHOD}/{path}``, the account and partition
        taken from the function's ARN; path parameters (``{id}``, ``{proxy+}``) and ``ANY`` become ``*``."""
        parts = function_arn.split(":")
        partition, account = (parts[1], parts[4]) if len(parts) > 4 else ("aws", "*")
        verb = "*" if method == "ANY" else method
        return (f"arn:{partition}:execute-api:{self.clients.region}:{account}:{api_id}/*/{verb}/"
                f"{_PARAM.sub('*', path.lstrip('/'))}")

    # ------------------------------------------------------------------------------------------------ usage plans

    def usage_plans(self, api_id: str | None = None) -> list[UsagePlanInfo]:
        """Usage plans (those serving a stage of ``api_id`` when given)."""
        plans = [_plan(p) for p in self._items("GetUsagePlans")]
        return [p for p in plans if api_id is None or any(a == api_id for a, _ in p["stages"])]

    def create_usage_plan(self, name: str, description: str | None, stages: list[tuple[str, str]],
                          throttle: ThrottleInfo | None, quota: QuotaInfo | None) -> UsagePlanInfo:
        """Create a usage plan for ``stages``; returns its record."""
        params: Wire = {"name": name, "apiStages": [{"apiId": a, "stage": s} for a, s in stages]}
        if description:
            params["description"] = description
        if throttle:
            params["throttle"] = {"rateLimit": float(throttle["rate"]), "burstLimit": int(throttle["burst"])}
        if quota:
            params["quota"] = {"limit": int(quota["limit"]), "period": quota["period"], "offset": int(quota["offset"])}

        def look() -> Wire | None:  # the plan made by the request whose answer was lost, found by name and stages
            found = [p for p in self._items("GetUsagePlans")
                     if p.get("name") == name and set(_plan(p)["stages"]) == set(stages)]
            if len(found) > 1:
                raise ce.ConflictError(_duplicates("usage plans", name, found) + " for the same stages: delete the "
                                       "extra ones", provider=self.provider, operation="CreateUsagePlan")
            return found[0] if found else None

        return _plan(self._settled("CreateUsagePlan", look, **params))

    def update_usage_plan(self, plan_id: str, description: str | None, throttle: ThrottleInfo | None,
                          quota: QuotaInfo | None) -> None:
        """Set a plan's description, throttle and quota (None removes them); only what differs is sent (after a
        lost answer, what still differs)."""
        def send() -> Wire:
            ops = self._plan_changes(plan_id, description, throttle, quota)
            return self.client.update_usage_plan(usagePlanId=plan_id, patchOperations=ops) if ops else {}

        def look() -> Wire | None:
            return None if self._plan_changes(plan_id, description, throttle, quota) else {}

        self._settled_by("UpdateUsagePlan", send, look)

    def _plan_changes(self, plan_id: str, description: str | None, throttle: ThrottleInfo | None,
                      quota: QuotaInfo | None) -> list[Wire]:
        """The patch operations that make a plan's description, throttle and quota these (none if they are)."""
        now = _plan(self._call("GetUsagePlan", usagePlanId=plan_id))
        ops: list[Wire] = []
        if (description or None) != now["description"]:
            ops.append({"op": "replace", "path": "/description", "value": description or ""})
        if throttle != now["throttle"]:
            if throttle is None:
                ops.append({"op": "remove", "path": "/throttle"})
            else:
                ops += [{"op": "replace", "path": "/throttle/rateLimit", "value": _number(throttle["rate"])},
                        {"op": "replace", "path": "/throttle/burstLimit", "value": str(int(throttle["burst"]))}]
        if quota != now["quota"]:
            if quota is None:
                ops.append({"op": "remove", "path": "/quota"})
            else:
                ops += [{"op": "replace", "path": f"/quota/{k}", "value": str(quota[k])}
                        for k in ("limit", "period", "offset")]
        return ops

    def delete_usage_plan(self, plan_id: str) -> None:
        """Delete a usage plan, unlinking its stages first (API Gateway refuses to delete a plan with stages)."""
        def stages() -> list[tuple[str, str]]:
            return list(_plan(self._call("GetUsagePlan", usagePlanId=plan_id))["stages"])

        def unlink() -> Wire:
            linked = stages()
            return self.client.update_usage_plan(usagePlanId=plan_id, patchOperations=[
                {"op": "remove", "path": "/apiStages", "value": f"{a}:{s}"} for a, s in linked]) if linked else {}

        self._settled_by("UpdateUsagePlan", unlink, lambda: None if stages() else {})
        self._settled("DeleteUsagePlan", lambda: self._gone("GetUsagePlan", usagePlanId=plan_id), usagePlanId=plan_id)

    # ------------------------------------------------------------------------------------------------ keys

    def create_key(self, name: str, description: str | None, enabled: bool) -> ApiKeyInfo:
        """Create an API key; its record carries ``value`` (shown only now). cloudorm makes the value (random, as
        API Gateway would): after a lost answer it tells the key that request made."""
        value = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(KEY_LENGTH))
        protect((value,))  # (before botocore logs the request)
        with self._lock:
            self._secrets = (*self._secrets, value)
        params: Wire = {"name": name, "enabled": enabled, "value": value}
        if description:
            params["description"] = description

        def look() -> Wire | None:  # the key made by the request whose answer was lost: the one with this value
            return next((k for k in self._items("GetApiKeys", nameQuery=name, includeValues=True)
                         if k.get("value") == value), None)

        return _key(self._settled("CreateApiKey", look, **params), value=True)

    def add_key_to_plan(self, plan_id: str, key_id: str) -> None:
        """Let a key call the stages of a plan."""
        where = {"usagePlanId": plan_id, "keyId": key_id}
        self._settled("CreateUsagePlanKey", lambda: {} if self._exists("GetUsagePlanKey", **where) else None, **where,
                      keyType="API_KEY")

    def plan_keys(self, plan_id: str) -> list[PlanKeyInfo]:
        """The keys of a plan: ``id``, ``name`` and ``value`` each (all a usage plan key carries)."""
        return [{"id": k["id"], "name": k.get("name"), "value": k.get("value")}
                for k in self._items("GetUsagePlanKeys", usagePlanId=plan_id)]

    def get_key(self, key_id: str) -> ApiKeyInfo:
        """A key's record (without its value)."""
        return _key(self._call("GetApiKey", apiKey=key_id, includeValue=False), value=False)

    def update_key(self, key_id: str, description: str | None, enabled: bool) -> None:
        """Change a key's description and whether it is enabled."""
        operations = [{"op": "replace", "path": "/description", "value": description or ""},
                      {"op": "replace", "path": "/enabled", "value": "true" if enabled else "false"}]
        self._call("UpdateApiKey", apiKey=key_id, patchOperations=operations)

    def delete_key(self, key_id: str) -> None:
        """Delete an API key, taking it out of its usage plans first."""
        for plan in self._items("GetUsagePlans", keyId=key_id):
            with contextlib.suppress(ce.NotFound):  # taken out meanwhile
                self._remove_key(plan["id"], key_id)
        self._settled("DeleteApiKey", lambda: self._gone("GetApiKey", apiKey=key_id), apiKey=key_id)

    def _remove_key(self, plan_id: str, key_id: str) -> None:
        """Take a key out of a plan."""
        where = {"usagePlanId": plan_id, "keyId": key_id}
        self._settled("DeleteUsagePlanKey", lambda: self._gone("GetUsagePlanKey", **where), **where)
