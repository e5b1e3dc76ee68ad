"""The Role entity: an identity a service (Lambda, EC2, ...) or another account assumes, defined by its trust
policy."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cloudorm import errors as ce
from cloudorm.core import UNSET, Plan, field, resource
from cloudorm.iam.base import Blockers, iam
from cloudorm.iam.names import check_description, check_max_session, check_path, check_tags, role_name
from cloudorm.iam.principal import Principal
from cloudorm.iam.statement import VERSION, check_document, same_document

if TYPE_CHECKING:
    from cloudorm.core import SessionLike

_SHORT_SERVICE = re.compile(r"[a-z0-9][a-z0-9-]*")
_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)*\.amazonaws\.com(\.cn)?")


def service_principal(service: Any) -> str:
    """A service principal: ``"lambda"`` → ``"lambda.amazonaws.com"``; full principals are kept as they are."""
    if isinstance(service, str) and _SHORT_SERVICE.fullmatch(service):
        return f"{service}.amazonaws.com"
    if isinstance(service, str) and _SERVICE_PRINCIPAL.fullmatch(service):
        return service
    raise ce.InvalidInput("service", f"must be a service name such as 'lambda' or a service principal such as "
                                     f"'lambda.amazonaws.com', not {service!r}")


def trust_for(services: str | Iterable[str]) -> dict[str, Any]:
    """A trust policy letting these services assume the role."""
    names = [services] if isinstance(services, str) else list(services) if isinstance(services, Iterable) else None
    if not names:
        raise ce.InvalidInput("service", f"must be a service name or a list of them, not {services!r}")
    principals = [service_principal(s) for s in names]
    return {"Version": VERSION, "Statement": [{
        "Effect": "Allow", "Principal": {"Service": principals[0] if len(principals) == 1 else principals},
        "Action": ["sts:AssumeRole"]}]}


def check_trust(value: Any) -> dict[str, Any]:
    """A trust policy: a policy document whose every statement names a principal and no resource (the role is
    the resource)."""
    doc = check_document(value, "trust", max_chars=None)
    for i, s in enumerate(doc["Statement"]):
        if "Principal" not in s:
            raise ce.InvalidInput(f"trust.Statement[{i}].Principal", "a trust policy says who may assume the role")
        for element in ("Resource", "NotResource"):
            if element in s:
                raise ce.InvalidInput(f"trust.Statement[{i}].{element}", "a trust policy names no resource: the "
                                      "role itself is what it grants")
    return doc


def _same_session_length(new: Any, old: Any) -> bool:
    return (new or 3600) == (old or 3600)  # None is IAM's default, one hour


@resource
class Role(Principal):
    """An IAM role: ``s.Role("fn-role", service="lambda")`` or ``s.Role("x", trust={...})``, with
    ``description=`` and ``max_session=`` (seconds, 3600 to 43200). Its name and path are fixed once created."""

    kind: ClassVar[str] = "role"

    name: str = field(role_name, fixed=True)
    path: str = field(check_path, default="/", fixed=True)
    trust: dict[str, Any] | None = field(check_trust, default=None, compare=same_document)
    description: str | None = field(check_description, default=None)
    max_session: int | None = field(check_max_session, default=None, compare=_same_session_length)
    tags: dict[str, str] = field(check_tags, factory=dict)

    def __init__(self, session: SessionLike, name: str, *, service: str | Iterable[str] | None = None,
                 trust: Mapping[str, Any] | None = UNSET, description: str | None = UNSET,
                 max_session: int | None = UNSET, path: str = UNSET, tags: Mapping[str, str] | None = UNSET) -> None:
        if service is not None and trust is not UNSET and trust is not None:
            raise ce.InvalidInput("service", "give service= or trust=, not both")
        if service is not None:
            trust = trust_for(service)
        self.__attrs_init__(session, name, path, UNSET if trust is None else trust,  # type: ignore[attr-defined]
                            description, max_session, tags)

    @property
    def services(self) -> list[str]:
        """The service principals the trust policy lets assume the role."""
        out: list[str] = []
        for s in (self.trust or {}).get("Statement", []):
            names = (s.get("Principal") or {}).get("Service", []) if isinstance(s.get("Principal"), dict) else []
            out += [names] if isinstance(names, str) else list(names)
        return out

    def _co_check(self) -> None:
        super()._co_check()
        if self._co_record is None and self.trust is None:
            raise ce.InvalidInput("trust", f"role {self.name!r} needs service= or trust= to be saved")

    def _co_blockers(self) -> Plan[Blockers]:
        """Attached and inline policies, and the instance profiles holding the role."""
        policies = yield from self._co_policy_blockers()
        return {**policies, "instance profiles": (yield from iam("instance_profiles", self._name()))}

    def _co_clear(self, blockers: Blockers) -> Plan[None]:
        for profile in blockers.get("instance profiles", []):
            yield from iam("remove_from_instance_profile", profile, self._name())
        yield from self._co_clear_policies(blockers)
