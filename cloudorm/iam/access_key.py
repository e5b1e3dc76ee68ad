"""Access keys: a user's key pair. IAM shows the secret once, at creation: the key object
``user.create_access_key()`` returns holds it (read it as often as needed), keys loaded later have none, and it
is kept out of every repr, str, log line and error message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm import errors as ce
from cloudorm.credentials import mask
from cloudorm.iam.propagation import until_propagated

if TYPE_CHECKING:
    from cloudorm.iam.user import User


class KeyCreds(dict[str, str]):
    """A key as the ``creds`` dict of a Session; its repr (and str) shows no secret, only the key id's last 4
    characters."""

    def __repr__(self) -> str:
        shown = {k: "***" if k == "aws_secret_access_key" else mask(v) if k == "aws_access_key_id" else v
                 for k, v in self.items()}
        return f"KeyCreds({shown!r})"


@attrs.define(eq=False, repr=False)
class AccessKey:
    """One access key of a user: ``key.id``, ``key.status``, ``key.secret`` (only on the key
    ``user.create_access_key()`` returned), ``activate()``, ``deactivate()``, ``delete()``, ``last_used``."""

    user: User
    id: str
    status: str = "Active"
    created: datetime | None = None
    _secret: str | None = attrs.field(default=None, repr=False)
    _deleted: bool = attrs.field(default=False, init=False)

    @classmethod
    def _from_record(cls, user: User, record: Mapping[str, Any]) -> AccessKey:
        return cls(user, record["id"], record.get("status", "Active"), record.get("created"), record.get("secret"))

    def __repr__(self) -> str:
        return f"AccessKey(id={mask(self.id)!r}, user={self.user.name!r}, status={self.status!r})"

    def __reduce__(self) -> Any:
        raise TypeError("an AccessKey is not picklable (it may hold a secret)")

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
            why = "it was deleted" if self._deleted else (
                "IAM shows a secret only in the answer that creates the key: only the AccessKey that "
                "user.create_access_key() returned has it")
            raise ce.CloudError(f"the secret of access key {mask(self.id)} is not available: {why}")
        return secret

    def creds(self) -> KeyCreds:
        """The key as a ``creds`` dict for ``cloudorm.Session(provider, creds=...)``; its repr hides the secret."""
        creds = KeyCreds(aws_access_key_id=self.id, aws_secret_access_key=self.secret)
        if self.user.session.region:
            creds["region"] = self.user.session.region
        return creds

    def wait_usable(self, timeout: float = 60.0) -> AccessKey:
        """Wait until the new key authenticates (on AWS a few seconds after creation); ``Timeout`` otherwise."""
        key = (self.id, self.secret)
        until_propagated(lambda: self.user.session.iam.caller(key), timeout=timeout,
                         what=f"signing in with access key {mask(self.id)}")
        return self

    def _set_status(self, active: bool) -> None:
        self.user.session.iam.set_access_key_status(self.user._ref(), self.id, active)
        self.status = "Active" if active else "Inactive"

    def activate(self) -> None:
        """Let the key sign requests again."""
        self._set_status(True)

    def deactivate(self) -> None:
        """Stop the key from signing requests (it can be activated again)."""
        self._set_status(False)

    def delete(self, *, missing_ok: bool = False) -> None:
        """Delete the key for good (``NotFound`` if it is gone, unless ``missing_ok``)."""
        try:
            self.user.session.iam.delete_access_key(self.user._ref(), self.id)
        except ce.NotFound:
            if not missing_ok:
                raise
        self._secret = None
        self._deleted = True

    @property
    def last_used(self) -> datetime | None:
        """When the key last signed a request (None if never, or if the provider does not say); one request."""
        date: datetime | None = self.user.session.iam.access_key_last_used(self.id).get("date")
        return date
