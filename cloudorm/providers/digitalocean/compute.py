"""DigitalOcean droplets as cluster nodes, through pydo (the official SDK on azure-core's HTTP pipeline).

One ``pydo.Client`` per service. Its pipeline retries with the session's ``max_attempts`` (a 429 honours
``Retry-After`` or DigitalOcean's ``ratelimit-reset``; a POST is re-sent only after a 429, never after an answer
that may mean it was done), counts every request sent (retries included) and, for an ``http://`` endpoint (the
tests' fake API), lets the bearer token travel without TLS. pydo returns some documented error bodies (404, 400)
instead of raising: every response's status is checked, and every error is mapped to cloudorm's errors keeping
DigitalOcean's ``id``, ``message`` and ``request_id``.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from azure.core import exceptions as ax
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

from cloudorm import errors as ce
from cloudorm.compute.names import CLUSTER_NAME
from cloudorm.credentials import redact
from cloudorm.paging import every
from cloudorm.providers.contract import ComputeCapabilities, ComputeService, KeyInfo, NodeInfo, SizeInfo, Wire
from cloudorm.providers.digitalocean.account import DropletAccount, check_key
from cloudorm.providers.digitalocean.firewalls import NAME_PREFIX, TAG_PREFIX, DropletFirewalls, cluster_tag
from cloudorm.providers.digitalocean.power import DropletPower

if TYPE_CHECKING:
    from cloudorm.providers.digitalocean import DigitalOceanProvider


CREATE_BATCH = 10
"""DigitalOcean creates at most 10 droplets per request."""

PER_PAGE = 200
"""The largest page DigitalOcean serves."""

MAX_USER_DATA = 64 * 1024
"""DigitalOcean's limit on a droplet's user data (bytes)."""

MAX_RATELIMIT_WAIT = 60.0
"""The longest a throttled request waits for DigitalOcean's ``ratelimit-reset`` before it is sent again (s)."""

_STATUS = {"new": "pending", "active": "active", "off": "off", "archive": "deleted"}
"""Droplet statuses as the neutral node statuses."""

_REGION = re.compile(r"^[a-z]{3}[0-9]$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")
_ID = re.compile(r"^[1-9][0-9]{0,18}$")
_HOSTNAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,253}[a-zA-Z0-9])?$")
_PATH_ID = re.compile(r"^([0-9]+|[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{2}(:|%3A)[0-9a-f:%A]+)$", re.IGNORECASE)


