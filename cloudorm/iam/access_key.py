"""Access keys: a user's key pair. IAM names a key itself (its id) and shows the secret once, at creation: the key
object ``user.create_access_key()`` returns holds it (read it as often as needed), keys loaded later have none,
and it is kept out of every repr, str, log line and error message."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from cloudorm import errors as ce
from cloudorm.core import Plan, Record, Resource, field, resource, run, stored
from cloudorm.credentials import mask
from cloudorm.iam.base import iam
from cloudorm.iam.names import check_name
from cloudorm.iam.propagation import until_propagated

if TYPE_CHECKING:
    from cloudorm.iam.user import User

STATUSES = ("Active", "Inactive")


class KeyCreds(dict[str, str]):
    """A key as the ``creds`` dict of a Session; its repr (and str) shows no secret, only the key id's last 4
    characters."""

    def __repr__(self) -> str:
        shown = {k: "***" if k == "aws_secret_access_key" else mask(v) if k == "aws_access_key_id" else v
                 for k, v in self.items()}
        return f"KeyCreds({shown!r})"


def _owner(value: Any) -> str:
    """The user a key belongs to, from a User or a user name."""
    if isinstance(value, Resource) and value.kind == "user":
        return str(value._co_ref()[0])
    return check_name("user", value, "user")


def _key_id(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.isalnum()):
        raise ce.InvalidInput("id", "an access key id is letters and digits (AKIA...)")
    return value


def _status(value: Any) -> str:
    if value not in STATUSES:
        raise ce.InvalidInput("status", f"must be 'Active' or 'Inactive', not {value!r}")
    return str(value)


@resource
class AccessKey(Resource):
    """One access key of a user, known by user and ``id``: ``key.status`` (``"Active"``/``"Inactive"``, sent by
    ``save()``), ``activate()``, ``deactivate()``, ``key.secret`` (only on the key that created it),
    ``refresh()``, ``exists()``, ``delete(missing_ok=)``, ``last_used``. ``AccessKey(session, user).save()`` makes
    a new key (as ``user.create_access_key()`` does); with an ``id`` it stands for that existing key."""

    kind: ClassVar[str] = "access key"
    identity: ClassVar[tuple[str, ...]] = ("user_name", "id")
    regional: ClassVar[bool] = False  # IAM names are account-wide

    user_name: str = field(_owner, key="user", fixed=True)
    id: str | None = field(_key_id, default=None, fixed=True)
    status: str = field(_status, default="Active")
    created: datetime | None = stored()
    """When IAM made the key."""
    _secret: str | None = attrs.field(default=None, init=False)

    def __repr__(self) -> str:
        return f"AccessKey(id={mask(self.id)!r}, user={self.user_name!r}, status={self.status!r})"

    def __reduce__(self) -> Any:
        raise TypeError("an AccessKey is not picklable (it may hold a secret)")

    @property
    def user(self) -> User:
        """The user the key belongs to."""
        from cloudorm.iam.user import User

        return User(self.session, self.user_name)

    @property
    def active(self) -> bool:
        """True while the key can sign requests."""
        return self.status == "Active"

    @property
    def secret(self) -> str:
        """The secret access key, on the key ``create_access_key()`` returned: the same every time it is read.
        A key loaded later (``user.access_keys``) has none, nor has a deleted key: ``CloudError``."""
        secret = self._secret
        if secret is None:
            why = "it was deleted" if self._co_deleted else (
                "IAM shows a secret only in the answer that creates the key: only the AccessKey that "
                "user.create_access_key() returned has it")
            raise ce.CloudError(f"the secret of access key {mask(self.id)} is not available: {why}")
        return secret

    def creds(self) -> KeyCreds:
        """The key as a ``creds`` dict for ``cloudorm.Session(provider, creds=...)``; its repr hides the secret."""
        creds = KeyCreds(aws_access_key_id=str(self.id), aws_secret_access_key=self.secret)
        if self.session.region:
            creds["region"] = self.session.region
        return creds

    def wait_usable(self, timeout: float = 60.0) -> AccessKey:
        """Wait until the new key authenticates (on AWS a few seconds after creation); ``Timeout`` otherwise."""
        key = (str(self.id), self.secret)
        until_propagated(lambda: run(self.session, iam("caller", key)), timeout=timeout,
                         what=f"signing in with access key {mask(self.id)}")
        return self

    def activate(self) -> None:
        """Let the key sign requests again (``status = "Active"`` and ``save()``)."""
        self.status = "Active"
        self.save()

    def deactivate(self) -> None:
        """Stop the key from signing requests; it can be activated again (``status = "Inactive"`` and ``save()``)."""
        self.status = "Inactive"
        self.save()

    @property
    def last_used(self) -> datetime | None:
        """When the key last signed a request (None if never, or if the provider does not say); one request."""
        date: datetime | None = run(self.session, iam("access_key_last_used", self.id)).get("date")
        return date

    # ------------------------------------------------------------------------------------------- hooks

    def _co_fetch(self) -> Plan[Record]:
        if self.id is None:
            raise ce.NotFound(f"a new access key of user {self.user_name!r} has no id until save() makes it")
        for k in (yield from iam("access_keys", self.user_name)):
            if k["id"] == self.id:
                return dict(k)
        raise ce.NotFound(f"user {self.user_name!r} has no access key {mask(self.id)}")

    def _co_create(self) -> Plan[Record]:
        """A new key, unless the object names one by ``id`` (then ``AlreadyExists``: it is adopted, or
        ``NotFound``). A deleted key saved again is a new key, with a new id and secret."""
        if self.id is not None and not self._co_deleted:
            yield from self._co_fetch()
            raise ce.AlreadyExists(f"access key {mask(self.id)} of user {self.user_name!r} exists")
        made = dict((yield from iam("create_access_key", self.user_name)))
        self._secret = made.pop("secret", None)
        if self.status != made.get("status", "Active"):
            yield from iam("set_access_key_status", self.user_name, made["id"], self.status == "Active")
            made["status"] = self.status
        return made

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        yield from iam("set_access_key_status", self.user_name, self.id, self.status == "Active")
        return None

    def _co_remove(self, **options: Any) -> Plan[None]:
        if self.id is None:
            raise ce.NotFound(f"a new access key of user {self.user_name!r} was never made")
        yield from iam("delete_access_key", self.user_name, self.id)

    def delete(self, *, missing_ok: bool = False) -> None:
        """Delete the key for good (``NotFound`` if it is gone, unless ``missing_ok``); its secret is forgotten.
        ``save()`` afterwards makes a new key."""
        super().delete(missing_ok=missing_ok)
        self._secret = None
