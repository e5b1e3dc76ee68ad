"""Serverless kinds for the lifecycle suite: a function (a tiny handler in a temporary folder), an api routing to
one, and an api key in the api's usage plan."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import cloudorm
from tests.lifecycle_kinds import Kind

ROLE = "lifecycle-lambda"
"""The execution role, made once per session and given by ARN (no IAM request when a function is saved)."""
ROLES: dict[Any, str] = {}
TARGETS: dict[Any, cloudorm.Function] = {}
"""One function per session that the apis route to (made once: the apis and keys are what is tested)."""

SOURCE = Path(tempfile.mkdtemp(prefix="cloudorm-lifecycle-")) / "app.py"
SOURCE.write_text("def handler(event, context):\n    return event\n")


def _role(s: Any) -> str:
    if s.scope not in ROLES:
        role = s.Role(ROLE, service="lambda")
        ROLES[s.scope] = str((role if role.exists() else role.save()).refresh().arn)
    return ROLES[s.scope]


def _function(s: Any, uid: str) -> cloudorm.Function:
    return s.Function(f"life-{uid}", handler="app.handler", source=SOURCE, role=_role(s))  # type: ignore[no-any-return]


def _described(entity: Any) -> None:
    entity.description = "changed"


def _target(s: Any) -> cloudorm.Function:
    if s.scope not in TARGETS:
        TARGETS[s.scope] = _function(s, "target").save()
    return TARGETS[s.scope]


def _api(s: Any, uid: str) -> cloudorm.Api:
    fn = _target(s)
    return s.Api(f"life-{uid}", function=fn, route="/x", key_required=True)  # type: ignore[no-any-return]


def _api_twin(api: Any) -> cloudorm.Api:
    return api.session.Api(api.name, function=api.routes[0].function, route="/x")  # type: ignore[no-any-return]


def _api_cleanup(s: Any, uid: str) -> None:
    s.Api(f"life-{uid}").delete(keys=True, missing_ok=True)


def _key(s: Any, uid: str) -> cloudorm.ApiKey:
    api = _api(s, f"{uid}-key").save()
    return cloudorm.ApiKey(s, f"life-{uid}", api=api)


def _key_twin(key: Any) -> cloudorm.ApiKey:
    return cloudorm.ApiKey(key.session, key.name, api=key.api)


def _key_cleanup(s: Any, uid: str) -> None:
    _api_cleanup(s, f"{uid}-key")


KINDS = [
    Kind("function", make=_function, change=lambda fn: setattr(fn, "memory", 256),
         twin=lambda fn: fn.session.Function(fn.name, source=SOURCE, handler="app.handler")),
    Kind("api", make=_api, change=_described, twin=_api_twin, cleanup=_api_cleanup),
    Kind("api key", make=_key, change=_described, twin=_key_twin, cleanup=_key_cleanup),
]
