"""Where a REST API lives in the local cloud's moto (its account and region: an API's URL names neither), and the
routes each of its deployments serves: a snapshot of the API's resources taken in the server as a CreateDeployment
passes, whoever sent it (a stage serves its deployment, not the API's current resources)."""

from __future__ import annotations

import threading
from typing import Any

from cloudorm.providers.contract import ResourceInfo


def find_api(api_id: str) -> tuple[str, str] | None:
    """The (account, region) of moto's API Gateway backend that holds ``api_id`` (None: no such API)."""
    from moto.apigateway.models import apigateway_backends

    for account, regions in list(dict.items(apigateway_backends)):  # dict's own: looking creates no backend
        for region, backend in list(dict.items(regions)):
            if api_id in backend.apis:
                return account, region
    return None


def current_resources(api_id: str) -> list[ResourceInfo] | None:
    """The API's resources as they are in moto now, read in this process (no request: a snapshot taken while the
    request that deploys holds the gate); None if there is no such API."""
    from moto.apigateway.models import apigateway_backends

    from cloudorm.providers.aws.apigateway import resource_info

    found = find_api(api_id)
    if found is None:
        return None
    api = apigateway_backends[found[0]][found[1]].apis.get(api_id)
    return None if api is None else [resource_info(r.to_dict()) for r in list(api.resources.values())]


class Deployments:
    """The resources each deployment of each API serves, kept by (api id, deployment id); picklable state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, str], list[ResourceInfo]] = {}

    def take(self, api_id: str, deployment_id: str) -> None:
        """Keep what ``deployment_id`` (just made) serves: the API's resources as they are now."""
        resources = current_resources(api_id)
        if resources is not None:
            with self._lock:
                self._kept[(api_id, deployment_id)] = resources

    def get(self, api_id: str, deployment_id: str) -> list[ResourceInfo] | None:
        """What a deployment serves (None: it was made before the local cloud kept deployments)."""
        with self._lock:
            return self._kept.get((api_id, deployment_id))

    def forget(self, api_id: str) -> None:
        """Drop the deployments of a deleted API."""
        with self._lock:
            for key in [k for k in self._kept if k[0] == api_id]:
                del self._kept[key]

    def dump(self) -> dict[tuple[str, str], list[ResourceInfo]]:
        """Every snapshot (for ``--state``)."""
        with self._lock:
            return dict(self._kept)

    def load(self, state: Any) -> None:
        """Take back what ``dump()`` gave."""
        with self._lock:
            self._kept = dict(state or {})
