"""The provider layer's contract: one small service protocol per area, and the Provider base class.

Entities talk only to these protocols (``session.nosql``, ``session.storage``, ...). A provider implements the areas
it supports; asking for any other area raises ``Unsupported`` before any network call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import attrs

from cloudorm.checks import check_seconds
from cloudorm.counting import RequestHub
from cloudorm.errors import InvalidInput, Unsupported

if TYPE_CHECKING:
    import io

    from cloudorm.storage.transfer import DownloadJob, Progress, Properties, Source, UploadJob

Wire = dict[str, Any]


class NoSQLService(Protocol):
    """DynamoDB-style tables and items. Requests and responses use DynamoDB's parameter names and wire format
    (attribute values as ``{"S": ...}``), which ``cloudorm.nosql.codec`` produces and reads."""

    def create_table(self, params: Wire) -> Wire:
        """Create a table; returns its TableDescription."""

    def describe_table(self, name: str) -> Wire:
        """The TableDescription of ``name`` (``NotFound`` if absent)."""

    def update_table(self, params: Wire) -> Wire:
        """Change billing or indexes; returns the TableDescription."""

    def delete_table(self, name: str) -> None:
        """Delete a table (``NotFound`` if absent)."""

    def list_tables(self, start: str | None = None, limit: int | None = None) -> tuple[list[str], str | None]:
        """One page of table names and the name to continue after (``None`` at the end)."""

    def describe_ttl(self, name: str) -> Wire:
        """The TimeToLiveDescription of a table."""

    def update_ttl(self, name: str, attribute: str, enabled: bool) -> None:
        """Turn time-to-live on (on ``attribute``) or off."""

    def put_item(self, params: Wire, *, exactly_once: bool = False) -> Wire:
        """PutItem; returns the response (``Attributes`` when old values were asked for). ``exactly_once``: the
        write is applied at most once even when its answer is lost and it is re-sent (a versioned save)."""

    def get_item(self, params: Wire) -> Wire | None:
        """GetItem; the item's attribute values, or ``None`` when absent."""

    def update_item(self, params: Wire, *, exactly_once: bool = False) -> Wire:
        """UpdateItem; returns the response (``Attributes`` as asked by ReturnValues); ``exactly_once`` as for
        ``put_item``."""

    def delete_item(self, params: Wire) -> Wire:
        """DeleteItem; returns the response."""

    def query(self, params: Wire) -> Wire:
        """One Query page: ``Items``, ``Count``, ``ScannedCount`` and ``LastEvaluatedKey`` if more remain."""

    def scan(self, params: Wire) -> Wire:
        """One Scan page, shaped like ``query``."""

    def batch_write(self, request_items: Wire) -> Wire:
        """One BatchWriteItem call; returns ``UnprocessedItems`` (maybe empty)."""

    def batch_get(self, request_items: Wire) -> tuple[dict[str, list[Wire]], Wire]:
        """One BatchGetItem call; the items found per table and the unprocessed keys."""

    def transact_write(self, items: list[Wire], token: str) -> None:
        """TransactWriteItems, idempotent for ``token``; ``TransactionError`` carries a reason per action."""

    def transact_get(self, items: list[Wire]) -> list[Wire | None]:
        """TransactGetItems; one item (or ``None``) per requested key."""


