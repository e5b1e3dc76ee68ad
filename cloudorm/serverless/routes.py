"""What an Api declares, checked before any request: ``Throttle`` and ``Quota`` (a usage plan's limits), routes
(path, HTTP method, function), stage names, CORS origins and the statement ids of invoke permissions."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from typing import Any, Protocol

import attrs

from cloudorm.checks import check_flag, check_utf8
from cloudorm.errors import InvalidInput
from cloudorm.providers.contract import QuotaInfo, ThrottleInfo

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
"""The HTTP methods a route may declare (``ANY``: every method)."""

PERIODS = {"DAY": 0, "WEEK": 6, "MONTH": 27}
"""Quota periods and the largest ``offset`` API Gateway accepts for each."""

INT_MAX = 2**31 - 1
"""The largest burst or quota limit API Gateway takes (its fields are 32-bit integers)."""

CORS_HEADERS = "Content-Type,X-Amz-Date,Authorization,X-Api-Key,X-Amz-Security-Token"
"""The request headers a CORS preflight allows."""

_LITERAL = r"[A-Za-z0-9._:-]+"
_SEGMENT = re.compile(rf"(?P<literal>{_LITERAL})|\{{(?P<param>{_LITERAL})(?P<greedy>\+?)\}}")
_STAGE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


class FunctionLike(Protocol):
    """What an Api needs of a route's function: its name and ARN (a ``Function``, or a reference to one)."""

    @property
    def name(self) -> str:
        """The function's name."""

    @property
    def arn(self) -> str | None:
        """The function's ARN (loaded if needed)."""


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InvalidInput("throttle.rate", f"must be a finite number > 0 (requests per second), not {value!r}")
    return float(value)


