"""The Api entity (skeleton: the serverless helper replaces this file)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudorm.session import Session


class Throttle:
    """Steady rate and burst."""


class Quota:
    """Requests per period."""


class ApiKey:
    """An API key."""


class Api:
    """A REST API."""

    def __init__(self, session: Session, name: str, **settings: Any) -> None:
        self.session = session
        self.name = name
        self.settings = settings

    @classmethod
    def _from_record(cls, session: Session, record: dict[str, Any]) -> Api:
        return cls(session, record["name"])