class IAMService(Protocol):
    """Identity and access management: users, groups, roles, managed policies and access keys.

    ``kind`` is ``"user"``, ``"group"``, ``"role"`` or ``"policy"``; ``ref`` is a name, or a policy's ARN. Records
    are neutral dicts: ``name``, ``id``, ``arn``, ``path``, ``created`` and, as the kind has them, ``tags`` (a
    dict), ``description``, ``trust`` (a role's trust policy), ``max_session`` (seconds), ``document`` (a policy's
    default version), ``default_version``, ``attachments``. Keys a response lacks are left out.

    A mutating call whose answer was lost neither runs twice nor fails for what it did: the service looks at what
    it holds instead (docs/iam.md, "When a response is lost")."""

    def create(self, kind: str, name: str, spec: Wire) -> Wire:
        """Create an entity from ``spec`` (``path``, ``tags``, ``description``, ``trust``, ``max_session``,
        ``document``); returns its record."""

    def get(self, kind: str, ref: str) -> Wire:
        """The record of an entity, a policy with its default document (``NotFound`` if absent)."""

    def update(self, kind: str, ref: str, changes: Wire) -> None:
        """Apply changes: ``name``, ``path``, ``description``, ``max_session``, ``trust``, ``tags`` (the new set,
        with ``old_tags`` the previous one)."""

    def delete(self, kind: str, ref: str) -> None:
        """Delete an entity (``ConflictError`` while something still depends on it)."""

    def list_page(self, kind: str, start: str | None, limit: int | None, *, path_prefix: str | None = None,
                  scope: str = "local") -> tuple[list[Wire], str | None]:
        """One page of records and the marker to continue from; policies by ``scope``: local, aws or all."""

    def policy_arn(self, name: str, path: str = "/") -> str:
        """The ARN of this account's managed policy ``name`` under ``path``."""

    def caller(self, key: tuple[str, str] | None = None) -> Wire:
        """Who the session's credentials (or ``key``: id and secret) are: ``account``, ``arn``, ``user_id``."""

    def attached_policies(self, kind: str, name: str) -> list[Wire]:
        """The managed policies attached to a user, group or role: ``name`` and ``arn`` each."""

    def attach_policy(self, kind: str, name: str, arn: str) -> None:
        """Attach a managed policy to a user, group or role."""

    def detach_policy(self, kind: str, name: str, arn: str) -> None:
        """Detach a managed policy from a user, group or role."""

    def inline_policies(self, kind: str, name: str) -> list[str]:
        """The names of the inline policies of a user, group or role."""

    def delete_inline_policy(self, kind: str, name: str, policy: str) -> None:
        """Delete an inline policy of a user, group or role."""

    def add_to_group(self, group: str, user: str) -> None:
        """Make a user a member of a group."""

    def remove_from_group(self, group: str, user: str) -> None:
        """Remove a user from a group."""

    def group_members(self, group: str) -> list[Wire]:
        """The records of a group's users."""

    def groups_of(self, user: str) -> list[Wire]:
        """The records of the groups a user is in."""

    def has_login_profile(self, user: str) -> bool:
        """True if the user has a console password."""

    def delete_login_profile(self, user: str) -> None:
        """Remove the user's console password."""

    def create_access_key(self, user: str) -> Wire:
        """A new key of a user: ``id``, ``secret``, ``status``, ``created`` (the secret is known only now); exactly
        one new key, also when an answer is lost."""

    def access_keys(self, user: str) -> list[Wire]:
        """A user's keys: ``id``, ``status``, ``created`` each (never the secret)."""

    def set_access_key_status(self, user: str, key_id: str, active: bool) -> None:
        """Activate or deactivate a key."""

    def delete_access_key(self, user: str, key_id: str) -> None:
        """Delete a key."""

    def access_key_last_used(self, key_id: str) -> Wire:
        """When and where a key was last used: ``date`` (None if never), ``service``, ``region``."""

    def policy_versions(self, arn: str) -> list[Wire]:
        """A policy's versions, oldest first: ``id``, ``default``, ``created`` each."""

    def create_policy_version(self, arn: str, document: Wire) -> str:
        """Add a version and make it the default; returns its id."""

    def delete_policy_version(self, arn: str, version: str) -> None:
        """Delete a non-default version of a policy."""

    def policy_entities(self, arn: str) -> dict[str, list[str]]:
        """Who a policy is attached to: names by kind (``user``, ``group``, ``role``)."""

    def instance_profiles(self, role: str) -> list[str]:
        """The names of the instance profiles holding a role."""

    def remove_from_instance_profile(self, profile: str, role: str) -> None:
        """Take a role out of an instance profile."""