def _burst(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
        raise InvalidInput("throttle.burst", f"must be an int from 0 to {INT_MAX} (requests at once), not {value!r}")
    return value


@attrs.frozen
class Throttle:
    """A usage plan's steady rate (requests per second, a float > 0) and burst (requests at once, an int >= 0):
    ``Throttle(rate=100.0, burst=50)``."""

    rate: float = attrs.field(converter=_rate)
    burst: int = attrs.field(converter=_burst)

    def to_wire(self) -> ThrottleInfo:
        """The ``{"rate", "burst"}`` dict usage plan records hold."""
        return {"rate": self.rate, "burst": self.burst}

    @classmethod
    def from_wire(cls, wire: ThrottleInfo | None) -> Throttle | None:
        """From a usage plan record's ``throttle`` (None: no throttle)."""
        return None if not wire else cls(rate=float(wire["rate"]), burst=int(wire["burst"]))


def _limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT_MAX:
        raise InvalidInput("quota.limit", f"must be an int from 1 to {INT_MAX} (requests per period), not {value!r}")
    return value


def _period(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in PERIODS:
        raise InvalidInput("quota.period", f"must be one of {', '.join(PERIODS)}, not {value!r}")
    return value.upper()


def _offset(quota: Quota, attribute: attrs.Attribute[Any], value: Any) -> None:
    top = PERIODS[quota.period]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        allowed = "0 (a day has no offset)" if top == 0 else f"from 0 to {top}"
        raise InvalidInput("quota.offset", f"for a {quota.period} quota must be an int {allowed}, not {value!r}")


@attrs.frozen
class Quota:
    """A usage plan's quota: ``limit`` requests per ``period`` (``DAY``, ``WEEK`` or ``MONTH``) per API key, less
    ``offset`` requests in the first period (API Gateway's meaning; it accepts 0 for DAY, 0-6 for WEEK, 0-27 for
    MONTH)."""

    limit: int = attrs.field(converter=_limit)
    period: str = attrs.field(default="DAY", converter=_period)
    offset: int = attrs.field(default=0, validator=_offset)

    def to_wire(self) -> QuotaInfo:
        """The ``{"limit", "period", "offset"}`` dict usage plan records hold."""
        return {"limit": self.limit, "period": self.period, "offset": self.offset}

    @classmethod
    def from_wire(cls, wire: QuotaInfo | None) -> Quota | None:
        """From a usage plan record's ``quota`` (None: no quota)."""
        return None if not wire else cls(int(wire["limit"]), str(wire["period"]), int(wire.get("offset") or 0))


def check_throttle(value: Any) -> Throttle | None:
    """A ``Throttle`` or None."""
    if value is not None and not isinstance(value, Throttle):
        raise InvalidInput("throttle", f"must be a cloudorm.Throttle(rate=, burst=) or None, not {value!r}")
    return value


def check_quota(value: Any) -> Quota | None:
    """A ``Quota`` or None."""
    if value is not None and not isinstance(value, Quota):
        raise InvalidInput("quota", f"must be a cloudorm.Quota(limit=, period=, offset=) or None, not {value!r}")
    return value


def check_method(method: Any) -> str:
    """An HTTP method in upper case (``ANY`` for every method)."""
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise InvalidInput("method", f"must be one of {', '.join(METHODS)}, not {method!r}")
    return method.upper()


def check_path(path: Any, field: str = "route") -> str:
    """A route path: ``/`` or ``/``-separated segments, each literal (``orders``), a parameter (``{id}``) or, last
    only, a greedy parameter (``{proxy+}``); no empty segment, no trailing slash, no parameter named twice."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(field, f"must be a path starting with '/', such as '/orders/{{id}}', not {path!r}")
    if path == "/":
        return path
    segments = path[1:].split("/")
    names: set[str] = set()
    for i, segment in enumerate(segments):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            why = "an empty segment ('//' or a trailing '/')" if not segment else f"segment {segment!r} is neither " \
                  "a name of letters, digits and . _ : - nor a parameter such as {id} or {proxy+}"
            raise InvalidInput(field, f"{path!r}: {why}")
        param = match.group("param")
        if param is not None:
            if match.group("greedy") and i != len(segments) - 1:
                raise InvalidInput(field, f"{path!r}: a greedy parameter {segment} must be the last segment")
            if param in names:
                raise InvalidInput(field, f"{path!r}: parameter {{{param}}} appears twice")
            names.add(param)
    return path


def check_stage(stage: Any) -> str:
    """A stage name: letters, digits, hyphens and underscores (1-128), as API Gateway's CreateStage allows."""
    if not isinstance(stage, str) or not _STAGE.fullmatch(stage):
        raise InvalidInput("stage", f"must be 1-128 letters, digits, hyphens or underscores (such as 'prod'), "
                                    f"not {stage!r}")
    return stage


def check_cors(cors: Any) -> str | None:
    """The origin a CORS preflight allows: ``True`` → ``"*"``, an origin such as ``"https://example.com"``, or
    ``False``/None (no CORS)."""
    if cors is None or cors is False:
        return None
    if cors is True or cors == "*":
        return "*"
    if isinstance(cors, str) and _ORIGIN.fullmatch(cors):
        return cors
    raise InvalidInput("cors", f"must be True, False, '*' or an origin such as 'https://example.com', not {cors!r}")


def check_text(field: str, value: Any, limit: int = 1024, *, required: bool = False) -> str | None:
    """An optional (or ``required``) one-line text of at most ``limit`` characters."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit \
            or any(c in value for c in "\r\n\0"):
        what = "a non-empty str" if required else "a str or None"
        raise InvalidInput(field, f"must be {what} of one line and at most {limit} characters, not {value!r}")
    return check_utf8(field, value)


def check_function(value: Any, path: str, method: str) -> FunctionLike:
    """A route's function: anything with a ``name`` and an ``arn`` (a ``Function``)."""
    if value is None:
        raise InvalidInput("function", f"route {method} {path} needs a function (give function=...)")
    if not isinstance(getattr(value, "name", None), str) or not hasattr(type(value), "arn"):
        raise InvalidInput("function", f"route {method} {path}: must be a cloudorm Function, not {value!r}")
    fn: FunctionLike = value
    return fn


@attrs.frozen
class Route:
    """One route of an Api: ``method`` requests to ``path`` are proxied to ``function``; ``key_required`` None
    means the Api's default."""

    path: str
    method: str
    function: FunctionLike = attrs.field(eq=False)
    key_required: bool | None = None

    @classmethod
    def of(cls, path: Any, method: Any, function: Any, key_required: Any = None) -> Route:
        """A route from user input, every part checked."""
        path, method = check_path(path), check_method(method)
        if key_required is not None:
            check_flag("key_required", key_required)
        return cls(path, method, check_function(function, path, method), key_required)


def check_routes(routes: Iterable[Route], cors: str | None) -> None:
    """Routes that can live together: one variable segment per level (``/a/{id}`` and ``/a/{key}`` cannot), and
    no OPTIONS route where CORS answers the preflight."""
    variable: dict[str, str] = {}
    for route in routes:
        if cors and route.method == "OPTIONS":
            raise InvalidInput("cors", f"route OPTIONS {route.path} is declared: with cors= the gateway answers "
                                       "OPTIONS itself (drop one of them)")
        parent = ""
        for segment in route.path.strip("/").split("/") if route.path != "/" else []:
            if segment.startswith("{"):
                seen = variable.setdefault(parent, segment)
                if seen != segment:
                    raise InvalidInput("route", f"{route.path!r}: {parent or '/'} has two variable segments, {seen} "
                                                f"and {segment}; API Gateway allows one per level")
            parent = f"{parent}/{segment}"


def ancestors(path: str) -> list[str]:
    """The paths from the root to ``path``: ``/a/b`` → ``["/", "/a", "/a/b"]``."""
    out = ["/"]
    if path != "/":
        parts = path[1:].split("/")
        out += ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return out


def statement_prefix(api_id: str) -> str:
    """The start of every invoke-permission statement id an Api adds (one Api's statements, whatever the route)."""
    return f"cloudorm-api-{api_id}-"


def statement_id(api_id: str, method: str, path: str) -> str:
    """The deterministic statement id of one route's invoke permission (Lambda allows ``[A-Za-z0-9_-]``)."""
    digest = hashlib.sha256(f"{method} {path}".encode()).hexdigest()[:16]
    return f"{statement_prefix(api_id)}{method.lower()}-{digest}"


def cors_headers(origin: str, methods: Iterable[str]) -> dict[str, str]:
    """The headers a CORS preflight answers for a path whose routes declare ``methods``."""
    declared = set(methods)
    allowed = [m for m in METHODS[:-1] if "ANY" in declared or m in declared or m == "OPTIONS"]
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": ",".join(allowed),
            "Access-Control-Allow-Headers": CORS_HEADERS}
