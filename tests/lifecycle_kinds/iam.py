"""IAM's kinds for the lifecycle suite: users, groups, roles, managed policies and access keys."""

from __future__ import annotations

from typing import Any

from cloudorm import AccessKey, Statement
from tests.lifecycle_kinds import Kind


def _statements(bucket: str) -> list[Statement]:
    return [Statement.for_service("s3", ["GetObject"], "Allow", [f"{bucket}/*"])]


def _tag(entity: Any) -> None:
    entity.tags["changed"] = "yes"


def _key(s: Any, uid: str) -> AccessKey:
    return AccessKey(s, s.User(f"lc-key-{uid}").save())


KINDS = [
    Kind("user", lambda s, uid: s.User(f"lc-{uid}", tags={"a": "1"}), _tag, lambda e: e.session.User(e.name)),
    Kind("group", lambda s, uid: s.Group(f"lc-{uid}"), lambda e: setattr(e, "path", "/moved/"),
         lambda e: e.session.Group(e.name)),
    Kind("role", lambda s, uid: s.Role(f"lc-{uid}", service="lambda"), lambda e: setattr(e, "description", "new"),
         lambda e: e.session.Role(e.name, service="lambda")),
    Kind("policy", lambda s, uid: s.Policy(f"lc-{uid}", statements=_statements(uid)), _tag,
         lambda e: e.session.Policy(e.name, statements=e.statements)),
    Kind("access_key", _key, lambda e: setattr(e, "status", "Inactive"),
         lambda e: AccessKey(e.session, e.user_name, e.id),
         cleanup=lambda s, uid: s.User(f"lc-key-{uid}").delete(cascade=True, missing_ok=True)),
]