class StorageService(Protocol):
    """S3-style buckets and objects. Object information is a dict with ``key``, ``size``, ``etag`` (no quotes),
    ``last_modified`` and, from a HEAD, ``content_type``, ``metadata``, ``cache_control``, ``content_disposition``,
    ``content_encoding``, ``content_language``, ``expires`` (None when not stored) and ``storage_class``; a
    missing bucket or key is ``NotFound``."""

    def create_bucket(self, name: str, region: str) -> None:
        """Create a bucket in ``region`` (fine if this account owns it already)."""

    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket."""

    def empty_bucket(self, name: str) -> int:
        """Delete every object, version and delete marker, 1,000 per request; returns how many were deleted."""

    def bucket_region(self, name: str) -> str:
        """The region a bucket lives in (one HEAD request; ``NotFound`` if absent)."""

    def list_buckets(self, start: str | None, limit: int | None) -> tuple[list[Wire], str | None]:
        """One page of buckets (``name``, ``created``, maybe ``region``) and the token of the next page."""

    def list_objects(self, bucket: str, prefix: str, delimiter: str | None, start: str | None,
                     limit: int | None) -> tuple[list[Wire], list[str], str | None]:
        """One page of objects, the common prefixes it holds, and the token of the next page."""

    def head_object(self, bucket: str, key: str) -> Wire:
        """An object's information (one HEAD request)."""

    def upload(self, bucket: str, key: str, source: Source, properties: Properties,
               progress: Progress | None = None) -> None:
        """Store an object with its ``properties`` (headers, metadata, storage class, tags); managed multipart
        above the session's ``multipart_threshold``."""

    def download(self, bucket: str, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """An object's bytes, or the inclusive byte range ``start``-``end`` (``start`` < 0: the last bytes)."""

    def open(self, bucket: str, key: str) -> io.RawIOBase:
        """A raw stream reading an object's bytes (resuming a lost connection where it stopped)."""

    def download_file(self, bucket: str, key: str, path: str, size: int | None = None, etag: str | None = None,
                      progress: Progress | None = None) -> None:
        """Write an object to ``path`` through a temporary file renamed when complete (a known ``size`` and
        ``etag`` save a HEAD)."""

    def place(self) -> str:
        """Where this service's buckets are (its storage endpoint, or the provider's name for its own): a copy
        stays within one place."""

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str, overwrite: bool = False) -> None:
        """Copy an object with every stored property (multipart above the threshold); ``AlreadyExists`` if the
        target exists, unless ``overwrite``."""

    def rename(self, bucket: str, key: str, new_key: str, overwrite: bool = False) -> None:
        """Rename an object within its bucket, keeping every stored property; ``AlreadyExists`` if ``new_key``
        exists, unless ``overwrite``; ``ConflictError`` if the source was written meanwhile (that write is kept)."""

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (no error if absent)."""

    def presign_get(self, bucket: str, key: str, expires: int, region: str | None = None) -> str:
        """A URL anyone can GET the object with for ``expires`` seconds, signed for the bucket's ``region``
        (default: the session's)."""

    def presign_post(self, bucket: str, key: str, expires: int, fields: dict[str, str],
                     conditions: list[Any], region: str | None = None) -> tuple[str, dict[str, str]]:
        """A browser-style upload form for the bucket in ``region``: the URL and the form fields to send."""

    def upload_many(self, bucket: str, jobs: Sequence[UploadJob], concurrency: int,
                    done: Callable[[], None] | None = None) -> list[BaseException | None]:
        """Upload many objects concurrently; one error (or None) per job, in order."""

    def download_many(self, bucket: str, jobs: Sequence[DownloadJob], concurrency: int,
                      done: Callable[[], None] | None = None) -> list[BaseException | None]:
        """Download many objects to files concurrently; one error (or None) per job, in order."""

    def website_url(self, bucket: str, region: str) -> str:
        """The static website URL of a bucket (``Unsupported`` without website hosting; no request)."""

    def put_website(self, bucket: str, index: str, error: str | None) -> None:
        """Turn static website hosting on."""


class FunctionService(Protocol):
    """Serverless functions (AWS Lambda's model).

    A function record is a neutral dict: ``name``, ``arn``, ``runtime``, ``handler``, ``role`` (an ARN), ``memory``
    (MB), ``timeout`` (s), ``environment`` (a dict), ``architecture`` (``"x86_64"`` or ``"arm64"``),
    ``description``, ``code_sha256`` (base64 of the zip's SHA-256, as Lambda reports it), ``code_size``,
    ``state`` (``Pending``, ``Active``, ``Inactive``, ``Failed``), ``update_status`` (``InProgress``,
    ``Successful``, ``Failed``), ``state_reason`` and ``last_modified``. A ``spec`` holds the settable keys:
    ``runtime``, ``handler``, ``role``, ``memory``, ``timeout``, ``environment``, ``architecture``,
    ``description``. A missing function is ``NotFound``."""

    def create_function(self, name: str, spec: Wire, code: bytes) -> Wire:
        """Create a function from ``spec`` and a zip; returns its record."""

    def update_code(self, name: str, code: bytes, architecture: str) -> Wire:
        """Upload a new zip; returns the record."""

    def update_configuration(self, name: str, changes: Wire) -> Wire:
        """Change settings (keys of a ``spec`` except ``architecture``); returns the record."""

    def get_function(self, name: str) -> Wire:
        """The record of a function."""

    def delete_function(self, name: str) -> None:
        """Delete a function."""

    def list_functions(self, start: str | None, limit: int | None) -> tuple[list[Wire], str | None]:
        """One page of records and the marker to continue from (``None`` at the end)."""

    def invoke(self, name: str, payload: bytes, wait: bool = True) -> Wire:
        """Run a function on ``payload`` (JSON bytes): synchronously (``wait``), or queue it as an event.
        Returns ``status`` (HTTP), ``payload`` (bytes), ``error`` (Lambda's ``FunctionError``: ``"Unhandled"``
        when the handler raised, else None), ``log`` (the log tail, decoded, if any) and ``request_id``."""

    def add_permission(self, name: str, statement_id: str, principal: str, source_arn: str) -> None:
        """Let ``principal`` (e.g. ``apigateway.amazonaws.com``) invoke the function from ``source_arn``."""

    def permissions(self, name: str) -> list[Wire]:
        """The function's resource policy statements: ``sid``, ``principal``, ``source_arn`` each."""

    def remove_permission(self, name: str, statement_id: str) -> None:
        """Remove one statement of the function's resource policy."""


API_GATEWAY_PRINCIPAL = "apigateway.amazonaws.com"
"""The service principal a function's invoke permission names so that an API's routes may call it."""


class ApiService(Protocol):
    """REST APIs in front of functions, with stages, API keys and usage plans (API Gateway's REST model).

    Records are neutral dicts. An API: ``id``, ``name``, ``description``, ``created``, ``root_id`` (the ``/``
    resource). A resource: ``id``, ``path``, ``parent_id``, ``path_part`` and ``methods``, which maps each HTTP
    method to ``key_required``, ``function_arn`` (the Lambda proxy integration's target, or None) and
    ``mock_headers`` (for a CORS preflight answered by the gateway itself, else None). A usage plan: ``id``,
    ``name``, ``description``, ``stages`` (``[(api_id, stage)]``), ``throttle`` (``{"rate", "burst"}`` or None),
    ``quota`` (``{"limit", "period", "offset"}`` or None). A key: ``id``, ``name``, ``description``,
    ``enabled``, ``created`` and, where the provider returns it, ``value``."""

    def create_api(self, name: str, description: str | None) -> Wire:
        """Create a REST API; returns its record."""

    def get_api(self, api_id: str) -> Wire:
        """The record of an API (``NotFound`` if absent)."""

    def list_apis(self, start: str | None, limit: int | None) -> tuple[list[Wire], str | None]:
        """One page of API records and the position to continue from."""

    def update_api(self, api_id: str, description: str | None) -> None:
        """Change an API's description."""

    def delete_api(self, api_id: str) -> None:
        """Delete an API with its resources, deployments and stages."""

    def resources(self, api_id: str) -> list[Wire]:
        """Every resource of an API, with its methods."""

    def create_resource(self, api_id: str, parent_id: str, path_part: str) -> Wire:
        """Add a child resource (one path segment, e.g. ``orders`` or ``{id}``); returns its record."""

    def delete_resource(self, api_id: str, resource_id: str) -> None:
        """Remove a resource with its children and methods."""

    def put_lambda_method(self, api_id: str, resource_id: str, method: str, function_arn: str,
                          key_required: bool) -> None:
        """Create or replace a method that proxies every request to a function (Lambda proxy integration)."""

    def put_mock_method(self, api_id: str, resource_id: str, method: str, headers: dict[str, str]) -> None:
        """Create or replace a method the gateway answers itself with 200 and ``headers`` (CORS preflight)."""

    def delete_method(self, api_id: str, resource_id: str, method: str) -> None:
        """Remove a method."""

    def deploy(self, api_id: str, stage: str, description: str | None, stage_description: str | None) -> str:
        """Deploy the API's current routes to ``stage`` (created if needed); returns the deployment id."""

    def stages(self, api_id: str) -> list[Wire]:
        """The API's stages: ``name``, ``deployment_id``, ``description`` each."""

    def invoke_url(self, api_id: str, stage: str) -> str:
        """The base URL that serves ``stage`` of the API (no trailing slash)."""

    def source_arn(self, api_id: str, function_arn: str, method: str, path: str) -> str:
        """The ``execute-api`` ARN a function's invoke permission names for one route of this API."""

    def usage_plans(self, api_id: str | None = None) -> list[Wire]:
        """Usage plans (those serving a stage of ``api_id`` when given)."""

    def create_usage_plan(self, name: str, description: str | None, stages: list[tuple[str, str]],
                          throttle: Wire | None, quota: Wire | None) -> Wire:
        """Create a usage plan for ``stages``; returns its record."""

    def update_usage_plan(self, plan_id: str, description: str | None, throttle: Wire | None,
                          quota: Wire | None) -> None:
        """Set a plan's description, throttle and quota (None removes them)."""

    def delete_usage_plan(self, plan_id: str) -> None:
        """Delete a usage plan (its stages are unlinked first)."""

    def create_key(self, name: str, description: str | None, enabled: bool) -> Wire:
        """Create an API key; its record carries ``value``."""

    def add_key_to_plan(self, plan_id: str, key_id: str) -> None:
        """Let a key call the stages of a plan."""

    def plan_keys(self, plan_id: str) -> list[Wire]:
        """The keys of a plan, each with its ``value``."""

    def get_key(self, key_id: str) -> Wire:
        """A key's record (without its value)."""

    def delete_key(self, key_id: str) -> None:
        """Delete an API key."""


def _positive(name: str, kind: type) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind) or isinstance(value, bool) or not value > 0:  # type: ignore[operator]
            raise InvalidInput(name, f"must be a positive {kind.__name__}, not {value!r}")
    return check


