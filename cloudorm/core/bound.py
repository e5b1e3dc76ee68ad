"""What an entity needs from the Session it is bound to, as a Protocol: entities depend on this, never on
``cloudorm.session`` (which imports the entities), so there is no import cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cloudorm.providers.base import (
        ApiService,
        ComputeService,
        FunctionService,
        IAMService,
        NoSQLService,
        StorageService,
    )


class SessionLike(Protocol):
    """A session: its provider's name, region, endpoint, identity scope and one service per area."""

    @property
    def provider(self) -> str:
        """The provider's name."""

    @property
    def region(self) -> str | None:
        """The region the session works in."""

    @property
    def endpoint_url(self) -> str | None:
        """The one endpoint every service uses, if there is one."""

    @property
    def scope(self) -> tuple[object, ...]:
        """What tells this session's resources from another account's or endpoint's: part of their identity."""

    @property
    def iam(self) -> IAMService:
        """The IAM service."""

    @property
    def nosql(self) -> NoSQLService:
        """The NoSQL service."""

    @property
    def storage(self) -> StorageService:
        """The object storage service."""

    @property
    def serverless(self) -> FunctionService:
        """The functions service."""

    @property
    def api_gateway(self) -> ApiService:
        """The API gateway service."""

    @property
    def compute(self) -> ComputeService:
        """The compute service."""
