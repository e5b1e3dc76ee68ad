"""The Function entity (skeleton: the serverless helper replaces this file)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudorm.session import Session


class Function:
    """A serverless function."""

    def __init__(self, session: Session, name: str, **settings: Any) -> None:
        self.session = session
        self.name = name
        self.settings = settings

    @classmethod
    def _from_record(cls, session: Session, record: dict[str, Any]) -> Function:
        return cls(session, record["name"])
