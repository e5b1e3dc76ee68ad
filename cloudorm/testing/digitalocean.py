"""A fake DigitalOcean v2 API on 127.0.0.1 whose droplets are real OpenSSH servers (``SshdHost`` stand-ins).

``FakeDigitalOcean`` speaks the JSON pydo sends and parses: sizes, images, account SSH keys, droplets (create with
``name`` or up to 10 ``names``, list by tag with pagination, get, delete by id or tag), droplet actions (reboot),
actions, tags, firewalls and the account (its ``droplet_limit``, enforced on create as DigitalOcean does);
bearer-token checks (401), DigitalOcean's error bodies (``id``, ``message``, ``request_id``) and rate-limit headers.
A droplet is created ``new`` without networks; after ``boot_delay`` seconds it gets a free ``127.0.0.N`` address and
an sshd there, as cloud-init would set it up from the user data (its ``ssh_keys`` host key, or a fresh one; the
public keys of the droplet's ``ssh_keys`` ids plus the user data's ``ssh_authorized_keys`` as root's authorized
keys), and becomes ``active``. Where sshd cannot run (``sshd_unavailable()`` says why), the API still works and
droplets become active without an sshd.

    with FakeDigitalOcean(root=tmp_path) as do:
        s = cloudorm.Session("digitalocean", creds={"access_token": do.token}, endpoint_url=do.url)
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import attrs

from cloudorm.testing.service import TestService

if TYPE_CHECKING:
    from cloudorm.compute.keys import KeyPair
    from cloudorm.testing.sshd import SshdHost

__all__ = ["DEFAULT_SIZES", "FakeDigitalOcean", "FakeDroplet"]

logger = logging.getLogger(__name__)

Wire = dict[str, Any]

REGIONS = ("nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1", "sgp1", "tor1", "blr1", "syd1")
"""The region slugs the fake knows."""

DEFAULT_SIZES: tuple[Wire, ...] = tuple(
    {"slug": slug, "memory": memory, "vcpus": vcpus, "disk": disk, "transfer": transfer,
     "price_monthly": price, "price_hourly": round(price / 672, 5), "regions": list(REGIONS), "available": True,
     "description": description}
    for slug, memory, vcpus, disk, transfer, price, description in (
        ("s-1vcpu-512mb-10gb", 512, 1, 10, 0.5, 4.0, "Basic"),
        ("s-1vcpu-1gb", 1024, 1, 25, 1.0, 6.0, "Basic"),
        ("s-1vcpu-2gb", 2048, 1, 50, 2.0, 12.0, "Basic"),
        ("s-2vcpu-2gb", 2048, 2, 60, 3.0, 18.0, "Basic"),
        ("s-2vcpu-4gb", 4096, 2, 80, 4.0, 24.0, "Basic"),
        ("s-4vcpu-8gb", 8192, 4, 160, 5.0, 48.0, "Basic"),
        ("c-2", 4096, 2, 25, 4.0, 42.0, "CPU-Optimized"),
        ("g-2vcpu-8gb", 8192, 2, 25, 4.0, 63.0, "General Purpose"),
        ("s-8vcpu-16gb", 16384, 8, 320, 6.0, 96.0, "Basic"),
    ))
"""Sizes the fake offers (DigitalOcean's shape and prices)."""

IMAGES: dict[str, Wire] = {
    slug: {"id": image_id, "name": name, "distribution": distribution, "slug": slug, "public": True,
           "regions": list(REGIONS), "type": "base", "min_disk_size": 7, "size_gigabytes": 2.5,
           "created_at": "2024-04-25T00:00:00Z", "description": name, "tags": [], "status": "available"}
    for image_id, slug, name, distribution in (
        (155000001, "ubuntu-24-04-x64", "24.04 (LTS) x64", "Ubuntu"),
        (155000002, "ubuntu-22-04-x64", "22.04 (LTS) x64", "Ubuntu"),
        (155000003, "debian-12-x64", "12 x64", "Debian"),
    )}
"""Base images the fake knows, by slug."""

MAX_NAMES = 10
"""Droplets per create request."""

DROPLET_LIMIT = 100
"""The fake account's default droplet limit (real accounts start lower, at 3 to 25, and ask for more)."""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _not_found() -> _ApiError:
    return _ApiError(404, "not_found", "The resource you were accessing could not be found.")


def _unprocessable(message: str) -> _ApiError:
    return _ApiError(422, "unprocessable_entity", message)


def _made_of(name: Any, extra: str, longest: int = 255) -> TypeGuard[str]:
    """True when ``name`` is 1 to ``longest`` ASCII letters, digits or characters of ``extra``."""
    return isinstance(name, str) and 0 < len(name) <= longest and all(
        (c.isascii() and c.isalnum()) or c in extra for c in name)


def _check_tag(name: Any) -> str:
    """A tag name as DigitalOcean takes it (1-255 letters, digits, ``_``, ``-`` or ``:``), else its 400."""
    if not _made_of(name, "_-:"):
        raise _ApiError(400, "bad_request", "tag name must be 1-255 letters, digits, '_', '-' or ':'")
    return name


@attrs.define
class FakeDroplet:
    """What the fake knows of one droplet: its API JSON, the user data it was given, its sshd stand-in."""

    data: Wire
    """The droplet as the API returns it."""
    user_data: str | None = attrs.field(repr=False)
    """The user data sent at creation (not in the repr: it may carry a private host key)."""
    authorized_keys: list[str]
    """The public keys root may log in with (from ``ssh_keys`` and the user data)."""
    host: SshdHost | None = None
    """The running ``SshdHost`` (None before boot, after delete, or without sshd)."""
    root: Path | None = None
    """The stand-in's directory."""

    @property
    def id(self) -> int:
        """The droplet id."""
        return int(self.data["id"])

    @property
    def address(self) -> str | None:
        """Its public IPv4 address, once booted."""
        v4 = self.data["networks"]["v4"]
        return str(v4[0]["ip_address"]) if v4 else None


@attrs.define
class _Fault:
    method: str
    prefix: str
    status: int
    message: str
    headers: dict[str, str]
    code: str | None


class FakeDigitalOcean(TestService):
    """DigitalOcean's v2 API for tests, on ``url``; droplets are sshd stand-ins on 127.0.0.N:22.

    Test knobs: ``fail_next`` (one injected error response), ``change_host_key`` (a droplet's sshd restarts with a
    new key), ``boot_fails`` (droplets of that name become active but no sshd answers), ``boot_delay`` (seconds
    from create to active), ``max_per_page`` (a smaller page cap exercises pagination), ``droplet_limit`` (the
    account's limit on droplets at once, as GET /v2/account states it); ``requests`` and ``droplets`` for
    assertions."""

    def __init__(self, token: str = "dop_v1_fake0000000000000000000000000000000000000000000000000000000000",
                 *, root: str | Path | None = None, boot_delay: float = 0.3, max_per_page: int = 200,
                 sizes: Iterable[Wire] = DEFAULT_SIZES, reboot_delay: float = 0.2,
                 droplet_limit: int = DROPLET_LIMIT) -> None:
        """``token``: the only bearer token accepted. ``root``: where stand-ins keep their files (a temporary
        directory by default, removed at ``stop()``)."""
        self.token = token
        """The accepted API token."""
        self.boot_delay = boot_delay
        """Seconds from create until a droplet is active with an address."""
        self.reboot_delay = reboot_delay
        """Seconds a rebooting droplet stays off."""
        self.max_per_page = max_per_page
        """The most items a list page holds (DigitalOcean: 200)."""
        self.droplet_limit = droplet_limit
        """The most droplets the account may have at once: a create above it is refused (422), creating none."""
        self.sizes: list[Wire] = [dict(s) for s in sizes]
        """The sizes offered."""
        self._root_given = Path(root) if root is not None else None
        self.root: Path | None = None
        """Where the stand-ins' directories are (set by ``start()``)."""
        self._lock = threading.RLock()
        self._droplets: dict[int, FakeDroplet] = {}
        self._keys: dict[int, Wire] = {}
        self._tags: dict[str, Wire] = {}
        self._firewalls: dict[str, Wire] = {}
        self._actions: dict[int, Wire] = {}
        self._faults: list[_Fault] = []
        self._failing_boots: set[str] = set()
        self._requests: list[tuple[str, str, dict[str, str]]] = []
        self._creates: list[Wire] = []
        self._timers: list[threading.Timer] = []
        self._halts: list[threading.Thread] = []
        self._power = threading.Lock()  # a droplet's sshd is restarted (reboot) or stopped (delete) by one at a time
        self._next_id = {"droplet": 500000001, "key": 41000001, "action": 2000000001}
        self._remaining = 5000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._sshd_reason: str | None = None

    # ------------------------------------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The API endpoint (``http://127.0.0.1:port``)."""
        if self._server is None:
            raise RuntimeError("FakeDigitalOcean is not started")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    @property
    def sshd(self) -> bool:
        """True when droplets get real sshd stand-ins (False: ``sshd_unavailable()`` gave a reason)."""
        return self._sshd_reason is None

    def start(self) -> FakeDigitalOcean:
        """Start serving on a free port of 127.0.0.1."""
        if self._server is not None:
            return self
        from cloudorm.testing.sshd import sshd_unavailable

        self._sshd_reason = sshd_unavailable()
        if self._sshd_reason:
            logger.warning("fake DigitalOcean: droplets get no sshd (%s)", self._sshd_reason)
        self.root = self._root_given or Path(tempfile.mkdtemp(prefix="fake-do-"))
        self.root.mkdir(parents=True, exist_ok=True)
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-digitalocean", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and end every droplet's sshd, waiting for boots, reboots and deletes under way, so no
        sshd outlives the fake (safe to call twice)."""
        with self._lock:
            timers, self._timers = self._timers, []
            droplets = list(self._droplets.values())
            self._droplets.clear()  # a boot still running sees its droplet gone and stops the sshd it started
        for timer in timers:
            timer.cancel()
        for timer in timers:
            timer.join()
        for droplet in droplets:
            self._halt(droplet)
        with self._lock:
            halts, self._halts = self._halts, []
        for thread in halts:
            thread.join()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.root is not None and self._root_given is None:
            shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------------------------------------ test knobs

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """Every request received, oldest first: (method, path, query parameters)."""
        with self._lock:
            return list(self._requests)

    @property
    def create_requests(self) -> list[Wire]:
        """The JSON body of every droplet create request, oldest first (batching, tags, user data...)."""
        with self._lock:
            return [dict(b) for b in self._creates]

    @property
    def droplets(self) -> dict[int, FakeDroplet]:
        """The droplets that exist now, by id."""
        with self._lock:
            return dict(self._droplets)

    @property
    def keys(self) -> dict[int, Wire]:
        """The account's SSH keys, by id."""
        with self._lock:
            return {k: dict(v) for k, v in self._keys.items()}

    @property
    def firewalls(self) -> dict[str, Wire]:
        """The firewalls, by id."""
        with self._lock:
            return {k: dict(v) for k, v in self._firewalls.items()}

    def fail_next(self, method: str, path_prefix: str, status: int, message: str = "injected failure",
                  *, headers: dict[str, str] | None = None, code: str | None = None) -> None:
        """Answer the next ``method`` request whose path starts with ``path_prefix`` with an error (once);
        ``headers`` are added (e.g. ``{"Retry-After": "1"}`` with a 429)."""
        with self._lock:
            self._faults.append(_Fault(method.upper(), path_prefix, status, message, dict(headers or {}), code))

    def boot_fails(self, name: str) -> None:
        """Droplets named ``name`` created from now on become active with an address, but no sshd answers."""
        with self._lock:
            self._failing_boots.add(name)

    def change_host_key(self, droplet_id: int) -> KeyPair:
        """Restart a droplet's sshd with a new host key (as a rebuilt node would have); returns the new key."""
        with self._lock:
            droplet = self._droplets.get(int(droplet_id))
            host = droplet.host if droplet is not None else None
        if host is None:
            raise RuntimeError(f"droplet {droplet_id} does not exist or has no running sshd")
        with self._power:
            host.restart()
        return host.host_key

    def reset_requests(self) -> None:
        """Forget the requests logged so far."""
        with self._lock:
            self._requests.clear()
            self._creates.clear()

    # ------------------------------------------------------------------------------------------------ droplets

    def _new_id(self, kind: str) -> int:
        with self._lock:
            value = self._next_id[kind]
            self._next_id[kind] += 1
            return value

    def _action(self, kind: str, droplet: Wire, status: str = "in-progress") -> Wire:
        action = {"id": self._new_id("action"), "status": status, "type": kind, "started_at": _now(),
                  "completed_at": None if status == "in-progress" else _now(), "resource_id": droplet["id"],
                  "resource_type": "droplet", "region": droplet["region"], "region_slug": droplet["region"]["slug"]}
        self._actions[action["id"]] = action
        return action

    def _finish(self, action: Wire, status: str = "completed") -> None:
        with self._lock:
            action.update(status=status, completed_at=_now())

    def _later(self, delay: float, fn: Any, *args: Any) -> None:
        timer = threading.Timer(delay, fn, args)
        timer.daemon = True
        with self._lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def _boot(self, droplet_id: int, action: Wire) -> None:
        """What happens while a droplet boots: an address, cloud-init's host and authorized keys, sshd."""
        from cloudorm.testing.sshd import SshdHost, allocate_address, apply_user_data

        with self._lock:
            droplet = self._droplets.get(droplet_id)
            if droplet is None:
                return
            fails = droplet.data["name"] in self._failing_boots
        try:
            address = allocate_address()  # claimed for this process: concurrent boots never share one
            host = None
            if self.sshd and not fails:
                host_key, extra = apply_user_data(droplet.user_data)
                assert self.root is not None
                root = self.root / str(droplet_id)
                root.mkdir(parents=True, exist_ok=True)
                droplet.root = root
                host = SshdHost(address, root, host_key=host_key,
                                authorized_keys=[*droplet.authorized_keys, *extra]).start()
        except Exception:
            logger.exception("fake DigitalOcean: droplet %s failed to boot", droplet_id)
            self._finish(action, "errored")
            return
        with self._lock:
            if droplet_id not in self._droplets:  # deleted while booting
                if host is not None:
                    host.stop()
                return
            droplet.host = host
            droplet.data["networks"]["v4"] = [{"ip_address": address, "netmask": "255.255.255.0",
                                               "gateway": address.rsplit(".", 1)[0] + ".1", "type": "public"}]
            droplet.data.update(status="active", locked=False)
        self._finish(action)

    def _halt(self, droplet: FakeDroplet) -> None:
        with self._power:
            host, droplet.host = droplet.host, None
            if host is not None:
                try:
                    host.stop()
                except Exception:  # a stand-in that died on its own
                    logger.exception("fake DigitalOcean: stopping the sshd of droplet %s", droplet.id)
        if droplet.root is not None:
            shutil.rmtree(droplet.root, ignore_errors=True)

    def _reboot(self, droplet_id: int, action: Wire) -> None:
        with self._lock:
            droplet = self._droplets.get(droplet_id)
        if droplet is None:
            return
        with self._power:  # a delete meanwhile stops the sshd before or after, never during the restart
            if droplet.host is not None:
                droplet.host.restart(host_key=droplet.host.host_key)
        with self._lock:
            if droplet_id in self._droplets:
                droplet.data.update(status="active", locked=False)
        self._finish(action)

    # ------------------------------------------------------------------------------------------------ requests

    def _log(self, method: str, path: str, query: dict[str, str], authorized: bool) -> _Fault | None:
        """Record a request; the injected fault it meets, if any (an unauthenticated request meets none)."""
        with self._lock:
            self._requests.append((method, path, query))
            self._remaining = max(0, self._remaining - 1)
            for fault in self._faults if authorized else []:
                if fault.method == method and path.startswith(fault.prefix):
                    self._faults.remove(fault)
                    return fault
        return None

    def rate_headers(self) -> dict[str, str]:
        """DigitalOcean's rate-limit headers as they stand."""
        return {"ratelimit-limit": "5000", "ratelimit-remaining": str(self._remaining),
                "ratelimit-reset": str(int(time.time()) + 60)}

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Wire | None]:
        """Answer one authenticated API request: (status, JSON body)."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:1] != ["v2"] or len(parts) < 2:
            raise _not_found()
        resource, rest = parts[1], parts[2:]
        with self._lock:
            if resource == "sizes" and not rest and method == "GET":
                return 200, self._page("sizes", self.sizes, query, path)
            if resource == "images" and len(rest) == 1 and method == "GET":
                return 200, {"image": self._image(rest[0])}
            if resource == "account" and rest[:1] == ["keys"]:
                return self._keys_api(method, rest[1:], query, body, path)
            if resource == "account" and not rest and method == "GET":
                return 200, {"account": {"droplet_limit": self.droplet_limit, "floating_ip_limit": 3,
                                         "email": "fake@example.com", "email_verified": True, "uuid": str(uuid.uuid5(
                                             uuid.NAMESPACE_DNS, "fake.digitalocean")), "status": "active",
                                         "status_message": "", "team": {"name": "fake", "uuid": str(uuid.uuid5(
                                             uuid.NAMESPACE_DNS, "team.fake.digitalocean"))}}}
            if resource == "droplets":
                return self._droplets_api(method, rest, query, body, path)
            if resource == "actions" and len(rest) == 1 and method == "GET":
                action = self._actions.get(int(rest[0])) if rest[0].isdigit() else None
                if action is None:
                    raise _not_found()
                return 200, {"action": dict(action)}
            if resource == "tags":
                return self._tags_api(method, rest, query, body, path)
            if resource == "firewalls":
                return self._firewalls_api(method, rest, query, body, path)
        raise _not_found()

    def _page(self, key: str, items: list[Wire], query: dict[str, str], path: str) -> Wire:
        try:
            per_page = max(1, min(int(query.get("per_page", 20)), 200, self.max_per_page))
            page = max(1, int(query.get("page", 1)))
        except ValueError:
            raise _ApiError(400, "bad_request", "page and per_page must be integers") from None
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page:page * per_page]
        extra = {k: v for k, v in query.items() if k not in ("page", "per_page")}

        def link(n: int) -> str:
            return f"{self.url}{path}?{urlencode({**extra, 'page': n, 'per_page': per_page})}"

        pages: Wire = {}
        if page > 1:
            pages.update(first=link(1), prev=link(page - 1))
        if page < last:
            pages.update(next=link(page + 1), last=link(last))
        return {key: [json.loads(json.dumps(i)) for i in chunk], "links": {"pages": pages},
                "meta": {"total": len(items)}}

    def _image(self, ref: Any) -> Wire:
        for image in IMAGES.values():
            if ref in (image["slug"], image["id"], str(image["id"])):
                return dict(image)
        raise _not_found()

    # ---- keys

    def _find_key(self, ref: str) -> Wire:
        for key in self._keys.values():
            if ref in (str(key["id"]), key["fingerprint"]):
                return key
        raise _not_found()

    def _keys_api(self, method: str, rest: list[str], query: dict[str, str], body: Any,
                  path: str) -> tuple[int, Wire | None]:
        if not rest and method == "GET":
            return 200, self._page("ssh_keys", list(self._keys.values()), query, path)
        if not rest and method == "POST":
            from cloudorm.compute.keys import md5_fingerprint, public_key_blob

            name, public = (body or {}).get("name"), (body or {}).get("public_key")
            if not name or not isinstance(public, str):
                raise _unprocessable("name and public_key are required")
            try:
                fingerprint = md5_fingerprint(public_key_blob(public)[1])
            except Exception:
                raise _unprocessable("Key invalid type, we support 'ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256', "
                                     "'ecdsa-sha2-nistp384', or 'ecdsa-sha2-nistp521'") from None
            if any(k["fingerprint"] == fingerprint for k in self._keys.values()):
                raise _unprocessable("SSH Key is already in use on your account")
            key = {"id": self._new_id("key"), "fingerprint": fingerprint, "public_key": public.strip(), "name": name}
            self._keys[key["id"]] = key
            return 201, {"ssh_key": dict(key)}
        if len(rest) == 1 and method == "GET":
            return 200, {"ssh_key": dict(self._find_key(rest[0]))}
        if len(rest) == 1 and method == "DELETE":
            del self._keys[self._find_key(rest[0])["id"]]
            return 204, None
        raise _not_found()

    # ---- droplets

    def _droplets_api(self, method: str, rest: list[str], query: dict[str, str], body: Any,
                      path: str) -> tuple[int, Wire | None]:
        if not rest and method == "GET":
            tag = query.get("tag_name")
            found = [d.data for d in sorted(self._droplets.values(), key=lambda d: d.id)
                     if tag is None or tag in d.data["tags"]]
            return 200, self._page("droplets", found, query, path)
        if not rest and method == "POST":
            return self._create_droplets(body or {})
        if not rest and method == "DELETE":
            tag = query.get("tag_name")
            if not tag:
                raise _ApiError(400, "bad_request", "tag_name is required")
            for tagged in [d for d in self._droplets.values() if tag in d.data["tags"]]:
                self._delete_droplet(tagged)
            return 204, None
        target = self._droplets.get(int(rest[0])) if rest[0].isdigit() else None
        if target is None:
            raise _not_found()
        droplet = target
        if len(rest) == 1 and method == "GET":
            return 200, {"droplet": json.loads(json.dumps(droplet.data))}
        if len(rest) == 1 and method == "DELETE":
            self._delete_droplet(droplet)
            return 204, None
        if rest[1:] == ["actions"] and method == "POST":
            kind = (body or {}).get("type")
            if kind not in ("reboot", "power_cycle"):
                raise _unprocessable(f"action type {kind!r} is not supported by this fake")
            if droplet.data["locked"]:  # booting or in another action: what DigitalOcean answers
                raise _unprocessable("Droplet already has a pending event.")
            action = self._action(kind, droplet.data)
            droplet.data.update(status="off", locked=True)
            self._later(self.reboot_delay, self._reboot, droplet.id, action)
            return 201, {"action": dict(action)}
        raise _not_found()

    def _delete_droplet(self, droplet: FakeDroplet) -> None:
        self._droplets.pop(droplet.id, None)
        thread = threading.Thread(target=self._halt, args=(droplet,), daemon=True)
        self._halts = [t for t in self._halts if t.is_alive()]
        self._halts.append(thread)  # stop() waits for it
        thread.start()

    def _create_droplets(self, body: Wire) -> tuple[int, Wire]:
        self._creates.append(json.loads(json.dumps(body)))
        single = "name" in body
        names = [body["name"]] if single else body.get("names")
        if not isinstance(names, list) or not names or ("name" in body and "names" in body):
            raise _unprocessable("give either name or names")
        if len(names) > MAX_NAMES:
            raise _unprocessable(f"You can only create up to {MAX_NAMES} Droplets at once.")
        if len(self._droplets) + len(names) > self.droplet_limit:
            raise _unprocessable("creating this/these droplet(s) will exceed your droplet limit")
        for name in names:
            if not _made_of(name, ".-") or name[0] in ".-" or name[-1] in ".-":
                raise _unprocessable("Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
        region = body.get("region")
        if region not in REGIONS:
            raise _unprocessable("You specified an invalid region for Droplet creation.")
        size = next((s for s in self.sizes if s["slug"] == body.get("size")), None)
        if size is None:
            raise _unprocessable("You specified an invalid size for Droplet creation.")
        try:
            image = self._image(body.get("image"))
        except _ApiError:
            raise _unprocessable("You specified an invalid image for Droplet creation.") from None
        authorized = []
        for ref in body.get("ssh_keys") or []:
            try:
                authorized.append(self._find_key(str(ref))["public_key"])
            except _ApiError:
                raise _unprocessable(f"ssh_keys: key {ref!r} was not found on this account") from None
        user_data = body.get("user_data")
        if user_data is not None and (not isinstance(user_data, str) or len(user_data.encode()) > 64 * 1024):
            raise _unprocessable("user_data must be a string of at most 64 KiB")
        tags = [_check_tag(tag) for tag in body.get("tags") or []]
        for tag in tags:
            self._tags.setdefault(tag, {"name": tag})
        features = [f for f, on in (("monitoring", body.get("monitoring")), ("ipv6", body.get("ipv6")),
                                    ("backups", body.get("backups"))) if on]
        created, actions = [], []
        for name in names:
            droplet_id = self._new_id("droplet")
            data: Wire = {
                "id": droplet_id, "name": name, "memory": size["memory"], "vcpus": size["vcpus"],
                "disk": size["disk"], "locked": True, "status": "new", "kernel": None, "created_at": _now(),
                "features": features, "backup_ids": [], "next_backup_window": None, "snapshot_ids": [],
                "image": image, "volume_ids": [], "size": dict(size), "size_slug": size["slug"],
                "networks": {"v4": [], "v6": []},
                "region": {"name": region, "slug": region, "features": ["metadata", "install_agent"],
                           "available": True, "sizes": [s["slug"] for s in self.sizes]},
                "tags": tags, "vpc_uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"vpc.{region}")),
            }
            droplet = FakeDroplet(data=data, user_data=user_data, authorized_keys=list(authorized))
            self._droplets[droplet_id] = droplet
            action = self._action("create", data)
            actions.append({"id": action["id"], "rel": "create",
                            "href": f"{self.url}/v2/actions/{action['id']}"})
            created.append(json.loads(json.dumps(data)))
            self._later(self.boot_delay, self._boot, droplet_id, action)
        if single:
            return 202, {"droplet": created[0], "links": {"actions": actions}}
        return 202, {"droplets": created, "links": {"actions": actions}}

    # ---- tags

    def _tag_json(self, name: str) -> Wire:
        count = sum(1 for d in self._droplets.values() if name in d.data["tags"])
        last = next((f"/v2/droplets/{d.id}" for d in self._droplets.values() if name in d.data["tags"]), None)
        return {"name": name, "resources": {"count": count, "last_tagged_uri": last,
                                            "droplets": {"count": count, "last_tagged_uri": last},
                                            "images": {"count": 0}, "volumes": {"count": 0},
                                            "volume_snapshots": {"count": 0}, "databases": {"count": 0}}}

    def _tags_api(self, method: str, rest: list[str], query: dict[str, str], body: Any,
                  path: str) -> tuple[int, Wire | None]:
        if not rest and method == "GET":
            return 200, self._page("tags", [self._tag_json(n) for n in sorted(self._tags)], query, path)
        if not rest and method == "POST":
            name = _check_tag((body or {}).get("name"))
            self._tags.setdefault(name, {"name": name})
            return 201, {"tag": self._tag_json(name)}
        if len(rest) == 1 and rest[0] in self._tags:
            if method == "GET":
                return 200, {"tag": self._tag_json(rest[0])}
            if method == "DELETE":
                del self._tags[rest[0]]
                for droplet in self._droplets.values():
                    if rest[0] in droplet.data["tags"]:
                        droplet.data["tags"] = [t for t in droplet.data["tags"] if t != rest[0]]
                return 204, None
        raise _not_found()

    # ---- firewalls

    def _firewalls_api(self, method: str, rest: list[str], query: dict[str, str], body: Any,
                       path: str) -> tuple[int, Wire | None]:
        if not rest and method == "GET":
            return 200, self._page("firewalls", list(self._firewalls.values()), query, path)
        if not rest and method == "POST":
            firewall = self._check_firewall(body or {})
            self._firewalls[firewall["id"]] = firewall
            return 202, {"firewall": dict(firewall)}
        if len(rest) == 1 and rest[0] in self._firewalls:
            if method == "GET":
                return 200, {"firewall": dict(self._firewalls[rest[0]])}
            if method == "DELETE":
                del self._firewalls[rest[0]]
                return 204, None
        raise _not_found()

    def _check_firewall(self, body: Wire) -> Wire:
        name = body.get("name")
        if not _made_of(name, ".-") or not name[0].isalnum():
            raise _ApiError(400, "bad_request", "name: must contain only letters, numbers, '.' and '-'")
        inbound, outbound = body.get("inbound_rules") or [], body.get("outbound_rules") or []
        if not inbound and not outbound:
            raise _ApiError(400, "bad_request", "at least one inbound or outbound rule is required")
        for rule, side in [*((r, "sources") for r in inbound), *((r, "destinations") for r in outbound)]:
            protocol = rule.get("protocol")
            if protocol not in ("tcp", "udp", "icmp"):
                raise _ApiError(400, "bad_request", f"protocol {protocol!r} must be tcp, udp or icmp")
            if protocol != "icmp" and not rule.get("ports"):
                raise _ApiError(400, "bad_request", f"ports are required for {protocol} rules")
            if not any((rule.get(side) or {}).get(k) for k in ("addresses", "tags", "droplet_ids",
                                                                "load_balancer_uids", "kubernetes_ids")):
                raise _ApiError(400, "bad_request", f"a {side[:-1]} is required for every rule")
        for tag in body.get("tags") or []:
            self._tags.setdefault(tag, {"name": tag})
        return {"id": str(uuid.uuid4()), "name": name, "status": "waiting", "created_at": _now(),
                "pending_changes": [], "inbound_rules": inbound,
                "outbound_rules": [{**r, "ports": r.get("ports") or "0"} for r in outbound],
                "droplet_ids": list(body.get("droplet_ids") or []), "tags": list(body.get("tags") or [])}


class _Handler(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection of the fake API."""

    protocol_version = "HTTP/1.1"
    owner: FakeDigitalOcean

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake DigitalOcean: " + format, *args)

    def _respond(self, status: int, body: Wire | None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in {**self.owner.rate_headers(), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        request_id = str(uuid.uuid4())
        self._respond(status, {"id": code, "message": message, "request_id": request_id},
                      {"x-request-id": request_id, **(headers or {})})

    def _serve(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        authorized = self.headers.get("Authorization") == f"Bearer {self.owner.token}"
        fault = self.owner._log(self.command, split.path, query, authorized)
        if not authorized:
            self._error(401, "Unauthorized", "Unable to authenticate you")
            return
        if fault is not None:
            code = fault.code or {404: "not_found", 422: "unprocessable_entity", 429: "too_many_requests",
                                  401: "Unauthorized", 403: "forbidden"}.get(fault.status, "server_error")
            self._error(fault.status, code, fault.message, fault.headers)
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._error(400, "bad_request", "the request body is not JSON")
            return
        try:
            status, answer = self.owner.handle(self.command, split.path, query, body)
        except _ApiError as e:
            self._error(e.status, e.code, e.message)
            return
        except Exception as e:  # a bug in the fake: say so as DigitalOcean would, a 500
            logger.exception("fake DigitalOcean failed on %s %s", self.command, self.path)
            self._error(500, "server_error", f"fake DigitalOcean failed: {e}")
            return
        self._respond(status, answer)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve
