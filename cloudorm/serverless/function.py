"""The Function entity: a Lambda-style function deployed from a deterministic bundle, invoked with JSON events.

Settings given to the constructor (or set later) are what ``save()`` deploys; settings left out keep what the
deployed function has (a new function gets Lambda's defaults) and are loaded lazily on first read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_flag, check_seconds
from cloudorm.iam.propagation import until_propagated
from cloudorm.iam.role import Role
from cloudorm.serverless.bundle import BUILDERS, Bundle, build_bundle
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
from cloudorm.waiting import wait_until

if TYPE_CHECKING:
    from typing_extensions import Self

    from cloudorm.providers.base import FunctionService
    from cloudorm.session import Session

T = TypeVar("T")

DEFAULTS: dict[str, Any] = {"runtime": "python3.12", "memory": 128, "timeout": 3, "environment": {},
                            "architecture": "x86_64", "description": None}
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


class Setting(Generic[T]):
    """A deployable setting: the value given or set (checked), else the deployed one, loaded on first read."""

    def __init__(self, check: Callable[[Any], T]) -> None:
        self.check = check
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Setting[T]: ...

    @overload
    def __get__(self, obj: Function, owner: type | None = None) -> T: ...

    def __get__(self, obj: Function | None, owner: type | None = None) -> Setting[T] | T:
        if obj is None:
            return self
        value: T = obj._setting(self.name)
        return value

    def __set__(self, obj: Function, value: Any) -> None:
        obj._given[self.name] = self.check(value)


@attrs.define(eq=False, repr=False, init=False)
class Function:
    """A function: ``s.Function("resize", handler="app.handler", source="./app.py", role=role).save()``;
    ``fn.invoke({"x": 1})`` returns the handler's result. ``s.Function("resize")`` names an existing one."""

    session: Session
    name: str
    """The function's name (the short name when it was given by ARN)."""
    source: str | os.PathLike[str] | None
    """The handler's file or directory (None: the deployed code is kept)."""
    requirements: Iterable[str] | str | os.PathLike[str] | None
    """Packages vendored into the bundle: a list of requirement strings or a requirements file."""
    include: tuple[str | os.PathLike[str], ...]
    """Extra files bundled with the source."""
    builder: str
    """How requirements are built: ``"auto"``, ``"pip"`` or ``"docker"`` (see ``cloudorm.serverless.bundle``)."""
    image: str | None
    """The Docker builder's image (None: the runtime's build image)."""
    follow_links: bool = False
    """Whether links in the source or included folders that lead out of them are bundled (``cloudorm.trees``)."""
    bundle: Bundle | None = None
    """The bundle the last ``save()`` built (None before)."""
    last_log: str | None = None
    """The log tail of the last synchronous ``invoke()``, when the provider returned one."""
    _ref: str = ""
    _given: dict[str, Any] = attrs.Factory(dict)
    _record: dict[str, Any] | None = None
    _absent: bool = False
    _role_arn: tuple[Any, str] | None = None

    runtime = Setting[str](_runtime)
    """The runtime (``python3.12``)."""
    handler = Setting["str | None"](_handler)
    """``module.function`` called for each event."""
    role = Setting["Role | str | None"](_role)
    """The execution role: as given (a Role, name or ARN), else the deployed role's ARN."""
    memory = Setting[int](check_memory)
    """Memory in MB (128 to 10240)."""
    timeout = Setting[int](check_timeout)
    """Seconds an invocation may run (1 to 900)."""
    environment = Setting[dict[str, str]](check_environment)
    """Environment variables (never shown in a repr: they may be secrets)."""
    architecture = Setting[str](check_architecture)
    """``"x86_64"`` or ``"arm64"``."""
    description = Setting["str | None"](_description)
    """A description of at most 256 characters."""

    def __init__(self, session: Session, name: str, *, handler: str | None = None,
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
        self.__attrs_init__(session, short, _source(source), requirements, include, builder, image,
                            follow_links=follow_links, ref=ref)
        given = {"runtime": runtime, "handler": handler, "role": role, "memory": memory, "timeout": timeout,
                 "environment": environment, "architecture": architecture, "description": description}
        for key, value in given.items():
            if value is not None:
                setattr(self, key, value)

    def __repr__(self) -> str:
        known = {**(self._record or {}), **self._given}
        parts = [repr(self.name)]
        for key in ("runtime", "handler"):
            if known.get(key) is not None:
                parts.append(f"{key}={known[key]!r}")
        if known.get("environment"):
            parts.append(f"environment=[{', '.join(map(repr, known['environment']))}]")  # the keys only
        return f"Function({', '.join(parts)})"

    @classmethod
    def _from_record(cls, session: Session, record: dict[str, Any]) -> Function:
        """A function as a listing returned it."""
        fn = cls(session, record["name"])
        fn._record = dict(record)
        return fn

    # ------------------------------------------------------------------------------------------------- state

    @property
    def _service(self) -> FunctionService:
        return self.session.serverless

    def _setting(self, key: str) -> Any:
        if key in self._given:
            return self._given[key]
        if self._record is None and not (self._absent and self.source is not None):
            self._load(missing_ok=self.source is not None)  # (a function named without source must exist)
        value = DEFAULTS.get(key) if self._record is None else self._record.get(key)  # (not deployed: the default)
        if isinstance(value, dict):  # a copy, so that changes made in place are seen by changes() and save()
            value = self._given[key] = dict(value)
        return value

    def _load(self, missing_ok: bool = False) -> dict[str, Any] | None:
        """Fetch the deployed function's record (None if it does not exist and ``missing_ok``)."""
        try:
            self._record = self._service.get_function(self._ref)
        except ce.NotFound:
            if not missing_ok:
                raise
            self._record, self._absent = None, True
            return None
        self._absent = False
        return self._record

    @property
    def arn(self) -> str:
        """The function's ARN (loaded on first read if it was not given)."""
        if self._record is None and self._ref.startswith("arn:"):
            return self._ref
        record = self._record or self._load()
        assert record is not None
        return str(record["arn"])

    @property
    def code_sha256(self) -> str | None:
        """The deployed zip's SHA-256 (base64, as Lambda reports it), as last saved or loaded."""
        return (self._record or {}).get("code_sha256")

    @property
    def code_size(self) -> int | None:
        """The deployed zip's size in bytes, as last saved or loaded."""
        return (self._record or {}).get("code_size")

    @property
    def state(self) -> str | None:
        """Lambda's state of the function (``Pending``, ``Active``, ``Inactive``, ``Failed``) as last saved or
        loaded; None before."""
        return (self._record or {}).get("state")

    @property
    def last_modified(self) -> str | None:
        """When the function's code or configuration last changed, as last saved or loaded."""
        return (self._record or {}).get("last_modified")

    def changes(self) -> set[str]:
        """The settings that differ from the deployed function's, as last saved or loaded (every given one while
        it is not loaded)."""
        if self._record is None:
            return set(self._given)
        return {k for k, v in self._given.items() if self._differs(k, v, self._record.get(k))}

    def _differs(self, key: str, new: Any, old: Any) -> bool:
        if key == "role":
            return bool(self._resolve_role(new) != old)
        if key == "description":
            return bool((new or None) != (old or None))
        if key == "environment":
            return bool(dict(new or {}) != dict(old or {}))
        return bool(new != old)

    def _resolve_role(self, role: Role | str) -> str:
        """The role's ARN: a Role's own (one IAM read if it was not loaded), a name's (one IAM read), an ARN."""
        if self._role_arn is not None and self._role_arn[0] is role:
            return self._role_arn[1]
        if isinstance(role, str) and is_role_arn(role):
            arn = role
        else:
            entity = role if isinstance(role, Role) else self.session.Role(role)
            arn = entity.arn or entity.refresh().arn or ""
        self._role_arn = (role, arn)
        return arn

    # ------------------------------------------------------------------------------------------------- lifecycle

    def _check(self) -> None:
        """Check every given setting again (``environment`` may have been changed in place)."""
        for key, value in list(self._given.items()):
            setattr(self, key, value)

    def _spec(self) -> dict[str, Any]:
        """What a new function is created with: the given settings, Lambda's defaults for the rest."""
        spec = {k: self._given.get(k, DEFAULTS.get(k)) for k in SETTINGS}
        role = spec["role"]
        assert role is not None  # (save() checked it)
        spec["role"] = self._resolve_role(role)
        spec["description"] = spec["description"] or None
        return spec

    def _build_inputs(self, record: dict[str, Any] | None) -> tuple[Any, Any, Any]:
        """The handler, runtime and architecture to bundle for: as given, else as deployed, else the defaults."""
        known = record or {}
        return tuple(self._given.get(k, known.get(k) or DEFAULTS.get(k))  # type: ignore[return-value]
                     for k in ("handler", "runtime", "architecture"))

    def _build(self, inputs: tuple[Any, Any, Any], *, vendor: bool = True) -> Bundle:
        """The bundle for ``inputs``; without ``vendor``, the source and included files alone (their checks)."""
        handler, runtime, architecture = inputs
        assert self.source is not None
        return build_bundle(source=self.source, handler=handler, runtime=runtime, architecture=architecture,
                            requirements=self.requirements if vendor else None, include=self.include,
                            builder=self.builder, image=self.image, follow_links=self.follow_links)

    def save(self, *, role_wait: float = 60.0, ready_wait: float = 300.0) -> Self:
        """Deploy: build the bundle, then create the function, or upload the code only if its hash changed and
        send only the changed settings; return once it is Active and not updating. A new role that Lambda cannot
        assume yet is retried for ``role_wait`` seconds; ``ready_wait`` bounds the wait for Active (0: look once)."""
        role_wait = check_seconds("role_wait", role_wait, zero=True)
        ready_wait = check_seconds("ready_wait", ready_wait, zero=True)
        self._check()
        bundle: Bundle | None = None
        built_for = self._build_inputs(self._record)
        if self.source is not None and "handler" in self._given:
            # before any request: a bad source or handler costs nothing. Requirements are vendored now only if the
            # deployed runtime and architecture cannot change what they are built for (pip runs for one target).
            vendor = (not self.requirements or self._record is not None
                      or {"runtime", "architecture"} <= self._given.keys())
            checked = self._build(built_for, vendor=vendor)
            bundle = checked if vendor else None
        record = self._load(missing_ok=True)
        if self.source is None and record is None:
            raise ce.InvalidInput("source", f"function {self.name!r} does not exist: give source= and handler= "
                                            "to create it")
        if record is None and self._given.get("handler") is None:
            raise ce.InvalidInput("handler", f"function {self.name!r} does not exist: give handler= "
                                             "('module.function') to create it")
        if record is None and self._given.get("role") is None:
            raise ce.InvalidInput("role", f"function {self.name!r} does not exist: give role= (a Role, a role "
                                          "name or ARN) to create it")
        if self.source is not None and (bundle is None or self._build_inputs(record) != built_for):
            bundle = self._build(self._build_inputs(record))  # for the deployed handler, runtime or architecture
        if bundle is not None:
            self.bundle = bundle
        if record is None:
            assert bundle is not None
            spec, code = self._spec(), bundle.read()
            record = until_propagated(lambda: self._service.create_function(self._ref, spec, code),
                                      timeout=role_wait, what=f"creating function {self.name!r}")
        else:
            record = self._ready(record, ready_wait, failed_ok=True)  # (Lambda refuses a change while one runs)
            arch = str(self._given.get("architecture", record.get("architecture") or "x86_64"))
            moved = arch != record.get("architecture")  # (an architecture is set with the code)
            if moved and bundle is None:
                raise ce.InvalidInput("architecture", f"function {self.name!r} runs on {record.get('architecture')}; "
                                                      f"moving it to {arch} uploads its code again: give source= too")
            if bundle is not None and (bundle.sha256 != record.get("code_sha256") or moved):
                record = self._ready(self._service.update_code(self._ref, bundle.read(), arch), ready_wait)
            self._record = record
            changes = {k: self._given[k] for k in self.changes() if k != "architecture"}
            if "role" in changes:
                changes["role"] = self._resolve_role(changes["role"])
            if changes:
                record = until_propagated(lambda: self._service.update_configuration(self._ref, changes),
                                          timeout=role_wait, what=f"updating function {self.name!r}")
        self._record = self._ready(record, ready_wait)
        self._given.clear()
        self._absent = False
        return self

    def _ready(self, record: dict[str, Any], timeout: float, *, failed_ok: bool = False) -> dict[str, Any]:
        """Wait until the function is no longer Pending and no update is in progress; a failed one raises
        ``CloudError`` with Lambda's reason (unless ``failed_ok``: a new deploy may fix it)."""
        def done(r: dict[str, Any]) -> bool:
            if not failed_ok and (r.get("state") == "Failed" or r.get("update_status") == "Failed"):
                reason = r.get("state_reason") or "Lambda gave no reason"
                raise ce.CloudError(f"function {self.name!r} failed to deploy: {reason}", operation="GetFunction",
                                    provider=self.session.provider)
            return r.get("state") != "Pending" and r.get("update_status") != "InProgress"

        if done(record):
            return record

        def check() -> dict[str, Any] | None:
            r = self._service.get_function(self._ref)
            return r if done(r) else None

        return wait_until(check, timeout=timeout, what=f"function {self.name!r} becoming Active", interval=0.5)

    def refresh(self) -> Self:
        """Reload the function's settings (local changes are dropped); ``NotFound`` if it does not exist."""
        self._load()
        self._given.clear()
        return self

    def exists(self) -> bool:
        """True if the function is deployed."""
        return self._load(missing_ok=True) is not None

    def delete(self, *, missing_ok: bool = False) -> None:
        """Delete the function; ``NotFound`` if it does not exist, unless ``missing_ok``."""
        try:
            self._service.delete_function(self._ref)
        except ce.NotFound:
            if not missing_ok:
                raise
        self._record, self._absent = None, True

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
        result = self._service.invoke(self._ref, payload, wait)
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
