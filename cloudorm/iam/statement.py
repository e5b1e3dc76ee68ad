"""Policy statements and documents: ``Statement``, ``Statement.for_service`` (the Cloud package's Statementize) and
the checks that turn a policy document (a dict) into its canonical form."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from cloudorm.checks import check_utf8
from cloudorm.errors import InvalidInput
from cloudorm.iam.arns import ANY, check_account, check_region, resource_arn

VERSION = "2012-10-17"
VERSIONS = ("2012-10-17", "2008-10-17")
MANAGED_POLICY_CHARS = 6144
"""IAM's limit on a managed policy document, white space not counted."""

_SERVICE = re.compile(r"[a-z0-9][a-z0-9-]*")
_ACTION = re.compile(r"[a-z0-9][a-z0-9-]*:[A-Za-z0-9*?]+")
_SID = re.compile(r"[A-Za-z0-9]*")
_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}



def _strings(value: Any, field: str) -> tuple[str, ...]:
    """A str or an iterable of str as a new tuple (the caller's list is never kept or changed)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise InvalidInput(field, f"must be a str or a list of str, not {type(value).__name__}")
    out = tuple(value)
    for v in out:
        if not isinstance(v, str) or not v:
            raise InvalidInput(field, f"must hold non-empty str, not {v!r}")
    return out


def _actions(value: Any) -> tuple[str, ...]:
    return () if value is None else _strings(value, "actions")


def _resources(value: Any) -> tuple[str, ...]:
    return () if value is None else _strings(value, "resources")


def _not_actions(value: Any) -> tuple[str, ...]:
    return () if value is None else _strings(value, "not_actions")


def _not_resources(value: Any) -> tuple[str, ...]:
    return () if value is None else _strings(value, "not_resources")


def _check_actions(values: tuple[str, ...], field: str) -> None:
    for action in values:
        if action != "*" and not _ACTION.fullmatch(action):
            raise InvalidInput(field, f"{action!r} is not an action: write 'service:Action' (e.g. 's3:GetObject', "
                                      "'s3:Get*') or '*'")


def _copy_json(value: Any, field: str) -> Any:
    """A deep copy of JSON-like data (so later changes to the caller's dict do not reach the statement)."""
    try:
        copied: Any = json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise InvalidInput(field, f"must be JSON data (dicts, lists, str, numbers), not {value!r}") from None
    return copied


@attrs.frozen
class Statement:
    """One statement of a policy: ``Statement("Allow", ["s3:GetObject"], ["arn:aws:s3:::bucket/*"])``."""

    effect: str = "Allow"
    actions: tuple[str, ...] = attrs.field(default=(), converter=_actions)
    resources: tuple[str, ...] = attrs.field(default=(), converter=_resources)
    conditions: Mapping[str, Any] | None = None
    sid: str | None = None
    principal: Any = None
    not_actions: tuple[str, ...] = attrs.field(default=(), converter=_not_actions)
    not_resources: tuple[str, ...] = attrs.field(default=(), converter=_not_resources)

    def __attrs_post_init__(self) -> None:
        if self.effect not in ("Allow", "Deny"):
            raise InvalidInput("effect", f"must be 'Allow' or 'Deny', not {self.effect!r}")
        if not self.actions and not self.not_actions:
            raise InvalidInput("actions", "a statement needs at least one action")
        if self.actions and self.not_actions:
            raise InvalidInput("actions", "give actions or not_actions, not both")
        _check_actions(self.actions, "actions")
        _check_actions(self.not_actions, "not_actions")
        if self.resources and self.not_resources:
            raise InvalidInput("resources", "give resources or not_resources, not both")
        if not self.resources and not self.not_resources and self.principal is None:
            raise InvalidInput("resources", "a statement needs at least one resource ('*' for all)")
        if self.sid is not None and (not isinstance(self.sid, str) or not _SID.fullmatch(self.sid)):
            raise InvalidInput("sid", f"must be letters and digits, not {self.sid!r}")
        if self.conditions is not None:
            if not isinstance(self.conditions, Mapping) or not all(
                    isinstance(v, Mapping) for v in self.conditions.values()):
                raise InvalidInput("conditions", "must map operators to {key: value} dicts, e.g. "
                                                 "{'StringEquals': {'aws:username': 'alice'}}")
            object.__setattr__(self, "conditions", _copy_json(self.conditions, "conditions"))
        if self.principal is not None:
            object.__setattr__(self, "principal", _copy_json(self.principal, "principal"))

    @classmethod
    def for_service(cls, service: str, actions: Iterable[str] | str, effect: str = "Allow",
                    resources: Iterable[str] | str = ("*",), conditions: Mapping[str, Any] | None = None,
                    sid: str | None = None, *, region: str = ANY, account: str = ANY) -> Statement:
        """A statement on one service's actions and resources, e.g. ``Statement.for_service("s3",
        ["PutObject", "GetObject"], "Allow", ["mybucket1/*", "mybucket2"])``: actions get the service prefix,
        resource names become the service's ARNs (``arn:aws:s3:::mybucket1/*``; dynamodb ``orders`` →
        ``arn:aws:dynamodb:*:*:table/orders``), in ``region`` and ``account`` (``*``: any); ARNs and ``*`` are
        kept as they are. ``InvalidInput`` for a resource whose ARN cannot be built (see ``cloudorm.iam.arns``)."""
        if not isinstance(service, str) or not _SERVICE.fullmatch(service):
            raise InvalidInput("service", f"must be a service prefix such as 's3' or 'dynamodb', not {service!r}")
        check_region(region)
        check_account(account)
        names = _strings(actions, "actions")
        if not names:
            raise InvalidInput("actions", "a statement needs at least one action")
        full = []
        for a in names:
            prefix, colon, _ = a.partition(":")
            if colon and prefix != service:
                raise InvalidInput("actions", f"{a!r} is not an action of service {service!r}")
            full.append(a if colon else f"{service}:{a}")
        arns = [resource_arn(service, r, region, account) for r in _strings(resources, "resources")]
        return cls(effect, full, arns, conditions, sid)

    def to_dict(self) -> dict[str, Any]:
        """The statement as a policy document's JSON object."""
        out: dict[str, Any] = {}
        if self.sid:
            out["Sid"] = self.sid
        out["Effect"] = self.effect
        if self.principal is not None:
            out["Principal"] = _copy_json(self.principal, "principal")
        if self.actions:
            out["Action"] = list(self.actions)
        if self.not_actions:
            out["NotAction"] = list(self.not_actions)
        if self.resources:
            out["Resource"] = list(self.resources)
        if self.not_resources:
            out["NotResource"] = list(self.not_resources)
        if self.conditions is not None:
            out["Condition"] = _copy_json(self.conditions, "conditions")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], field: str = "statement") -> Statement:
        """A statement from a policy document's JSON object (``InvalidInput`` naming ``field`` if malformed)."""
        if not isinstance(data, Mapping):
            raise InvalidInput(field, f"must be a dict, not {type(data).__name__}")
        unknown = set(data) - _KEYS
        if unknown:
            raise InvalidInput(f"{field}.{sorted(unknown)[0]}", f"is not a statement element; use some of "
                                                                f"{', '.join(sorted(_KEYS))}")
        if "NotPrincipal" in data:
            raise InvalidInput(f"{field}.NotPrincipal", "is not supported; use Principal with a Deny")
        try:
            return cls(data.get("Effect"), data.get("Action"), data.get("Resource"),  # type: ignore[arg-type]
                       data.get("Condition"), data.get("Sid"), data.get("Principal"),
                       data.get("NotAction"), data.get("NotResource"))
        except InvalidInput as e:
            raise InvalidInput(f"{field}.{e.field}", e.reason) from None


