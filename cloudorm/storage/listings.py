"""The storage listing a session offers: ``s.buckets()``, every bucket of the account, lazily."""

from __future__ import annotations

from cloudorm.core import SessionLike
from cloudorm.listing import Listing, listing
from cloudorm.storage.bucket import Bucket


def buckets(session: SessionLike) -> Listing[Bucket]:
    """Every bucket of the account, lazily."""
    return listing(session.storage.list_buckets,
                   lambda b: Bucket(session, b["name"], b.get("region"), created=b.get("created")))  # type: ignore[arg-type]