def _check(field: str, value: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ce.InvalidInput(field, f"{value!r} is not {what}")
    return value


def _droplet_id(node_id: Any) -> int:
    return int(_check("node_id", str(node_id) if isinstance(node_id, int) else node_id, _ID, "a droplet id"))


def _loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (where a test API may be served over plain HTTP)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _created(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def node_record(droplet: Wire) -> NodeInfo:
    """The neutral node record of a droplet."""
    networks = droplet.get("networks") or {}
    v4 = networks.get("v4") or []
    public = next((n.get("ip_address") for n in v4 if n.get("type") == "public"), None)
    private = next((n.get("ip_address") for n in v4 if n.get("type") == "private"), None)
    tags = droplet.get("tags") or []
    cluster = next((t[len(TAG_PREFIX):] for t in tags if isinstance(t, str) and t.startswith(TAG_PREFIX)), None)
    image = droplet.get("image") or {}
    region = droplet.get("region") or {}
    return {
        "id": str(droplet["id"]),
        "name": droplet["name"],
        "status": _STATUS.get(droplet.get("status") or "", "pending"),
        "address": public,
        "private_address": private,
        "size": droplet.get("size_slug") or (droplet.get("size") or {}).get("slug"),
        "region": region.get("slug"),
        "image": image.get("slug") or (str(image["id"]) if image.get("id") is not None else None),
        "cluster": cluster,
        "created": _created(droplet.get("created_at")),
    }


def size_record(size: Wire) -> SizeInfo:
    """The neutral size record of a DigitalOcean size."""
    return {
        "slug": size["slug"],
        "price_monthly": float(size.get("price_monthly") or 0.0),
        "vcpus": int(size.get("vcpus") or 0),
        "memory_mb": int(size.get("memory") or 0),
        "disk_gb": int(size.get("disk") or 0),
        "regions": list(size.get("regions") or []),
        "available": bool(size.get("available", True)),
    }


def _key_record(key: Wire, created: bool) -> KeyInfo:
    return {"id": str(key["id"]), "name": key["name"], "fingerprint": key.get("fingerprint"), "created": created}


# ---------------------------------------------------------------------------------------------------- pipeline


def operation_name(method: str, url: str) -> str:
    """``"GET /v2/droplets/{id}"``: the request's method and path with ids, UUIDs and fingerprints generalised."""
    path = urlsplit(url).path
    parts = ["{id}" if _PATH_ID.match(p) else p for p in path.split("/")]
    return f"{method.upper()} {'/'.join(parts)}"


class _CountRequests(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """A per-retry policy: every request sent (retries included) is counted on the provider's hub."""

    def __init__(self, record: Callable[[str], None]) -> None:
        super().__init__()
        self._record = record

    def on_request(self, request: PipelineRequest[Any]) -> None:
        self._record(operation_name(request.http_request.method, request.http_request.url))


class _Retry(RetryPolicy):  # type: ignore[type-arg]
    """azure-core's retries with DigitalOcean's rules: a 429 is always retried (it was not processed) after
    ``Retry-After`` or until ``ratelimit-reset``; a POST is never re-sent after another answer (a droplet create
    that failed with a 5xx may have created droplets)."""

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        status = response.http_response.status_code
        if status == 429:
            return True
        if response.http_request.method.upper() == "POST":
            return False
        return bool(super().is_retry(settings, response))

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        delay = super().get_retry_after(response)
        if delay is None and response.http_response.status_code == 429:
            reset = response.http_response.headers.get("ratelimit-reset")
            try:
                delay = min(MAX_RATELIMIT_WAIT, max(0.0, float(reset) - time.time())) if reset else None
            except ValueError:
                delay = None
        return delay


# ---------------------------------------------------------------------------------------------------- service


class DigitalOceanComputeService(DropletPower, DropletAccount, DropletFirewalls, ComputeService):
    """``ComputeService`` over DigitalOcean's droplets, SSH keys, tags, firewalls and droplet actions; power actions
    (``power.py``), firewalls (``firewalls.py``) and the account's listings and prices (``account.py``) are parts of
    their own."""

    default_image = "ubuntu-24-04-x64"
    """Ubuntu 24.04 LTS (with cloud-init)."""

    default_size = "s-1vcpu-1gb"
    """The basic 1 vCPU / 1 GB droplet."""

    capabilities = ComputeCapabilities(accepts_host_keys=True)
    """Droplets run cloud-init, which installs the host key the user data carries."""

    def __init__(self, provider: DigitalOceanProvider) -> None:
        import pydo

        self.provider = provider
        """The session's DigitalOcean provider (token, region, options, request hub)."""
        endpoint = provider.endpoint_url or "https://api.digitalocean.com"
        options = provider.options
        self._insecure = endpoint.startswith("http://")
        if self._insecure and not _loopback(urlsplit(endpoint).hostname):
            raise ce.InvalidInput("endpoint_url", f"{endpoint!r} would send the API token unencrypted: use https:// "
                                                  "(http:// is for a test API on this machine, e.g. 127.0.0.1)")
        self.client: Any = pydo.Client(
            provider.credentials.access_token, endpoint=endpoint.rstrip("/"),
            retry_policy=_Retry(retry_total=options.max_attempts - 1, retry_connect=options.max_attempts - 1,
                                retry_read=options.max_attempts - 1, retry_status=options.max_attempts - 1),
            per_retry_policies=[_CountRequests(provider.requests.record)],
            connection_timeout=options.connect_timeout, read_timeout=options.read_timeout)
        """The pydo client (one per service)."""

    # ------------------------------------------------------------------------------------------------ plumbing

    def _call(self, operation: str, method: Callable[..., Any], *args: Any, ok: Sequence[int] = (),
              **kwargs: Any) -> tuple[int, Any]:
        """Call a pydo operation; ``(status, body)`` for a success status (or one in ``ok``), else the mapped
        error, whether pydo raised it or returned the error body."""
        if self._insecure:
            kwargs["enforce_https"] = False

        def keep(pipeline_response: PipelineResponse[Any, Any], body: Any, _headers: Any) -> tuple[Any, Any]:
            return pipeline_response.http_response, body

        try:
            response, body = method(*args, cls=keep, **kwargs)
        except ax.HttpResponseError as e:
            raise self._map_response(operation, e.response, e) from None
        except ax.ServiceResponseTimeoutError as e:
            raise ce.Timeout(self._redact(str(e)), provider="digitalocean", operation=operation) from None
        except ax.AzureError as e:
            if "timeout" in type(e).__name__.lower() or "timed out" in str(e).lower():
                raise ce.Timeout(self._redact(f"no answer from DigitalOcean: {e}"), provider="digitalocean",
                                 operation=operation) from None
            raise ce.CloudError(self._redact(f"could not reach DigitalOcean: {e}"), provider="digitalocean",
                                operation=operation) from None
        status = int(response.status_code)
        if status >= 400 and status not in ok:
            raise self._map_response(operation, response, None)
        return status, body

    def _redact(self, text: str) -> str:
        return redact(text, self.provider.secrets())

    def _map_response(self, operation: str, response: Any, error: Exception | None) -> ce.CloudError:
        """The cloudorm error for an error response: DigitalOcean's ``id``, ``message`` and ``request_id``."""
        status = int(getattr(response, "status_code", 0) or 0) if response is not None else 0
        body: Any = None
        if response is not None:
            try:
                body = response.json()
            except Exception:  # an empty or non-JSON body (a proxy's page): the status says enough
                body = None
        body = body if isinstance(body, dict) else {}
        headers = getattr(response, "headers", None) or {}
        code = str(body.get("id") or status or "error")
        if body.get("message"):
            message = str(body["message"])
        elif response is not None:  # (azure-core's own text would be "JSON is invalid" and the whole page)
            message = f"DigitalOcean answered HTTP {status} {getattr(response, 'reason', '') or ''}".rstrip()
        else:
            message = str(error or "no answer")
        message = self._redact(message)
        request_id = body.get("request_id") or headers.get("x-request-id")
        details: Wire = {"code": code, "request_id": request_id, "provider": "digitalocean",
                         "operation": operation, "status": status or None}
        if status == 404:
            return ce.NotFound(message, **details)
        if status in (401, 403):
            return ce.AccessDenied(message, **details)
        if status == 429:
            return ce.Throttled(message, **details)
        if status in (400, 422):
            return ce.InvalidInput(None, message, **details)
        if status == 409:
            return ce.ConflictError(message, **details)
        if status in (408, 504):
            return ce.Timeout(message, **details)
        return ce.CloudError(message, **details)

    def _pages(self, operation: str, method: Callable[..., Any], key: str, **params: Any) -> Iterator[Wire]:
        """Every item under ``key`` of a paginated list, following ``links.pages.next``."""
        def fetch(page: int | None, size: int | None) -> tuple[list[Wire], int | None]:
            _, body = self._call(operation, method, per_page=size, page=page or 1, **params)
            body = body or {}
            following = ((body.get("links") or {}).get("pages") or {}).get("next")
            found = parse_qs(urlsplit(following).query).get("page") if following else None
            return list(body.get(key) or []), int(found[0]) if found and found[0].isdigit() else None

        return every(fetch, PER_PAGE)

    # ------------------------------------------------------------------------------------------------ sizes

    def default_user(self, image: str) -> str:
        """Droplets log in as ``root`` whatever the image."""
        return "root"

    def check_region(self, region: str) -> str:
        """``region`` if it is a DigitalOcean region slug (``nyc3``); no request."""
        return _check("region", region, _REGION, "a DigitalOcean region slug (e.g. 'nyc3')")

    def node_quota(self) -> int | None:
        """The account's ``droplet_limit`` (GET /v2/account) less its droplets (GET /v2/droplets, one page of one:
        its ``meta.total``); None when the account states no limit."""
        _, body = self._call("GET /v2/account", self.client.account.get)
        limit = ((body or {}).get("account") or {}).get("droplet_limit")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            return None
        _, body = self._call("GET /v2/droplets", self.client.droplets.list, per_page=1, page=1)
        total = ((body or {}).get("meta") or {}).get("total")
        return limit - (total if isinstance(total, int) else 0)

    def list_sizes(self) -> list[SizeInfo]:
        """Every droplet size, with its monthly price, all pages read."""
        return [size_record(s) for s in self._pages("GET /v2/sizes", self.client.sizes.list, "sizes")]

    # ------------------------------------------------------------------------------------------------ keys

    def import_key(self, name: str, public_key: str) -> KeyInfo:
        """Register a public key on the account; one already there (same fingerprint) is returned, ``created``
        False."""
        fingerprint = check_key(name, public_key)
        try:
            _, body = self._call("POST /v2/account/keys", self.client.ssh_keys.create,
                                 {"name": name, "public_key": public_key.strip()})
        except ce.InvalidInput as refused:
            try:  # already on the account (DigitalOcean answers 422 "already in use")
                _, body = self._call("GET /v2/account/keys/{id}", self.client.ssh_keys.get, fingerprint)
            except ce.NotFound:
                raise refused from None
            return _key_record(body["ssh_key"], created=False)
        return _key_record(body["ssh_key"], created=True)

    def find_key(self, name: str) -> KeyInfo | None:
        """The key registered under ``name`` (all pages of the account's keys read), or None."""
        if not isinstance(name, str) or not name.strip():
            raise ce.InvalidInput("name", f"{name!r} is not a key name")
        for key in self._pages("GET /v2/account/keys", self.client.ssh_keys.list, "ssh_keys"):
            if key.get("name") == name:
                return _key_record(key, created=False)
        return None

    def delete_key(self, key_id: str) -> None:
        """Remove a registered key (``NotFound`` if it is not there)."""
        _check("key_id", key_id, _ID, "an SSH key id")
        self._call("DELETE /v2/account/keys/{id}", self.client.ssh_keys.delete, int(key_id))

    # ------------------------------------------------------------------------------------------------ droplets

    def create_nodes(self, cluster: str, names: Sequence[str], spec: Wire) -> list[NodeInfo]:
        """Create one droplet per name, tagged for ``cluster``, up to 10 per request; their records (``pending``).
        Droplets of requests before a failing one stay tagged. ``firewall_id`` is not needed: the cluster's
        firewall applies to its tag."""
        tag = cluster_tag(cluster)
        if isinstance(names, str) or not names:
            raise ce.InvalidInput("names", "give at least one node name")
        for name in names:
            _check("names", name, _HOSTNAME, "a valid hostname")
        if len(set(names)) != len(names):
            raise ce.InvalidInput("names", "node names must be distinct")
        size = _check("size", spec.get("size"), _SLUG, "a DigitalOcean size slug (e.g. 's-1vcpu-1gb')")
        region = self.check_region(spec.get("region") or self.provider.region)
        image = spec.get("image") or self.default_image
        if isinstance(image, int) or (isinstance(image, str) and image.isdigit()):
            image = int(image)
        else:
            _check("image", image, _SLUG, "an image slug (e.g. 'ubuntu-24-04-x64') or image id")
        body: Wire = {"size": size, "region": region, "image": image, "tags": [tag],  # a new tag is made with them
                      "monitoring": bool(spec.get("monitoring", False)), "ipv6": False, "backups": False}
        if spec.get("key_id") is not None:
            body["ssh_keys"] = [int(_check("key_id", str(spec["key_id"]), _ID, "an SSH key id"))]
        user_data = spec.get("user_data")
        if user_data is not None:
            if not isinstance(user_data, str) or len(user_data.encode()) > MAX_USER_DATA:
                raise ce.InvalidInput("user_data", f"must be text of at most {MAX_USER_DATA} bytes")
            body["user_data"] = user_data
        records: list[NodeInfo] = []
        for start in range(0, len(names), CREATE_BATCH):
            batch = list(names[start:start + CREATE_BATCH])
            records.extend(self._create_batch(cluster, {**body, "names": batch}))
        return records

    def _create_batch(self, cluster: str, body: Wire) -> list[NodeInfo]:
        """One POST /v2/droplets (never re-sent). When its answer is lost after it was sent, the cluster's droplets
        are listed: every name of the batch there means the request was applied, and those are its droplets;
        otherwise the error is raised."""
        try:
            _, response = self._call("POST /v2/droplets", self.client.droplets.create, body)
        except ce.CloudError as e:
            if not isinstance(e.__context__, ax.ServiceResponseError):  # not sent, or answered: nothing to settle
                raise
            made = [r for r in self.list_nodes(cluster) if r["name"] in body["names"]]
            if sorted(r["name"] for r in made) != sorted(body["names"]):
                raise
            return sorted(made, key=lambda r: body["names"].index(r["name"]))
        droplets = response.get("droplets") or ([response["droplet"]] if response.get("droplet") else [])
        return [node_record(d) for d in droplets]

    def list_nodes(self, cluster: str) -> list[NodeInfo]:
        """Every droplet tagged for ``cluster`` and not archived, all pages read."""
        tag = cluster_tag(cluster)
        records = (node_record(d) for d in self._pages("GET /v2/droplets", self.client.droplets.list, "droplets",
                                                        tag_name=tag))
        return [r for r in records if r["status"] != "deleted"]

    def list_clusters(self) -> list[str]:
        """Clusters with droplets (their tag counts resources) or a firewall cloudorm made, sorted (a
        ``cloudorm:`` tag someone else made that is no valid cluster name is left out)."""
        found: set[str] = set()
        for tag in self._pages("GET /v2/tags", self.client.tags.list, "tags"):
            name = tag.get("name") or ""
            if name.startswith(TAG_PREFIX) and ((tag.get("resources") or {}).get("count") or 0) > 0:
                found.add(name[len(TAG_PREFIX):])
        for firewall in self._pages("GET /v2/firewalls", self.client.firewalls.list, "firewalls"):
            name = firewall.get("name") or ""
            cluster = name[len(NAME_PREFIX):]
            if name.startswith(NAME_PREFIX) and TAG_PREFIX + cluster in (firewall.get("tags") or []):
                found.add(cluster)
        return sorted(c for c in found if CLUSTER_NAME.fullmatch(c))

    def get_node(self, node_id: str) -> NodeInfo:
        """The current record of one droplet (``NotFound`` if it is gone)."""
        _, body = self._call("GET /v2/droplets/{id}", self.client.droplets.get, _droplet_id(node_id))
        return node_record(body["droplet"])

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        """Destroy droplets by id; ones already gone are no error."""
        ids = [_droplet_id(i) for i in node_ids]
        for droplet_id in ids:
            self._call("DELETE /v2/droplets/{id}", self.client.droplets.destroy, droplet_id, ok=(404,))

    def delete_cluster_nodes(self, cluster: str) -> None:
        """Destroy every droplet tagged for ``cluster`` in one request (DigitalOcean's delete by tag)."""
        self._call("DELETE /v2/droplets", self.client.droplets.destroy_by_tag, tag_name=cluster_tag(cluster),
                   ok=(404,))

    def resize_node(self, node_id: str, size: str) -> NodeInfo:
        """Not offered: a droplet is resized only while powered off (``Unsupported``, before any request)."""
        raise ce.Unsupported("digitalocean", "resizing a node", "make a cluster node of the new size instead")

    def reboot_node(self, node_id: str) -> None:
        """Ask DigitalOcean to reboot a droplet (``power_node(node_id, "reboot")``, not followed)."""
        self.power_node(node_id, "reboot")

    def shell(self, node: Wire) -> None:
        """Droplets are reached over SSH at their address."""
        return None
