"""The Cluster entity: identical nodes created from a tag, bootstrapped and driven in parallel."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudorm.compute.keys import KeyPair
    from cloudorm.session import Session


class Cluster:
    """Identical nodes that share a tag: ``s.Cluster("web", size=3, node_size="s-1vcpu-1gb").save()``."""

    def __init__(self, session: Session, name: str, size: int | None = None, *, node_size: str | None = None,
                 price_per_node: float | None = None, image: str | None = None, region: str | None = None,
                 ssh_key: KeyPair | str | os.PathLike[str] | None = None, user: str | None = None,
                 runtime: str | None = "python3", requirements: Iterable[str] | str | os.PathLike[str] = (),
                 files: Iterable[Any] = (), setup: Iterable[str] = (), allow_ssh_from: Iterable[str] | None = None,
                 host_keys: str = "strict", ssh_config: str | os.PathLike[str] | None = None,
                 max_parallel: int = 16, boot_timeout: float = 600.0, progress: bool | None = None) -> None:
        self.session = session
        self.name = name