def _float(value: Any) -> Any:
    """Accept whole seconds as an int."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _seconds(name: str) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check_seconds(name, value)  # finite, > 0, at most a year: inf and nan never reach a socket
    return check


class ComputeService(Protocol):
    """Virtual servers (DigitalOcean droplets, EC2 instances, local working directories) grouped into clusters.

    A cluster is the set of nodes carrying the provider's tag for its name (no central controller); the provider
    maps a cluster name to its own tag form. A node record is a neutral dict: ``id`` (str), ``name``, ``status``
    (``"pending"``, ``"active"``, ``"off"`` or ``"deleted"``), ``address`` (the public IPv4 address SSH uses, None
    until assigned), ``private_address``, ``size`` (slug or instance type), ``region``, ``image``, ``cluster``
    (name), ``created`` (datetime or None). A size record: ``slug``, ``price_monthly`` (USD, float), ``vcpus``,
    ``memory_mb``, ``disk_gb``, ``regions`` (list) and ``available`` (bool). A key record: ``id``, ``name``,
    ``fingerprint``, ``created`` (True when this call registered it). A node ``spec`` for ``create_nodes``:
    ``size``, ``image``, ``region``, ``key_id`` (from ``import_key``), ``user_data`` (cloud-init text or None),
    ``firewall_id`` (or None), ``monitoring`` (bool: DigitalOcean's metrics agent, EC2's detailed monitoring). A missing
    node, key or firewall is ``NotFound``."""

    default_image: str
    """The image a cluster gets when none is named (an Ubuntu LTS with cloud-init)."""

    default_size: str
    """The node size a cluster gets when neither a size nor a price is named."""

    accepts_host_keys: bool
    """True when nodes take their SSH host key from cloud-init user data (so even a first connection is verified)."""

    def default_user(self, image: str) -> str:
        """The login user of nodes made from ``image`` (``root`` on DigitalOcean, ``ubuntu`` on Ubuntu AMIs)."""

    def check_region(self, region: str) -> str:
        """``region`` if nodes can be made there, by its form (DigitalOcean's ``nyc3``; EC2: the session's region),
        else ``InvalidInput("region")``; no request."""

    def node_quota(self) -> int | None:
        """How many more nodes the account may have now, read before any is made (DigitalOcean: its droplet limit
        less its droplets); None where the service enforces its limit all or nothing itself (EC2)."""

    def list_sizes(self) -> list[Wire]:
        """Every size this account may create, with its monthly price."""

    def import_key(self, name: str, public_key: str) -> Wire:
        """Register an OpenSSH public key; an identical key already registered is returned (``created`` False)."""

    def delete_key(self, key_id: str) -> None:
        """Remove a registered key."""

    def find_key(self, name: str) -> Wire | None:
        """The key registered under ``name`` (``created`` False), or None."""

    def create_firewall(self, cluster: str, cidrs: Sequence[str]) -> str:
        """Allow SSH (tcp/22) from ``cidrs`` to the cluster's nodes, outbound everything; returns its id."""

    def find_firewall(self, cluster: str) -> str | None:
        """The id of the firewall ``create_firewall`` made for ``cluster``, if any."""

    def delete_firewall(self, firewall_id: str) -> None:
        """Remove a firewall (or security group)."""

    def create_nodes(self, cluster: str, names: Sequence[str], spec: Wire) -> list[Wire]:
        """Create one node per name, tagged for ``cluster`` (DigitalOcean: up to 10 per request); their records,
        usually still ``pending``. Nodes created before a failing request stay tagged, so ``list_nodes`` finds
        them."""

    def list_nodes(self, cluster: str) -> list[Wire]:
        """Every node tagged for ``cluster`` and not deleted, all pages read."""

    def list_clusters(self) -> list[str]:
        """The names of clusters that have nodes (or a firewall) made by cloudorm."""

    def get_node(self, node_id: str) -> Wire:
        """The current record of one node."""

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        """Destroy nodes by id (already gone ones are no error)."""

    def delete_cluster_nodes(self, cluster: str) -> None:
        """Destroy every node tagged for ``cluster``, in as few requests as the provider allows (DigitalOcean: one
        delete by tag, which also takes nodes a concurrent create just made)."""

    def reboot_node(self, node_id: str) -> None:
        """Reboot a node (a provider action; returns once it was accepted)."""

    def shell(self, node: Wire) -> Any:
        """A ``cloudorm.compute.shell.Shell`` for nodes the provider runs itself (the local provider's working
        directories), or None: the node is reached over SSH at its ``address``."""


