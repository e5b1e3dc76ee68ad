"""The NoSQL listing a session offers: ``s.tables()``, every table by name, lazily."""

from __future__ import annotations

from cloudorm.core import SessionLike
from cloudorm.listing import Listing, listing
from cloudorm.nosql.item import Item
from cloudorm.nosql.table import Table


def tables(session: SessionLike) -> Listing[Table[Item]]:
    """Every table, lazily and page by page: saved tables (each one's schema is read when first needed)."""
    return listing(session.nosql.list_tables,
                   lambda name: Table._co_from_record(session, {"name": name}, partial=True))
