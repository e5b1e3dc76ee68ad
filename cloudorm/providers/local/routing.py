"""What the local gateway knows of a deployed API: the routes of each stage (``{param}`` and ``{proxy+}`` templates,
``ANY`` methods), the stage's usage plans and the functions' invoke grants; which route a request takes; and the path
its requests come on."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

USER_REQUEST = re.compile(r"^/restapis/(?P<api>[^/]+)/(?P<stage>[^/]+)/_user_request_(?P<rest>/.*)?$")
"""The path of a call to a deployed API on the local cloud's server (LocalStack's form):
``/restapis/{api_id}/{stage}/_user_request_/{path}``. Without ``_user_request_``, ``/restapis/{api_id}/...`` is API
Gateway's control plane."""


@attrs.frozen
class Route:
    """One resource of a deployed API: its path template and its methods (ApiService method records)."""

    path: str
    resource_id: str
    methods: Mapping[str, Mapping[str, Any]]

    @property
    def segments(self) -> tuple[str, ...]:
        """The template's segments (``("orders", "{id}")``)."""
        return tuple(p for p in self.path.split("/") if p)

    def match(self, parts: Sequence[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
        """The specificity and path parameters if ``parts`` (a request path's segments) fits this template."""
        params: dict[str, str] = {}
        score: list[int] = []
        segments = self.segments
        for i, segment in enumerate(segments):
            if segment.startswith("{") and segment.endswith("+}"):
                if i != len(segments) - 1 or len(parts) <= i:
                    return None
                params[segment[1:-2]] = "/".join(parts[i:])
                return (*score, 0), params
            if i >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                params[segment[1:-1]] = parts[i]
                score.append(1)
            elif segment == parts[i]:
                score.append(2)
            else:
                return None
        return (tuple(score), params) if len(parts) == len(segments) else None


@attrs.frozen
class Plan:
    """A usage plan of a stage: its limits and the values of its enabled keys (value → key id)."""

    id: str
    throttle: Mapping[str, Any] | None
    quota: Mapping[str, Any] | None
    keys: Mapping[str, str] = attrs.field(repr=False)
    """Enabled key values (secrets: kept out of the repr) → key ids."""


@attrs.frozen
class Routing:
    """What the gateway knows of one API: the routes deployed to each stage, the stage's usage plans and, per
    function, the source ARNs its resource policy lets API Gateway invoke it from."""

    api_id: str
    account: str
    region: str
    stages: Mapping[str, tuple[Route, ...]]
    plans: Mapping[str, tuple[Plan, ...]]
    grants: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    def permits(self, function_arn: str, stage: str, method: str, route: Route) -> bool:
        """True if the function's policy lets API Gateway invoke it for this request (as AWS checks the
        ``execute-api`` source ARN: ``*`` and ``?`` are wildcards)."""
        parts = function_arn.split(":")
        partition = parts[1] if len(parts) > 1 and parts[1] else "aws"
        arn = (f"arn:{partition}:execute-api:{self.region}:{self.account}:{self.api_id}/{stage}/{method}/"
               f"{route.path.lstrip('/')}")
        return any(_wildcard(pattern).fullmatch(arn) for pattern in self.grants.get(function_arn, ()))


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(".".join(re.escape(p) for p in part.split("?")) for part in pattern.split("*")))


def find_route(routing: Routing, stage: str, parts: Sequence[str],
               method: str) -> tuple[Route, dict[str, str], Mapping[str, Any]] | None:
    """The most specific route of ``stage`` matching the path, with its parameters and method record."""
    best: tuple[tuple[int, ...], Route, dict[str, str], Mapping[str, Any]] | None = None
    for route in routing.stages.get(stage, ()):
        spec = route.methods.get(method) or route.methods.get("ANY")
        if spec is None:
            continue
        matched = route.match(parts)
        if matched is not None and (best is None or matched[0] > best[0]):
            best = (matched[0], route, matched[1], spec)
    return None if best is None else (best[1], best[2], best[3])