@attrs.frozen
class Options:
    """Transport settings a Session passes to every SDK client: retries, timeouts, pool size and, for object
    storage, the size above which transfers are multipart and the size of each part (bytes)."""

    max_attempts: int = attrs.field(default=5, validator=_positive("max_attempts", int))
    connect_timeout: float = attrs.field(default=5.0, converter=_float, validator=_seconds("connect_timeout"))
    read_timeout: float = attrs.field(default=60.0, converter=_float, validator=_seconds("read_timeout"))
    max_pool_connections: int = attrs.field(default=32, validator=_positive("max_pool_connections", int))
    multipart_threshold: int = attrs.field(default=8 * 1024 * 1024, validator=_positive("multipart_threshold", int))
    multipart_chunksize: int = attrs.field(default=8 * 1024 * 1024, validator=_positive("multipart_chunksize", int))

    @classmethod
    def from_kwargs(cls, options: Mapping[str, Any]) -> Options:
        """Build from the Session's ``**options``, naming any unknown one."""
        known = {a.name for a in attrs.fields(cls)}
        for key in options:
            if key not in known:
                raise InvalidInput(key, f"unknown session option; known options are {', '.join(sorted(known))}")
        return cls(**options)


class Provider:
    """A cloud provider: validates its credentials and hands out one service object per area it supports."""

    name: ClassVar[str]
    areas: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.requests = RequestHub()
        self._services: dict[str, Any] = {}
        self._lock = threading.RLock()  # reentrant: one service may be built on another (the local gateway)

    @property
    def region(self) -> str | None:
        """The provider region this session works in."""
        return None

    def describe(self) -> dict[str, str]:
        """Facts for the Session's repr; never a secret."""
        return {}

    def scope(self) -> tuple[object, ...]:
        """What tells this provider's resources from those of another account or endpoint (part of every
        resource's identity, with the region for regional kinds); never a secret."""
        return (self.name, self.endpoint_url)

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint override every service uses, if one URL was given."""
        return None

    def service(self, area: str) -> Any:
        """The service object for ``area``, created once (``Unsupported`` if this provider lacks it)."""
        if area not in self.areas:
            raise Unsupported(self.name, area)
        svc = self._services.get(area)
        if svc is None:
            with self._lock:
                svc = self._services.get(area)
                if svc is None:
                    svc = self._services[area] = self._make_service(area)
        return svc

    def _make_service(self, area: str) -> Any:
        raise Unsupported(self.name, area)  # pragma: no cover - areas lists what subclasses build

    def close(self) -> None:
        """Release connections; the session can still be used (clients are made again)."""
        with self._lock:
            self._services.clear()
