"""The compute listing a session offers: ``s.clusters()``, every cluster cloudorm made on the account."""

from __future__ import annotations

from cloudorm.compute.cluster import Cluster
from cloudorm.core import SessionLike
from cloudorm.listing import Listing, listing


def clusters(session: SessionLike) -> Listing[Cluster]:
    """Every cluster cloudorm made on this account (found by its nodes' tag), lazily: saved clusters (their nodes
    are listed when first needed)."""
    return listing(lambda start, size: (session.compute.list_clusters(), None),
                   lambda name: Cluster._co_from_record(session, {"name": name}, partial=True))
