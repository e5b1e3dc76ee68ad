"""The Policy entity: a customer-managed policy whose document changes become new default versions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from cloudorm import errors as ce
from cloudorm.core import UNSET, Plan, Record, call, field, resource, run, stored
from cloudorm.iam.base import Blockers, IAMResource, iam
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
    from typing_extensions import Self

    from cloudorm.core import SessionLike

T = TypeVar("T")

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


@resource
class Policy(IAMResource):
    """A managed policy: ``s.Policy("p", statements=[...])`` or ``s.Policy("p", document={...})``; an existing one
    by name or ARN (``s.Policy("arn:aws:iam::aws:policy/ReadOnlyAccess")``). A new document saved becomes a new
    default version; name, path and description are fixed once created."""

    kind: ClassVar[str] = "policy"

    name: str = field(policy_name, fixed=True)
    path: str = field(check_path, default="/", fixed=True)
    document: dict[str, Any] | None = field(check_policy_document, default=None, compare=same_document)
    description: str | None = field(check_description, default=None, fixed=True)
    tags: dict[str, str] = field(check_tags, factory=dict)
    default_version: str | None = stored()
    """The id of the default version (``v1``, ...), as last loaded."""
    _given_arn: str | None = attrs.field(default=None, init=False)
    _creating: bool = attrs.field(default=False, init=False)  # a save of a new policy: no search by name

    def __init__(self, session: SessionLike, name: str, *,
                 statements: Iterable[Statement | Mapping[str, Any]] | None = None,
                 document: Mapping[str, Any] | str | None = UNSET, description: str | None = UNSET,
                 path: str = UNSET, tags: Mapping[str, str] | None = UNSET) -> None:
        arn = None
        if isinstance(name, str) and name.startswith("arn:"):
            arn = name
            path, name = split_policy_arn(name, "name")
        if statements is not None and document is not UNSET and document is not None:
            raise ce.InvalidInput("statements", "give statements or document, not both")
        if statements is not None:
            document = document_of(statements)
        self.__attrs_init__(session, name, path, UNSET if document is None else document,  # type: ignore[attr-defined]
                            description, tags)
        self._given_arn = arn

    @classmethod
    def _co_from_record(cls, session: SessionLike, record: Record, *, partial: bool = False,
                        **identity: Any) -> Self:
        if "path" not in record and record.get("arn"):  # (attached policies come as a name and an ARN)
            record = {**record, "path": split_policy_arn(record["arn"])[0]}
        return super()._co_from_record(session, record, partial=partial, **identity)

    def _co_identity(self) -> tuple[Any, ...]:
        return (*super()._co_identity(), self.aws_managed)  # AWS's ReadOnlyAccess is not one named so here

    @property
    def arn(self) -> str | None:
        """The policy's ARN: as given, or once saved or loaded (else None)."""
        found: str | None = (self._co_record or {}).get("arn") or self._given_arn
        return found

    @property
    def statements(self) -> list[Statement]:
        """The document's statements (a new list: assign ``policy.statements = [...]`` to change them)."""
        return [Statement.from_dict(s) for s in (self.document or {}).get("Statement", [])]

    @statements.setter
    def statements(self, value: Iterable[Statement | Mapping[str, Any]]) -> None:
        self.document = document_of(value)

    @property
    def aws_managed(self) -> bool:
        """True for a policy AWS maintains (``arn:aws:iam::aws:policy/...``)."""
        return ":iam::aws:policy" in (self.arn or "")

    def _co_target(self) -> Plan[str]:
        arn = self.arn
        if arn is None:
            arn = yield from iam("policy_arn", self.name, self.path)
        return str(arn)

    def _co_check(self) -> None:
        super()._co_check()
        if self._co_record is None and self.document is None:
            raise ce.InvalidInput("statements", f"policy {self.name!r} needs statements= or document= to be saved")

    def _co_save(self, exists_ok: bool) -> Plan[Self]:
        self._creating = self._co_record is None
        try:
            return (yield from super()._co_save(exists_ok))
        except ce.NotFound as e:  # a new policy's name is taken, but not at its ARN: under another path
            if self._co_record is not None:
                raise
            raise ce.AlreadyExists(f"a policy named {self.name!r} exists under another path than {self.path!r} "
                                   "(policy names are unique in an account, and a policy's path cannot change)",
                                   **e.provider_details()) from e
        finally:
            self._creating = False

    # ------------------------------------------------------------------------------------------- by name alone

    def _co_by_name(self) -> bool:
        """Whether the policy is known by its name alone: no ARN, no path given, nothing loaded (then a name IAM
        does not know under ``/`` is looked for under every path)."""
        return (self._given_arn is None and self._co_record is None and not self._creating
                and self.__dict__.get("path", UNSET) is UNSET)

    def _co_located(self, plan: Callable[[], Plan[T]]) -> Plan[T]:
        """Run ``plan()``; if it finds no policy at the ARN a policy known by name alone would have under ``/``,
        find the account's policy of that name under another path (one listing; ``InvalidInput`` if two paths
        hold one) and run it again on that ARN (found already, by a step inside ``plan``: run again at once)."""
        by_name = self._co_by_name()
        try:
            return (yield from plan())
        except ce.NotFound:
            if not by_name:
                raise
            if self._given_arn is None:
                arn = yield from find_policy_arn(self.name)
                if arn is None or arn == (yield from self._co_target()):
                    raise
                self._given_arn = arn
        return (yield from plan())

    def _co_fetch(self) -> Plan[Record]:
        return (yield from self._co_located(super()._co_fetch))

    def _co_remove(self, **options: Any) -> Plan[None]:
        """AWS's own policies cannot be deleted: refused before any request (on AWS a cascade would detach the
        policy from everything, and then fail)."""
        def remove() -> Plan[None]:
            if self.aws_managed:
                raise ce.InvalidInput("policy", f"{self.arn} is maintained by AWS and cannot be deleted; detach it "
                                                "from what uses it instead")
            yield from super(Policy, self)._co_remove(**options)

        yield from self._co_located(remove)

    def _co_forget(self, keep: dict[str, Any]) -> None:
        if self._given_arn is not None and "path" in keep:  # deleted by name alone: save() recreates it there
            keep["path"] = split_policy_arn(self._given_arn)[0]
        super()._co_forget(keep)

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        out: dict[str, Any] = {}
        if "document" in changed:
            out["default_version"] = yield from self._co_new_version()
        if changed - {"document"}:
            yield from self._co_send(changed - {"document"})
        return out

    def _co_new_version(self) -> Plan[str]:
        """Make the document the default version, first deleting the oldest non-default one at IAM's limit."""
        arn = yield from self._co_target()
        versions = yield from iam("policy_versions", arn)
        if len(versions) >= MAX_VERSIONS:
            oldest = next(v for v in versions if not v["default"])
            yield from iam("delete_policy_version", arn, oldest["id"])
        version: str = yield from iam("create_policy_version", arn, self.document)
        return version

    def versions(self) -> list[str]:
        """The ids of the policy's versions, oldest first."""
        return [v["id"] for v in run(self.session, self._co_ask_about("policy_versions"))]

    def attached_to(self) -> dict[str, list[str]]:
        """The names of the users, groups and roles the policy is attached to: ``{"user": [...], ...}``."""
        found: dict[str, list[str]] = run(self.session, self._co_ask_about("policy_entities"))
        return found

    def _co_ask_about(self, operation: str) -> Plan[Any]:
        """One IAM call about the policy, by its ARN."""
        def ask() -> Plan[Any]:
            return (yield from iam(operation, (yield from self._co_target())))

        return (yield from self._co_located(ask))

    def _co_blockers(self) -> Plan[Blockers]:
        """Attachments (``"users"``, ``"groups"``, ``"roles"``) and non-default ``"versions"``."""
        return (yield from self._co_located(self._co_policy_blockers))

    def _co_policy_blockers(self) -> Plan[Blockers]:
        arn = yield from self._co_target()
        found: Blockers = {f"{kind}s": names for kind, names in (yield from iam("policy_entities", arn)).items()}
        found["versions"] = [v["id"] for v in (yield from iam("policy_versions", arn)) if not v["default"]]
        return found

    def _co_clear(self, blockers: Blockers) -> Plan[None]:
        arn = yield from self._co_target()
        for kind in ("user", "group", "role"):
            for name in blockers.get(f"{kind}s", []):
                yield from iam("detach_policy", kind, name, arn)
        for version in blockers.get("versions", []):
            yield from iam("delete_policy_version", arn, version)


