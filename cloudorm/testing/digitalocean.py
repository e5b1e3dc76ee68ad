"""A fake DigitalOcean v2 API on 127.0.0.1 whose droplets are real OpenSSH servers (``SshdHost`` stand-ins).

``FakeDigitalOcean`` speaks the JSON pydo sends and parses: sizes, regions, images (one, or listed by type), account
SSH keys, droplets (create with ``name`` or up to 10 ``names``, list by tag or name with pagination, get, delete by
id or tag), droplet actions (reboot, power_cycle, power_off, shutdown, power_on: powering off stops the droplet's
sshd, powering on starts it again; a droplet's actions listed newest first, or one read), actions, tags, firewalls
and the account (its ``droplet_limit``, enforced on create as DigitalOcean does);
bearer-token checks (401), DigitalOcean's error bodies (``id``, ``message``, ``request_id``) and rate-limit headers.
A droplet is created ``new`` without networks; after ``boot_delay`` seconds it gets a free ``127.0.0.N`` public
address and an sshd there, as cloud-init would set it up from the user data (its ``ssh_keys`` host key, or a fresh
one; the public keys of the droplet's ``ssh_keys`` ids plus the user data's ``ssh_authorized_keys`` as root's
authorized keys), another free ``127.0.0.M`` as its private address (no sshd there; given back when the droplet is
destroyed), and becomes ``active``. Firewalls (``digitalocean_firewalls``) check and record their rules. Where sshd
cannot run (``sshd_unavailable()`` says why), the API still works and droplets become active without an sshd.

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
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from cloudorm.providers.contract import Wire
from cloudorm.testing.digitalocean_model import (
    DEFAULT_SIZES,
    DROPLET_LIMIT,
    FakeDroplet,
    _ApiError,
    _Fault,
    _now,
)
from cloudorm.testing.digitalocean_routes import DigitalOceanRoutes
from cloudorm.testing.service import TestService

if TYPE_CHECKING:
    from cloudorm.compute.keys import KeyPair

__all__ = ["DEFAULT_SIZES", "FakeDigitalOcean", "FakeDroplet"]

logger = logging.getLogger(__name__)



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
                 droplet_limit: int = DROPLET_LIMIT, machines: Any = None,
                 environment: Mapping[str, str] | None = None) -> None:
        """``token``: the only bearer token accepted. ``root``: where stand-ins keep their files (a temporary
        directory by default, removed at ``stop()``). ``machines``: what boots a droplet instead of an ``SshdHost``,
        called as ``machines(droplet, host_key, authorized_keys)`` and returning a started host with ``address``,
        ``host_key``, ``stop()`` and ``restart(host_key=None)`` (``cloudorm.testing.machines.DockerMachines``:
        whole Debian machines in containers). ``environment``: variables every session on a stand-in gets (sshd's
        ``SetEnv``), e.g. ``cloudorm.testing.wheelhouse.pip_settings``."""
        self.machines = machines
        self.environment = dict(environment or {})
        """What every session on an sshd stand-in finds in its environment."""
        """What boots droplets instead of sshd stand-ins (None: ``SshdHost``)."""
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
        self._routes = DigitalOceanRoutes(self)

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
            host = None
            if self.machines is not None and not fails:
                host_key, extra = apply_user_data(droplet.user_data)
                host = self.machines(droplet, host_key, [*droplet.authorized_keys, *extra])
                address = private = str(host.address)  # (the containers' private network is Docker's bridge)
            else:
                address = allocate_address()  # claimed for this process: concurrent boots never share one
                private = droplet.private = allocate_address()
            if self.machines is None and self.sshd and not fails:
                host_key, extra = apply_user_data(droplet.user_data)
                assert self.root is not None
                root = self.root / str(droplet_id)
                root.mkdir(parents=True, exist_ok=True)
                droplet.root = root
                options = {"SetEnv": " ".join(f'{k}="{v}"' for k, v in self.environment.items())}
                host = SshdHost(address, root, host_key=host_key, authorized_keys=[*droplet.authorized_keys, *extra],
                                options=options if self.environment else None).start()
        except Exception:
            logger.exception("fake DigitalOcean: droplet %s failed to boot", droplet_id)
            self._release(droplet)
            self._finish(action, "errored")
            return
        with self._lock:
            if droplet_id not in self._droplets:  # deleted while booting
                if host is not None:
                    host.stop()
                self._release(droplet)
                return
            droplet.host = host
            droplet.data["networks"]["v4"] = [{"ip_address": address, "netmask": "255.255.255.0",
                                               "gateway": address.rsplit(".", 1)[0] + ".1", "type": "public"},
                                              {"ip_address": private, "netmask": "255.255.0.0", "gateway": "<nil>",
                                               "type": "private"}]
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
        self._release(droplet)

    @staticmethod
    def _release(droplet: FakeDroplet) -> None:
        """Give back the private address claimed for a destroyed droplet."""
        from cloudorm.testing.sshd import release_address

        private, droplet.private = droplet.private, None
        if private is not None:
            release_address(private)

    def _switch(self, droplet_id: int, action: Wire, on: bool) -> None:
        """A power-off (its sshd stopped, status ``off``) or power-on (its sshd started again, ``active``) ends."""
        with self._lock:
            droplet = self._droplets.get(droplet_id)
        if droplet is None:
            return
        with self._power:  # (a delete meanwhile stops the sshd before or after, never during)
            if droplet.host is not None:
                if on and not droplet.host.running:
                    droplet.host.start()
                elif not on:
                    droplet.host.stop()
        with self._lock:
            if droplet_id in self._droplets:
                droplet.data.update(status="active" if on else "off", locked=False)
        self._finish(action)

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
        return self._routes.handle(method, path, query, body)


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
