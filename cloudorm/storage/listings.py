"""The storage listing a session offers: ``s.buckets()``, every bucket of the account, lazily."""

from __future__ import annotations

from cloudorm.core import SessionLike
from cloudorm.listing import Listing, listing
from cloudorm.storage.bucket import Bucket


def buckets(session: SessionLike) -> Listing[Bucket]:
    """Every bucket of the account, lazily."""
    return listing(session.storage.list_buckets,  # (a region the listing does not give loads on first use)
                   lambda b: Bucket._co_from_record(session, {k: v for k, v in b.items() if v is not None},
                                                    partial=True))
