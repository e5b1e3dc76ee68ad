"""The serverless contracts: functions (Lambda's model) and REST APIs in front of them (API Gateway's)."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, TypedDict

from cloudorm.providers.contract.service import Service, Wire


class FunctionInfo(TypedDict):
    """A function as Lambda describes it; what the provider does not report is None."""

    name: str
    arn: str | None
    runtime: str | None
    handler: str | None
    role: str | None
    """The execution role's ARN."""
    memory: int | None
    """MB."""
    timeout: int | None
    """Seconds."""
    environment: dict[str, str]
    architecture: str
    """``"x86_64"`` or ``"arm64"``."""
    description: str | None
    code_sha256: str | None
    """Base64 of the zip's SHA-256, as Lambda reports it."""
    code_size: int | None
    state: str | None
    """``Pending``, ``Active``, ``Inactive`` or ``Failed``."""
    update_status: str | None
    """``InProgress``, ``Successful`` or ``Failed``."""
    state_reason: str | None
    last_modified: str | None


class Invocation(TypedDict):
    """The answer to one ``invoke``."""

    status: int | None
    """HTTP status (202 for a queued event)."""
    payload: bytes
    error: str | None
    """Lambda's ``FunctionError``: ``"Unhandled"`` when the handler raised, else None."""
    log: str | None
    """The log tail, decoded, if any."""
    request_id: str | None


class LogEventInfo(TypedDict):
    """One event of a function's log."""

    time: datetime
    """When it was written (aware, UTC)."""
    message: str
    """Its text, as written (Lambda's lines end with a line feed)."""
    stream: str | None
    """The log stream it is in (one per execution environment)."""


class ApiInfo(TypedDict):
    """A REST API."""

    id: str
    name: str | None
    description: str | None
    created: datetime | None
    root_id: str | None
    """The id of its ``/`` resource."""


class PermissionInfo(TypedDict):
    """One statement of a function's resource policy."""

    sid: str | None
    principal: str | None
    source_arn: str | None


class MethodInfo(TypedDict):
    """One HTTP method of a resource."""

    key_required: bool
    function_arn: str | None
    """The Lambda proxy integration's target, or None."""
    mock_headers: dict[str, str] | None
    """A ``MOCK`` integration's response headers (a CORS preflight's, for cloudorm's), else None."""
    integration: str | None
    """The integration's type (``AWS_PROXY``, ``MOCK``, ``AWS``, ``HTTP_PROXY``...), None without one."""
    mock_status: int | None
    """A ``MOCK`` integration's status code (its request template's ``statusCode``, 200 if it names none)."""
    mock_body: str | None
    """A ``MOCK`` integration's ``application/json`` response template, as written (no VTL is evaluated)."""


class ResourceInfo(TypedDict):
    """One path of an API, with its methods by HTTP method."""

    id: str
    path: str
    parent_id: str | None
    path_part: str | None
    methods: dict[str, MethodInfo]


class StageInfo(TypedDict):
    """A stage of an API."""

    name: str
    deployment_id: str | None
    description: str | None


class ThrottleInfo(TypedDict):
    """A usage plan's steady rate (requests a second) and burst."""

    rate: float
    burst: int


class QuotaInfo(TypedDict):
    """A usage plan's request quota per period (``DAY``, ``WEEK`` or ``MONTH``)."""

    limit: int
    period: str
    offset: int


class UsagePlanInfo(TypedDict):
    """A usage plan: the stages it serves as ``(api_id, stage)`` and its limits (None: none)."""

    id: str
    name: str | None
    description: str | None
    stages: list[tuple[str, str]]
    throttle: ThrottleInfo | None
    quota: QuotaInfo | None


class PlanKeyInfo(TypedDict):
    """A key of a usage plan, with its value."""

    id: str
    name: str | None
    value: str | None


class _ApiKey(TypedDict):
    id: str
    name: str | None
    description: str | None
    enabled: bool | None
    created: datetime | None


class ApiKeyInfo(_ApiKey, total=False):
    """An API key; ``value`` where the provider returns it (``create_key``)."""

    value: str


class AccountUsageInfo(TypedDict):
    """Lambda's account settings in the session's region: code storage used against its limit, and concurrency."""

    code_size: int
    """Bytes of code stored: every version of every function, and layers."""
    function_count: int
    code_size_limit: int
    """Bytes of code the region may store."""
    zip_size_limit: int
    """Largest zip a function may upload directly (bytes)."""
    unzipped_size_limit: int
    """Largest unzipped function with its layers (bytes)."""
    concurrency_limit: int
    """Executions the region may run at once."""
    unreserved_concurrency: int
    """What is left of ``concurrency_limit`` once functions' reserved concurrency is taken."""


