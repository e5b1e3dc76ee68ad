"""The Function entity: a Lambda-style function deployed from a deterministic bundle, invoked with JSON events.

Settings given to the constructor (or set later) are what ``save()`` deploys; settings left out keep what the
deployed function has (a new function gets Lambda's defaults) and are loaded lazily on first read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_flag, check_seconds
from cloudorm.core import UNSET, Found, Plan, Record, Resource, SessionLike, call, field, resource, run, stored
from cloudorm.iam.role import Role
from cloudorm.serverless.bundle import BUILDERS, Bundle, build_bundle
from cloudorm.serverless.logs import LogEvent, log_window
from cloudorm.serverless.names import (
    check_description,
    check_environment,
    check_memory,
    check_role_ref,
    check_timeout,
    is_role_arn,
    split_function_ref,
)
from cloudorm.serverless.runtimes import check_architecture, check_handler_name, get_runtime
from cloudorm.serverless.waits import polled, propagated

if TYPE_CHECKING:
    from typing_extensions import Self

DEFAULTS: dict[str, Any] = {"runtime": "python3.12", "memory": 128, "timeout": 3, "environment": {},
                            "architecture": "x86_64", "description": None, "handler": None, "role": None}
"""What a new function gets for the settings it was not given (Lambda's defaults; python3.12)."""

MAX_PAYLOAD = 6 * 1024 * 1024
"""The largest event a synchronous invocation takes, as JSON bytes (Lambda's limit)."""

MAX_EVENT_PAYLOAD = 1024 * 1024
"""The largest event an asynchronous invocation (``wait=False``) takes, as JSON bytes (Lambda's limit)."""

SETTINGS = ("runtime", "handler", "role", "memory", "timeout", "environment", "architecture", "description")
"""The settings a function is deployed with (the keys of a ``FunctionService`` spec)."""


def _runtime(value: Any) -> str:
    return get_runtime(value).name


def _handler(value: Any) -> str:
    check_handler_name(value)
    return str(value)


def _role(value: Any) -> Role | str:
    return value if isinstance(value, Role) else check_role_ref(value)


def _description(value: Any) -> str:
    return check_description(value) or ""  # set to None or "": no description


def _source(value: Any) -> str | os.PathLike[str] | None:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise ce.InvalidInput("source", f"must be a path to a file or directory, not {type(value).__name__}")
    return value


def _same_role(new: Any, old: Any) -> bool:
    """A role given as a Role, name or ARN is the deployed role (an ARN), told without a request: role names are
    unique in an account, so a name is compared with the ARN's last segment."""
    if new is None or old is None:
        return new is old
    name = new.name if isinstance(new, Role) else str(new)
    return bool(name == old if is_role_arn(name) else name == str(old).rsplit("/", 1)[-1])


def _same_description(new: Any, old: Any) -> bool:
    return (new or None) == (old or None)


def _same_environment(new: Any, old: Any) -> bool:
    return dict(new or {}) == dict(old or {})


CHECKS: dict[str, Callable[[Any], Any]] = {
    "runtime": _runtime, "handler": _handler, "role": _role, "memory": check_memory, "timeout": check_timeout,
    "environment": check_environment, "architecture": check_architecture, "description": _description}
"""Each setting's check, run when it is set and again before each save (values can be changed in place)."""


@resource
class Function(Resource):
    """A function: ``s.Function("resize", handler="app.handler", source="./app.py", role=role).save()``;
    ``fn.invoke({"x": 1})`` returns the handler's result. ``s.Function("resize")`` names an existing one."""

    kind = "function"

    name: str = attrs.field(on_setattr=attrs.setters.frozen)
    """The function's name (the short name when it was given by ARN); fixed: requests go to the function named
    when the object was made (``s.Function(other)`` for another)."""
    source: str | os.PathLike[str] | None = attrs.field(default=None)
    """The handler's file or directory (None: the deployed code is kept)."""
    requirements: Iterable[str] | str | os.PathLike[str] | None = attrs.field(default=None)
    """Packages vendored into the bundle: a list of requirement strings or a requirements file."""
    include: tuple[str | os.PathLike[str], ...] = attrs.field(default=())
    """Extra files bundled with the source."""
    builder: str = attrs.field(default="auto")
    """How requirements are built: ``"auto"``, ``"pip"`` or ``"docker"`` (see ``cloudorm.serverless.bundle``)."""
    image: str | None = attrs.field(default=None)
    """The Docker builder's image (None: the runtime's build image)."""
    follow_links: bool = attrs.field(default=False)
    """Whether links in the source or included folders that lead out of them are bundled (``cloudorm.trees``)."""

    runtime: str = field(_runtime, default=DEFAULTS["runtime"])
    """The runtime (``python3.12``)."""
    handler: str | None = field(_handler, default=None)
    """``module.function`` called for each event."""
    role: Role | str | None = field(_role, default=None, compare=_same_role)
    """The execution role: as given (a Role, name or ARN), else the deployed role's ARN."""
    memory: int = field(check_memory, default=DEFAULTS["memory"])
    """Memory in MB (128 to 10240)."""
    timeout: int = field(check_timeout, default=DEFAULTS["timeout"])
    """Seconds an invocation may run (1 to 900)."""
    environment: dict[str, str] = field(check_environment, factory=dict, compare=_same_environment)
    """Environment variables (never shown in a repr: they may be secrets)."""
    architecture: str = field(check_architecture, default=DEFAULTS["architecture"])
    """``"x86_64"`` or ``"arm64"``."""
    description: str | None = field(_description, default=None, compare=_same_description)
    """A description of at most 256 characters."""

    bundle: Bundle | None = attrs.field(default=None, init=False)
    """The bundle the last ``save()`` built (None before)."""
    last_log: str | None = attrs.field(default=None, init=False)
    """The log tail of the last synchronous ``invoke()``, when the provider returned one."""
    _ref: str = attrs.field(default="")
    _absent: bool = attrs.field(default=False, init=False)
    _built: tuple[tuple[Any, ...], Bundle] | None = attrs.field(default=None, init=False)
    _waits: tuple[float, float] = attrs.field(default=(60.0, 300.0), init=False)
    _fresh: bool = attrs.field(default=False, init=False)
    """The record was read by this save (an update needs no second look at the function's state)."""

    code_sha256: str | None = stored(lazy=False)
    """The deployed zip's SHA-256 (base64, as Lambda reports it), as last saved or loaded."""
    code_size: int | None = stored(lazy=False)
    """The deployed zip's size in bytes, as last saved or loaded."""
    status: str | None = stored("state", lazy=False)
    """Lambda's own state of the function (``Pending``, ``Active``, ``Inactive``, ``Failed``) as last saved or
    loaded; None before. (``cloudorm.state(fn)`` is where the object is in its lifecycle.)"""
    last_modified: str | None = stored(lazy=False)
    """When the function's code or configuration last changed, as last saved or loaded."""

    def __init__(self, session: SessionLike, name: str, *, handler: str | None = None,
                 source: str | os.PathLike[str] | None = None, runtime: str | None = None,
                 role: Role | str | None = None, requirements: Iterable[str] | str | os.PathLike[str] | None = None,
                 include: Iterable[str | os.PathLike[str]] = (), memory: int | None = None,
                 timeout: int | None = None, environment: Mapping[str, str] | None = None,
                 architecture: str | None = None, description: str | None = None, builder: str = "auto",
                 image: str | None = None, follow_links: bool = False) -> None:
        short, ref = split_function_ref(name)
        if builder not in BUILDERS:
            raise ce.InvalidInput("builder", f"unknown builder {builder!r}; use one of {', '.join(BUILDERS)}")
        if isinstance(include, (str, os.PathLike)):
            include = [include]
        if not isinstance(include, Iterable):
            raise ce.InvalidInput("include", f"must be a path or a list of paths, not {type(include).__name__}")
        include = tuple(include)
        if source is None and (requirements or include):
            raise ce.InvalidInput("source", "requirements= and include= are bundled with the source: give source= "
                                            "too")
        given = {"runtime": runtime, "handler": handler, "role": role, "memory": memory, "timeout": timeout,
                 "environment": environment, "architecture": architecture, "description": description}
        settings = {key: UNSET if value is None else value for key, value in given.items()}
        init = self.__attrs_init__  # type: ignore[attr-defined]  # (attrs makes it: __init__ is the kind's own)
        init(session, short, _source(source), requirements, include, builder, image, follow_links, ref=ref, **settings)

    def __repr__(self) -> str:
        known = {**(self._co_record or {}), **{k: v for k, v in self.__dict__.items() if k in SETTINGS}}
        parts = [repr(self.name)]
        for key in ("runtime", "handler"):
            if known.get(key) not in (None, UNSET):
                parts.append(f"{key}={known[key]!r}")
        if known.get("environment"):
            parts.append(f"environment=[{', '.join(map(repr, known['environment']))}]")  # the keys only
        return f"Function({', '.join(parts)})"

    @classmethod
    def _from_record(cls, session: SessionLike, record: Record) -> Self:
        """A function as a listing returned it."""
        return cls._co_from_record(session, record)

    # ------------------------------------------------------------------------------------------------- reading

    @property
    def arn(self) -> str:
        """The function's ARN (loaded on first read if it was not given)."""
        if self._co_record is None and self._ref.startswith("arn:"):
            return self._ref
        found, value = self._co_lookup("arn")
        if not found:
            raise ce.NotFound(f"function {self.name!r} does not exist", provider=self.session.provider)
        return str(value)

    def _co_arn(self) -> Plan[str]:
        """The function's ARN: as given or known, else one read (``NotFound`` if it does not exist)."""
        if self._co_record is not None and self._co_record.get("arn"):
            return str(self._co_record["arn"])
        if self._ref.startswith("arn:"):
            return self._ref
        return str((yield from self._co_fetch())["arn"])

    def _co_lookup(self, key: str, lazy: bool = True) -> tuple[bool, Any]:
        """A function named but not loaded loads its settings on first read (a missing one is ``NotFound``, unless
        ``source`` is given: then it is new and reads give the defaults)."""
        if self._co_record is None and lazy and not self._co_deleted and not self._absent:
            try:
                self._co_take(run(self.session, self._co_fetch()), keep_local=True)
            except ce.NotFound:
                if self.source is None:
                    raise
                self._absent = True
        return super()._co_lookup(key, lazy)

    def _co_take(self, record: Record, *, partial: bool = False, keep_local: bool = False) -> None:
        self._built = None  # (the deployed code changed, or may have: the source is bundled again to compare)
        super()._co_take(record, partial=partial, keep_local=keep_local)

    def _held(self, key: str) -> Any:
        """A setting as given, else as deployed (if known), else the default: never a request."""
        held = self.__dict__.get(key, UNSET)
        if held is not UNSET:
            return held
        record = self._co_record or {}
        return record.get(key) or DEFAULTS[key]

    def _co_changes(self) -> set[str]:
        """The changed settings, and ``code`` when ``source`` bundles to other code than the deployed (or the
        architecture moves: the code is uploaded again)."""
        out = super()._co_changes()
        record = self._co_record
        if record is not None and self.source is not None:
            code = self._code()
            if code.sha256 != record.get("code_sha256") or self._held("architecture") != record.get("architecture"):
                out.add("code")
        return out

    # ------------------------------------------------------------------------------------------------- bundling

    def _inputs(self) -> tuple[Any, ...]:
        """What the bundle is built for: the handler, runtime and architecture as given, else as deployed."""
        return tuple(self._held(key) for key in ("handler", "runtime", "architecture"))

    def _build(self, inputs: tuple[Any, ...], *, vendor: bool = True) -> Bundle:
        """The bundle for ``inputs``; without ``vendor``, the source and included files alone (their checks)."""
        handler, runtime, architecture = inputs
        assert self.source is not None
        return build_bundle(source=self.source, handler=handler, runtime=runtime, architecture=architecture,
                            requirements=self.requirements if vendor else None, include=self.include,
                            builder=self.builder, image=self.image, follow_links=self.follow_links)

    def _code(self) -> Bundle:
        """The bundle of ``source`` for the current inputs (built once per save and inputs)."""
        inputs = self._inputs()
        if self._built is None or self._built[0] != inputs:
            self._built = (inputs, self._build(inputs))
        self.bundle = self._built[1]
        return self.bundle

    # ------------------------------------------------------------------------------------------------- lifecycle

    def _co_check(self) -> None:
        """Check every given setting again (``environment`` may have been changed in place), and the source
        and handler by bundling them: a bad one costs no request. Requirements are vendored now only if the
        deployed runtime and architecture cannot change what they are built for (pip runs for one target)."""
        for key in SETTINGS:
            held = self.__dict__.get(key, UNSET)
            if held is not UNSET:
                CHECKS[key](held)
        self._built, self._fresh = None, False
        if self.source is not None and self.__dict__.get("handler", UNSET) is not UNSET:
            vendor = (not self.requirements or self._co_record is not None
                      or all(self.__dict__.get(k, UNSET) is not UNSET for k in ("runtime", "architecture")))
            inputs = self._inputs()
            checked = self._build(inputs, vendor=vendor)
            if vendor:
                self._built = (inputs, checked)

    def save(self, *, exists_ok: bool = True, role_wait: float = 60.0, ready_wait: float = 300.0) -> Self:
        """Deploy: build the bundle, then create the function, or upload the code only if its hash changed and
        send only the changed settings; return once it is Active and not updating. A function of this name that
        exists already is adopted (``exists_ok=False``: ``AlreadyExists``). A new role that Lambda cannot assume
        yet is retried for ``role_wait`` seconds; ``ready_wait`` bounds the wait for Active (0: look once)."""
        self._waits = (check_seconds("role_wait", role_wait, zero=True),
                       check_seconds("ready_wait", ready_wait, zero=True))
        return super().save(exists_ok=exists_ok)

    def _co_fetch(self) -> Plan[Record]:
        record: Record = yield from call("serverless", "get_function", self._ref)
        return record

    def _co_create(self) -> Plan[Record]:
        try:
            found = yield from self._co_fetch()
        except ce.NotFound:
            self._absent = True
        else:
            self._fresh = True
            raise Found(f"function {self.name!r} exists already", found)
        if self.source is None:
            raise ce.InvalidInput("source", f"function {self.name!r} does not exist: give source= and handler= "
                                            "to create it")
        for key, what in (("handler", "handler= ('module.function')"), ("role", "role= (a Role, a role name or ARN)")):
            if self.__dict__.get(key, UNSET) in (UNSET, None):
                raise ce.InvalidInput(key, f"function {self.name!r} does not exist: give {what} to create it")
        code = self._code()
        self.__dict__["role"] = yield from self._role_arn()
        spec = {key: self._held(key) for key in SETTINGS}
        spec["description"] = spec["description"] or None
        made = yield from propagated("serverless", "create_function", self._ref, spec, code.read(),
                                     timeout=self._waits[0], what=f"creating function {self.name!r}")
        return (yield from self._ready(made))

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        record = dict(self._co_record or {}) if self._fresh else (yield from self._co_fetch())
        record = yield from self._ready(record, failed_ok=True)  # (a change waits for one in progress to end)
        arch = str(self._held("architecture"))
        moved = arch != record.get("architecture")  # (an architecture is set with the code)
        if moved and self.source is None:
            raise ce.InvalidInput("architecture", f"function {self.name!r} runs on {record.get('architecture')}; "
                                                  f"moving it to {arch} uploads its code again: give source= too")
        if self.source is not None:
            code = self._code()
            if code.sha256 != record.get("code_sha256") or moved:
                uploaded = yield from call("serverless", "update_code", self._ref, code.read(), arch)
                record = yield from self._ready(uploaded)
        settings = {key: self._held(key) for key in sorted(changed) if key in SETTINGS and key != "architecture"}
        if "role" in settings:
            settings["role"] = self.__dict__["role"] = yield from self._role_arn()
        if settings:
            record = yield from propagated("serverless", "update_configuration", self._ref, settings,
                                           timeout=self._waits[0], what=f"updating function {self.name!r}")
        return (yield from self._ready(record))

    def _role_arn(self) -> Plan[str]:
        """The role's ARN: an ARN as given, a saved Role's own, else one IAM read of the role by name."""
        role = self.__dict__["role"]
        if isinstance(role, str) and is_role_arn(role):
            return role
        if isinstance(role, Role) and role.arn:
            return str(role.arn)
        record = yield from (role if isinstance(role, Role) else Role(self.session, role))._co_fetch()
        return str(record["arn"])

    def _ready(self, record: Record, *, failed_ok: bool = False) -> Plan[Record]:
        """Wait until the function is no longer Pending and no update is in progress; a failed one raises
        ``CloudError`` with Lambda's reason (unless ``failed_ok``: a new deploy may fix it)."""
        def done(r: Record) -> bool:
            if not failed_ok and (r.get("state") == "Failed" or r.get("update_status") == "Failed"):
                reason = r.get("state_reason") or "Lambda gave no reason"
                raise ce.CloudError(f"function {self.name!r} failed to deploy: {reason}", operation="GetFunction",
                                    provider=self.session.provider)
            return r.get("state") != "Pending" and r.get("update_status") != "InProgress"

        return (yield from polled(record, self._co_fetch, done, timeout=self._waits[1],
                                  what=f"function {self.name!r} becoming Active"))

    def _co_remove(self, **options: Any) -> Plan[None]:
        yield from call("serverless", "delete_function", self._ref)

    def delete(self, *, missing_ok: bool = False) -> None:
        """Delete the function; ``NotFound`` if it does not exist, unless ``missing_ok``. ``save()`` recreates it
        with the settings it had (and ``source``)."""
        before, self._absent = self._absent, True  # (settings never loaded stay unknown: deleting loads nothing)
        try:
            run(self.session, self._co_delete(missing_ok, {}))
        except BaseException:
            self._absent = before
            raise

    # ------------------------------------------------------------------------------------------------- running

    def invoke(self, event: Any = None, *, wait: bool = True) -> Any:
        """Run the function on ``event`` (JSON-encodable) and return its decoded result (the raw text if it is
        not JSON); a handler that raised is a ``FunctionError``. ``wait=False`` queues an asynchronous event and
        returns its request id."""
        wait = check_flag("wait", wait)
        try:
            payload = json.dumps(event, allow_nan=False).encode()
        except (TypeError, ValueError) as e:
            raise ce.InvalidInput("event", f"must be JSON-encodable: {e}") from None
        limit = MAX_PAYLOAD if wait else MAX_EVENT_PAYLOAD
        if len(payload) > limit:
            kind = "a synchronous" if wait else "an asynchronous"
            raise ce.InvalidInput("event", f"is {len(payload)} bytes as JSON; Lambda takes {limit} at most for {kind} "
                                           "invocation")
        result = run(self.session, call("serverless", "invoke", self._ref, payload, wait))
        if not wait:
            return result.get("request_id")
        self.last_log = result.get("log")
        text = (result.get("payload") or b"").decode("utf-8", "replace")
        try:
            value = json.loads(text) if text else None
        except ValueError:
            value = text
        if result.get("error"):
            raise self._function_error(value, result)
        return value

    def logs(self, *, since: dt.datetime | dt.timedelta | None = None, limit: int | None = None) -> list[LogEvent]:
        """The function's log, oldest first: what its invocations printed, between Lambda's START, END and REPORT
        lines (CloudWatch Logs' ``/aws/lambda/NAME``; [] before its first invocation). ``since``: only lines
        written from then on (a datetime, naive meaning UTC, or a timedelta back from now); ``limit``: only the last
        ``limit`` lines. Every line since ``since`` is read: give it for a long-lived function."""
        start, limit = log_window(since, limit)
        found = run(self.session, call("serverless", "logs", self.name, start, limit))
        return [LogEvent(e["time"], e["message"].rstrip("\n"), e.get("stream")) for e in found]

    def _function_error(self, value: Any, result: dict[str, Any]) -> ce.FunctionError:
        """The ``FunctionError`` for Lambda's error payload ``{"errorMessage", "errorType", "stackTrace"}``."""
        details = {"code": result.get("error"), "request_id": result.get("request_id"),
                   "provider": self.session.provider, "operation": "Invoke", "status": result.get("status")}
        if not isinstance(value, dict):
            return ce.FunctionError(str(value or f"function {self.name!r} failed"), None, (), **details)
        trace = value.get("stackTrace") or []
        lines = [t if isinstance(t, str) else " ".join(map(str, t)) for t in trace] if isinstance(trace, list) else []
        message = str(value.get("errorMessage") or value.get("errorType") or f"function {self.name!r} failed")
        return ce.FunctionError(message, value.get("errorType"), lines, **details)
