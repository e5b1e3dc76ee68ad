"""What every IAM resource shares on the entity core: its ARN, id and creation date from the provider's record,
the name IAM knows it by, and deletes that check (or with ``cascade`` remove) what blocks them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_flag
from cloudorm.core import Plan, Record, Resource, call, resource, run, stored
from cloudorm.core.fields import META, UNSET

if TYPE_CHECKING:
    from typing_extensions import Self

    from cloudorm.core import SessionLike

Blockers = dict[str, list[str]]
"""What blocks a delete: ``{"access keys": ["…WXYZ"], "attached policies": [arn, ...], ...}``."""


def iam(operation: str, *args: Any) -> Plan[Any]:
    """A plan of one call to the session's IAM service: ``yield from iam("get", "user", name)``."""
    return call("iam", operation, *args)


@resource
class IAMResource(Resource):
    """A user, group, role or policy: ``save()``, ``refresh()``, ``exists()``, ``delete(cascade=, missing_ok=)``,
    and once saved or loaded ``arn``, ``id`` and ``created``."""

    kind: ClassVar[str] = "iam"
    regional: ClassVar[bool] = False  # IAM names are account-wide

    id: str | None = stored()
    """IAM's unique id (None until saved or loaded)."""
    created: datetime | None = stored()
    """When IAM created it (None until saved or loaded)."""

    def __repr__(self) -> str:
        path = self.__dict__.get("path", UNSET)
        path = (self._co_record or {}).get("path", "/") if path is UNSET else path
        return f"{type(self).__name__}({self._co_ref()[0]!r}{'' if path == '/' else f', path={path!r}'})"

    @classmethod
    def _from_record(cls, session: SessionLike, record: Record) -> Self:
        """A saved resource from a listing's record (fields it lacks load on first read)."""
        return cls._co_from_record(session, record, partial=True)

    # ------------------------------------------------------------------------------------------- hooks

    def _co_check(self) -> None:
        """Check again the values held locally: a dict (tags, a document) can have been changed in place."""
        for a in attrs.fields(cast("type[attrs.AttrsInstance]", type(self))):
            held = self.__dict__.get(a.name, UNSET)
            if META in a.metadata and held is not UNSET and callable(a.converter):
                a.converter(held)

    def _co_target(self) -> Plan[str]:
        """What IAM knows the resource by: its saved name (a policy: its ARN)."""
        return str(self._co_ref()[0])
        yield  # pragma: no cover

    def _co_fetch(self) -> Plan[Record]:
        record: Record = yield from iam("get", self.kind, (yield from self._co_target()))
        return record

    def _co_create(self) -> Plan[Record]:
        spec = self._co_spec_values()
        name = spec.pop("name")
        record: Record = yield from iam("create", self.kind, name, spec)
        return record

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        yield from self._co_send(changed)
        return self._co_renamed(changed)

    def _co_send(self, changed: set[str]) -> Plan[None]:
        """One ``update`` of the changed fields (tags with the old set, for what to untag)."""
        changes = {name: getattr(self, name) for name in changed}
        if "tags" in changed:
            changes["old_tags"] = (self._co_record or {}).get("tags") or {}
        yield from iam("update", self.kind, (yield from self._co_target()), changes)

    def _co_renamed(self, changed: set[str]) -> Record | None:
        """The ARN (``arn:aws:iam::<account>:<kind><path><name>``) after a new name or path."""
        arn = (self._co_record or {}).get("arn")
        if not changed & {"name", "path"} or not arn or f":{self.kind}/" not in arn:
            return None
        account, known = arn.split(f":{self.kind}/", 1)[0], self._co_known()
        return {"arn": f"{account}:{self.kind}{known['path']}{known['name']}"}

    # ------------------------------------------------------------------------------------------- deletes

    def _co_blockers(self) -> Plan[Blockers]:
        """What must go before the resource can be deleted."""
        return {}
        yield  # pragma: no cover

    def _co_clear(self, blockers: Blockers) -> Plan[None]:
        """Remove what blocks the delete."""
        return
        yield  # pragma: no cover

    def _co_remove(self, **options: Any) -> Plan[None]:
        """Delete it, first removing what blocks that with ``cascade=True`` (else ``ConflictError``)."""
        target = yield from self._co_target()
        found = {k: v for k, v in (yield from self._co_blockers()).items() if v}
        if found and not options.get("cascade"):
            what = "; ".join(f"{k}: {', '.join(v)}" for k, v in found.items())
            error = ce.ConflictError(f"{self.kind} {self._co_ref()[0]!r} cannot be deleted while it has {what} "
                                     "(delete(cascade=True) removes them)")
            error.blockers = found
            raise error
        if found:
            yield from self._co_clear(found)
        yield from iam("delete", self.kind, target)

    def blockers(self) -> Blockers:
        """What must go before the resource can be deleted (each list empty when nothing of that sort blocks it)."""
        return run(self.session, self._co_blockers())

    def delete(self, *, cascade: bool = False, missing_ok: bool = False) -> None:
        """Delete it. What blocks that (keys, policies, memberships, versions, ...) raises ``ConflictError`` listing
        it, or is removed first with ``cascade=True``; ``NotFound`` if it is gone, unless ``missing_ok``."""
        run(self.session, self._co_delete(missing_ok, {"cascade": check_flag("cascade", cascade)}))