class UsageInfo(TypedDict):
    """API Gateway's usage data of a usage plan: per key id, one ``(used, remaining)`` pair per day from ``start``
    (``remaining`` is the quota left at the day's end; a plan without a quota reports what the provider does)."""

    plan_id: str
    start: date
    end: date
    keys: dict[str, list[tuple[int, int]]]


class FunctionService(Service):
    """Serverless functions (AWS Lambda's model).

    A function is described by ``FunctionInfo``. A ``spec`` holds the settable keys:
    ``runtime``, ``handler``, ``role``, ``memory``, ``timeout``, ``environment``, ``architecture``,
    ``description``. A missing function is ``NotFound``."""

    area: ClassVar[str] = "serverless"
    core: ClassVar[frozenset[str]] = frozenset({
        "create_function", "delete_function", "get_function", "invoke", "list_functions", "update_code",
        "update_configuration"})

    def create_function(self, name: str, spec: Wire, code: bytes) -> FunctionInfo:
        """Create a function from ``spec`` and a zip; returns its record."""
        raise self._unsupported("create_function")

    def update_code(self, name: str, code: bytes, architecture: str) -> FunctionInfo:
        """Upload a new zip; returns the record."""
        raise self._unsupported("update_code")

    def update_configuration(self, name: str, changes: Wire) -> FunctionInfo:
        """Change settings (keys of a ``spec`` except ``architecture``); returns the record."""
        raise self._unsupported("update_configuration")

    def get_function(self, name: str) -> FunctionInfo:
        """The record of a function."""
        raise self._unsupported("get_function")

    def delete_function(self, name: str) -> None:
        """Delete a function."""
        raise self._unsupported("delete_function")

    def list_functions(self, start: str | None, limit: int | None) -> tuple[list[FunctionInfo], str | None]:
        """One page of records and the marker to continue from (``None`` at the end)."""
        raise self._unsupported("list_functions")

    def invoke(self, name: str, payload: bytes, wait: bool = True) -> Invocation:
        """Run a function on ``payload`` (JSON bytes): synchronously (``wait``), or queue it as an event."""
        raise self._unsupported("invoke")

    def logs(self, name: str, since: datetime | None, limit: int | None) -> list[LogEventInfo]:
        """The function's log events from ``since`` (all if None), oldest first; only the last ``limit`` if given;
        [] when it has no log yet."""
        raise self._unsupported("logs")

    def add_permission(self, name: str, statement_id: str, principal: str, source_arn: str) -> None:
        """Let ``principal`` (e.g. ``apigateway.amazonaws.com``) invoke the function from ``source_arn``."""
        raise self._unsupported("add_permission")

    def permissions(self, name: str) -> list[PermissionInfo]:
        """The function's resource policy statements: ``sid``, ``principal``, ``source_arn`` each."""
        raise self._unsupported("permissions")

    def remove_permission(self, name: str, statement_id: str) -> None:
        """Remove one statement of the function's resource policy."""
        raise self._unsupported("remove_permission")

    def account_usage(self) -> AccountUsageInfo:
        """Code storage used against the account's limit, the function count and concurrency, in this region."""
        raise self._unsupported("account_usage")

API_GATEWAY_PRINCIPAL = "apigateway.amazonaws.com"
"""The service principal a function's invoke permission names so that an API's routes may call it."""


