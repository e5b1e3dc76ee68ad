"""The Role entity: an identity a service (Lambda, EC2, ...) or another account assumes, defined by its trust
policy."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from cloudorm import errors as ce
from cloudorm.iam.entity import Blockers, Lazy, lazy_field, unless_unknown
from cloudorm.iam.names import check_description, check_max_session, check_path, check_tags, role_name
from cloudorm.iam.principal import Principal
from cloudorm.iam.statement import VERSION, check_document, same_document

if TYPE_CHECKING:
    from cloudorm.session import Session

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


def _optional_trust(value: Any) -> dict[str, Any] | None:
    return None if value is None else check_trust(value)


@attrs.define(eq=False, repr=False, init=False)
class Role(Principal):
    """An IAM role: ``s.Role("fn-role", service="lambda")`` or ``s.Role("x", trust={...})``, with
    ``description=`` and ``max_session=`` (seconds, 3600 to 43200)."""

    kind: ClassVar[str] = "role"
    tracked: ClassVar[tuple[str, ...]] = ("name", "path", "trust", "description", "max_session", "tags")
    fixed: ClassVar[tuple[str, ...]] = ("name", "path")

    name: str = attrs.field(converter=role_name)
    path: str = attrs.field(default="/", converter=check_path)
    _trust: dict[str, Any] | None = lazy_field(_optional_trust)  # noqa: RUF009
    _description: str | None = lazy_field(check_description)
    _max_session: int | None = lazy_field(check_max_session)
    _tags: dict[str, str] = lazy_field(check_tags, default=attrs.Factory(dict))  # noqa: RUF009

    trust = Lazy[dict[str, Any]](check_trust)
    description = Lazy["str | None"](check_description)
    max_session = Lazy["int | None"](check_max_session)
    tags = Lazy[dict[str, str]](check_tags)

    def __init__(self, session: Session, name: str, *, service: str | Iterable[str] | None = None,
                 trust: Mapping[str, Any] | None = None, description: str | None = None,
                 max_session: int | None = None, path: str = "/", tags: Mapping[str, str] | None = None) -> None:
        if service is not None and trust is not None:
            raise ce.InvalidInput("service", "give service= or trust=, not both")
        if service is not None:
            trust = trust_for(service)
        self.__attrs_init__(session, name, path, trust, description, max_session, tags)  # type: ignore[arg-type]

    @property
    def services(self) -> list[str]:
        """The service principals the trust policy lets assume the role."""
        out: list[str] = []
        for s in (self.trust or {}).get("Statement", []):
            names = (s.get("Principal") or {}).get("Service", []) if isinstance(s.get("Principal"), dict) else []
            out += [names] if isinstance(names, str) else list(names)
        return out

    def _check(self) -> None:
        if self._trust is None:
            raise ce.InvalidInput("trust", f"role {self.name!r} needs service= or trust= to be saved")
        self._trust = unless_unknown(check_trust)(self._trust)
        self._tags = unless_unknown(check_tags)(self._tags)
        self._description = unless_unknown(check_description)(self._description)
        self._max_session = unless_unknown(check_max_session)(self._max_session)

    def _differs(self, field: str, new: Any, old: Any) -> bool:
        if field == "max_session":  # None means IAM's default, one hour
            return (new or 3600) != (old or 3600)
        if field == "trust":
            return not same_document(new, old)
        return bool(new != old)

    def blockers(self) -> Blockers:
        """Attached and inline policies, and the instance profiles holding the role."""
        return {**self._policy_blockers(), "instance profiles": self._iam.instance_profiles(self._ref())}

    def _clear(self, blockers: Blockers) -> None:
        for profile in blockers.get("instance profiles", []):
            self._iam.remove_from_instance_profile(profile, self._ref())
        self._clear_policies(blockers)