def document_of(statements: Iterable[Statement | Mapping[str, Any]], field: str = "statements") -> dict[str, Any]:
    """A policy document (a new dict) holding these statements (``Statement`` objects or their dicts)."""
    if isinstance(statements, (str, Mapping, Statement)) or not isinstance(statements, Iterable):
        raise InvalidInput(field, f"must be a list of Statement, not {type(statements).__name__}")
    out = []
    for i, s in enumerate(statements):
        stmt = s if isinstance(s, Statement) else Statement.from_dict(s, f"{field}[{i}]")
        out.append(stmt.to_dict())
    if not out:
        raise InvalidInput(field, "a policy needs at least one statement")
    return {"Version": VERSION, "Statement": out}


def check_document(document: Any, field: str = "document", max_chars: int | None = MANAGED_POLICY_CHARS,
                   ) -> dict[str, Any]:
    """The canonical form (a new dict) of a policy document given as a dict or a JSON string: every statement
    checked, single values as lists, ``Version`` added if missing."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as e:
            raise InvalidInput(field, f"is not JSON: {e}") from None
    if not isinstance(document, Mapping):
        raise InvalidInput(field, f"must be a dict, not {type(document).__name__}")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise InvalidInput(f"{field}.{sorted(unknown)[0]}", "a policy document holds only Version, Id and Statement")
    version = document.get("Version", VERSION)
    if version not in VERSIONS:
        raise InvalidInput(f"{field}.Version", f"must be {VERSION!r}, not {version!r}")
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    canonical = document_of(statements if statements is not None else [], f"{field}.Statement")
    canonical["Version"] = version
    if "Id" in document:
        canonical = {"Version": version, "Id": document["Id"], "Statement": canonical["Statement"]}
    check_utf8(field, json.dumps(canonical, ensure_ascii=False), secret=True)  # (shown whole, it would be long)
    if max_chars is not None and len(json.dumps(canonical, separators=(",", ":"))) > max_chars:
        raise InvalidInput(field, f"is longer than IAM's {max_chars} characters (white space not counted)")
    return canonical


def same_document(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """True when two policy documents say the same (compared in canonical form)."""
    if a is None or b is None:
        return a is b
    try:
        ca, cb = check_document(a, max_chars=None), check_document(b, max_chars=None)
    except InvalidInput:
        return a == b
    return json.dumps(ca, sort_keys=True) == json.dumps(cb, sort_keys=True)