class ApiService(Service):
    """REST APIs in front of functions, with stages, API keys and usage plans (API Gateway's REST model).

    Described by ``ApiInfo``, ``ResourceInfo`` (with its ``MethodInfo`` by HTTP method), ``StageInfo``,
    ``UsagePlanInfo`` and ``ApiKeyInfo`` (``PlanKeyInfo`` in a plan's listing)."""

    area: ClassVar[str] = "api_gateway"
    core: ClassVar[frozenset[str]] = frozenset({
        "create_api", "create_resource", "delete_api", "delete_method", "delete_resource", "deploy", "get_api",
        "invoke_url", "list_apis", "put_lambda_method", "resources", "source_arn", "stages", "update_api"})

    def create_api(self, name: str, description: str | None) -> ApiInfo:
        """Create a REST API; returns its record."""
        raise self._unsupported("create_api")

    def get_api(self, api_id: str) -> ApiInfo:
        """The record of an API (``NotFound`` if absent)."""
        raise self._unsupported("get_api")

    def list_apis(self, start: str | None, limit: int | None) -> tuple[list[ApiInfo], str | None]:
        """One page of API records and the position to continue from."""
        raise self._unsupported("list_apis")

    def update_api(self, api_id: str, description: str | None) -> None:
        """Change an API's description."""
        raise self._unsupported("update_api")

    def delete_api(self, api_id: str) -> None:
        """Delete an API with its resources, deployments and stages."""
        raise self._unsupported("delete_api")

    def resources(self, api_id: str) -> list[ResourceInfo]:
        """Every resource of an API, with its methods."""
        raise self._unsupported("resources")

    def create_resource(self, api_id: str, parent_id: str, path_part: str) -> ResourceInfo:
        """Add a child resource (one path segment, e.g. ``orders`` or ``{id}``); returns its record."""
        raise self._unsupported("create_resource")

    def delete_resource(self, api_id: str, resource_id: str) -> None:
        """Remove a resource with its children and methods."""
        raise self._unsupported("delete_resource")

    def put_lambda_method(self, api_id: str, resource_id: str, method: str, function_arn: str,
                          key_required: bool) -> None:
        """Create or replace a method that proxies every request to a function (Lambda proxy integration)."""
        raise self._unsupported("put_lambda_method")

    def put_mock_method(self, api_id: str, resource_id: str, method: str, headers: dict[str, str]) -> None:
        """Create or replace a method the gateway answers itself with 200 and ``headers`` (CORS preflight)."""
        raise self._unsupported("put_mock_method")

    def delete_method(self, api_id: str, resource_id: str, method: str) -> None:
        """Remove a method."""
        raise self._unsupported("delete_method")

    def deploy(self, api_id: str, stage: str, description: str | None, stage_description: str | None) -> str:
        """Deploy the API's current routes to ``stage`` (created if needed); returns the deployment id."""
        raise self._unsupported("deploy")

    def stages(self, api_id: str) -> list[StageInfo]:
        """The API's stages: ``name``, ``deployment_id``, ``description`` each."""
        raise self._unsupported("stages")

    def invoke_url(self, api_id: str, stage: str) -> str:
        """The base URL that serves ``stage`` of the API (no trailing slash)."""
        raise self._unsupported("invoke_url")

    def source_arn(self, api_id: str, function_arn: str, method: str, path: str) -> str:
        """The ``execute-api`` ARN a function's invoke permission names for one route of this API."""
        raise self._unsupported("source_arn")

    def usage_plans(self, api_id: str | None = None) -> list[UsagePlanInfo]:
        """Usage plans (those serving a stage of ``api_id`` when given)."""
        raise self._unsupported("usage_plans")

    def create_usage_plan(self, name: str, description: str | None, stages: list[tuple[str, str]],
                          throttle: ThrottleInfo | None, quota: QuotaInfo | None) -> UsagePlanInfo:
        """Create a usage plan for ``stages``; returns its record."""
        raise self._unsupported("create_usage_plan")

    def update_usage_plan(self, plan_id: str, description: str | None, throttle: ThrottleInfo | None,
                          quota: QuotaInfo | None) -> None:
        """Set a plan's description, throttle and quota (None removes them)."""
        raise self._unsupported("update_usage_plan")

    def delete_usage_plan(self, plan_id: str) -> None:
        """Delete a usage plan (its stages are unlinked first)."""
        raise self._unsupported("delete_usage_plan")

    def create_key(self, name: str, description: str | None, enabled: bool) -> ApiKeyInfo:
        """Create an API key; its record carries ``value``."""
        raise self._unsupported("create_key")

    def add_key_to_plan(self, plan_id: str, key_id: str) -> None:
        """Let a key call the stages of a plan."""
        raise self._unsupported("add_key_to_plan")

    def update_key(self, key_id: str, description: str | None, enabled: bool) -> None:
        """Change a key's description and whether it is enabled."""
        raise self._unsupported("update_key")

    def plan_keys(self, plan_id: str) -> list[PlanKeyInfo]:
        """The keys of a plan, each with its ``value``."""
        raise self._unsupported("plan_keys")

    def get_key(self, key_id: str) -> ApiKeyInfo:
        """A key's record (without its value)."""
        raise self._unsupported("get_key")

    def delete_key(self, key_id: str) -> None:
        """Delete an API key."""
        raise self._unsupported("delete_key")

    def usage(self, plan_id: str, start: date, end: date, key_id: str | None = None) -> UsageInfo:
        """The requests each key of a plan made per day from ``start`` to ``end`` (UTC, both included), with the
        quota left; one key's only with ``key_id`` (``NotFound`` if it is not in the plan)."""
        raise self._unsupported("usage")