def policy_arn(policy: Policy | str) -> Plan[str]:
    """The ARN of a Policy, a policy ARN (AWS-managed ones too) or the name of one of this account's policies."""
    if isinstance(policy, Policy):
        return (yield from policy._co_target())
    if not isinstance(policy, str):
        raise ce.InvalidInput("policy", f"must be a Policy, a policy ARN or a name, not {type(policy).__name__}")
    if policy.startswith("arn:"):
        split_policy_arn(policy)
        return policy
    arn: str = yield from iam("policy_arn", check_name("policy", policy, "policy"))
    return arn


def find_policy_arn(name: str) -> Plan[str | None]:
    """The ARN of this account's policy ``name`` under any path (None if there is none): one listing of the
    account's policies. AWS keeps policy names unique in an account; where an endpoint holds one under two paths
    (moto does), ``InvalidInput`` names them rather than picking one."""
    start, arns = None, []
    while True:
        found, start = yield from call("iam", "list_page", "policy", start, None, scope="local")
        arns += [str(p["arn"]) for p in found if p["name"] == name]
        if start is None:
            break
    if len(arns) > 1:
        paths = ", ".join(sorted(split_policy_arn(a)[0] for a in arns))
        raise ce.InvalidInput("policy", f"{len(arns)} policies are named {name!r} (under {paths}): give the path "
                                        "(s.Policy(name, path=...)) or the ARN")
    return arns[0] if arns else None


__all__ = ["MAX_VERSIONS", "Policy", "check_policy_document", "find_policy_arn", "is_policy_arn", "policy_arn"]
