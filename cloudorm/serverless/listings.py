"""The serverless listings a session offers: ``s.functions()`` and ``s.apis()``, lazily."""

from __future__ import annotations

from cloudorm.core import SessionLike
from cloudorm.listing import Listing, listing
from cloudorm.serverless.api import Api
from cloudorm.serverless.function import Function


def functions(session: SessionLike) -> Listing[Function]:
    """Every function of the account, lazily."""
    return listing(session.serverless.list_functions,
                   lambda record: Function._from_record(session, record))


def apis(session: SessionLike) -> Listing[Api]:
    """Every REST API of the account, lazily (each one's routes load with ``refresh()``)."""
    return listing(session.api_gateway.list_apis, lambda record: Api._from_record(session, record))
