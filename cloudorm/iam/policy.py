"""The Policy entity: a customer-managed policy whose document changes become new default versions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from cloudorm import errors as ce
from cloudorm.iam.entity import Blockers, Entity, Lazy, lazy_field, unless_unknown
from cloudorm.iam.names import (
    check_description,
    check_name,
    check_path,
    check_tags,
    is_policy_arn,
    policy_name,
    split_policy_arn,
)
from cloudorm.iam.statement import Statement, check_document, document_of, same_document

if TYPE_CHECKING:
    from cloudorm.session import Session

MAX_VERSIONS = 5
"""IAM keeps at most five versions of a managed policy."""


def check_policy_document(value: Any, field: str = "document") -> dict[str, Any]:
    """A managed policy's document in canonical form: at most 6144 characters, and naming no ``Principal`` (IAM
    refuses one: the policy applies to whoever it is attached to)."""
    doc = check_document(value, field)
    for i, statement in enumerate(doc["Statement"]):
        if "Principal" in statement:
            raise ce.InvalidInput(f"{field}.Statement[{i}].Principal", "a managed policy names no principal: it "
                                  "applies to the users, groups and roles it is attached to")
    return doc


def _optional_document(value: Any) -> dict[str, Any] | None:
    return None if value is None else check_policy_document(value)


@attrs.define(eq=False, repr=False, init=False)
class Policy(Entity):
    """A managed policy: ``s.Policy("p", statements=[...])`` or ``s.Policy("p", document={...})``; an existing one
    by name or ARN (``s.Policy("arn:aws:iam::aws:policy/ReadOnlyAccess")``)."""

    kind: ClassVar[str] = "policy"
    tracked: ClassVar[tuple[str, ...]] = ("name", "path", "document", "description", "tags")
    fixed: ClassVar[tuple[str, ...]] = ("name", "path", "description")

    name: str = attrs.field(converter=policy_name)
    path: str = attrs.field(default="/", converter=check_path)
    _document: dict[str, Any] | None = lazy_field(_optional_document)  # noqa: RUF009
    _description: str | None = lazy_field(check_description)
    _tags: dict[str, str] = lazy_field(check_tags, default=attrs.Factory(dict))  # noqa: RUF009

    document = Lazy[dict[str, Any]](check_policy_document)
    description = Lazy["str | None"](check_description)
    tags = Lazy[dict[str, str]](check_tags)

    def __init__(self, session: Session, name: str, *,
                 statements: Iterable[Statement | Mapping[str, Any]] | None = None,
                 document: Mapping[str, Any] | str | None = None, description: str | None = None, path: str = "/",
                 tags: Mapping[str, str] | None = None) -> None:
        arn = None
        if isinstance(name, str) and name.startswith("arn:"):
            arn = name
            path, name = split_policy_arn(name, "name")
        if statements is not None and document is not None:
            raise ce.InvalidInput("statements", "give statements or document, not both")
        if statements is not None:
            document = document_of(statements)
        self.__attrs_init__(session, name, path, document, description, tags)  # type: ignore[arg-type]
        if arn:
            self._info["arn"] = arn

    @staticmethod
    def _record_ref(record: Mapping[str, Any]) -> str:
        return str(record.get("arn") or record["name"])

    @property
    def statements(self) -> list[Statement]:
        """The document's statements (a new list: assign ``policy.statements = [...]`` to change them)."""
        doc = self.document
        return [Statement.from_dict(s) for s in (doc or {}).get("Statement", [])]

    @statements.setter
    def statements(self, value: Iterable[Statement | Mapping[str, Any]]) -> None:
        self._document = document_of(value)

    @property
    def default_version(self) -> str | None:
        """The id of the default version (``v1``, ...), as last loaded."""
        value: str | None = self._info.get("default_version")
        return value

    @property
    def aws_managed(self) -> bool:
        """True for a policy AWS maintains (``arn:aws:iam::aws:policy/...``)."""
        return ":iam::aws:policy" in (self.arn or "")

    def _differs(self, field: str, new: Any, old: Any) -> bool:
        return not same_document(new, old) if field == "document" else bool(new != old)

    def _ref(self) -> str:
        arn = self._info.get("arn")
        if arn is None:
            arn = self._info["arn"] = self._iam.policy_arn(self.name, self.path)
        return str(arn)

    def _check(self) -> None:
        if self._document is None:
            raise ce.InvalidInput("statements", f"policy {self.name!r} needs statements= or document= to be saved")
        self._document = unless_unknown(check_policy_document)(self._document)
        self._tags = unless_unknown(check_tags)(self._tags)

    def _update(self, changed: set[str]) -> None:
        if "document" in changed:
            self._new_version()
            changed = changed - {"document"}
        if changed:
            super()._update(changed)

    def _new_version(self) -> None:
        """Make the document the default version, first deleting the oldest non-default one at IAM's limit."""
        arn = self._ref()
        versions = self._iam.policy_versions(arn)
        if len(versions) >= MAX_VERSIONS:
            oldest = next(v for v in versions if not v["default"])
            self._iam.delete_policy_version(arn, oldest["id"])
        self._info["default_version"] = self._iam.create_policy_version(arn, self._document)  # type: ignore[arg-type]

    def versions(self) -> list[str]:
        """The ids of the policy's versions, oldest first."""
        return [v["id"] for v in self._iam.policy_versions(self._ref())]

    def attached_to(self) -> dict[str, list[str]]:
        """The names of the users, groups and roles the policy is attached to: ``{"user": [...], ...}``."""
        return self._iam.policy_entities(self._ref())

    def blockers(self) -> Blockers:
        """Attachments (``"user"``, ``"group"``, ``"role"``) and non-default ``"versions"``."""
        arn = self._ref()
        found: Blockers = {f"{kind}s": names for kind, names in self._iam.policy_entities(arn).items()}
        found["versions"] = [v["id"] for v in self._iam.policy_versions(arn) if not v["default"]]
        return found

    def _clear(self, blockers: Blockers) -> None:
        arn = self._ref()
        for kind in ("user", "group", "role"):
            for name in blockers.get(f"{kind}s", []):
                self._iam.detach_policy(kind, name, arn)
        for version in blockers.get("versions", []):
            self._iam.delete_policy_version(arn, version)


def policy_arn(session: Session, policy: Policy | str) -> str:
    """The ARN of a Policy, a policy ARN (AWS-managed ones too) or the name of one of this account's policies."""
    if isinstance(policy, Policy):
        return policy._ref()
    if not isinstance(policy, str):
        raise ce.InvalidInput("policy", f"must be a Policy, a policy ARN or a name, not {type(policy).__name__}")
    if policy.startswith("arn:"):
        split_policy_arn(policy)
        return policy
    return session.iam.policy_arn(check_name("policy", policy, "policy"))


def find_policy_arn(session: Session, name: str) -> str | None:
    """The ARN of this account's policy ``name`` under any path (None if there is none): a listing."""
    return next((p.arn for p in session.policies(scope="local") if p.name == name), None)


__all__ = ["MAX_VERSIONS", "Policy", "check_policy_document", "find_policy_arn", "is_policy_arn", "policy_arn"]
