"""The Session: which provider, with which credentials and region; the factory for every entity.

``cloudorm.Session()`` is the embedded local cloud. Switching provider is a change of Session, never of script.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cloudorm.binding import bind, later

if TYPE_CHECKING:  # each imported when a session first uses it (``later``): Session() loads no area
    import cloudorm.compute.listings
    import cloudorm.compute.sshkeys
    import cloudorm.costs
    import cloudorm.iam.listings
    import cloudorm.iam.summary
    import cloudorm.nosql.listings
    import cloudorm.nosql.open
    import cloudorm.nosql.transaction
    import cloudorm.serverless.listings
    import cloudorm.storage.listings
else:
    cloudorm = later("cloudorm")
from cloudorm.counting import RequestCounter
from cloudorm.errors import InvalidInput
from cloudorm.providers import provider_class
from cloudorm.providers.base import (
    ApiService,
    ComputeService,
    FunctionService,
    IAMService,
    NoSQLService,
    Options,
    Provider,
    StorageService,
)
from cloudorm.providers.contract.costs import CostService


class Session:
    """A connection to one provider: ``Session()`` (local cloud), ``Session("aws", creds={...})``,
    ``Session("wasabi", ...)``, ``Session("digitalocean", creds={"access_token": ..., "region": ...})``, a
    registered provider's name, or a provider instance (``Session(MemoryProvider())``)."""

    def __init__(self, provider: str | Provider = "local", creds: Mapping[str, Any] | None = None,
                 region: str | None = None, endpoint_url: str | Mapping[str, str] | None = None,
                 **options: Any) -> None:
        if isinstance(provider, Provider):  # one already built: Session(MemoryProvider())
            if creds is not None or region is not None or endpoint_url is not None or options:
                raise InvalidInput("provider", "a provider instance takes its settings itself: give creds, region, "
                                               "endpoint_url and options to its constructor")
            self._provider = provider
            return
        cls = provider_class(provider)
        if region is not None and (not isinstance(region, str) or not region):
            raise InvalidInput("region", f"must be a region name, not {region!r}")
        self._provider = cls(creds=creds, region=region, endpoint_url=endpoint_url,
                             options=Options.from_kwargs(options))

    def __repr__(self) -> str:
        facts = ", ".join(f"{k}={v!r}" for k, v in self._provider.describe().items())
        return f"Session({self._provider.name!r}{', ' if facts else ''}{facts})"

    @property
    def provider(self) -> str:
        """The provider's name: ``local``, ``aws``, ``wasabi`` or ``digitalocean``."""
        return self._provider.name

    @property
    def region(self) -> str | None:
        """The region this session works in."""
        return self._provider.region

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint this session talks to when one URL serves every service: on the local provider, the
        local cloud's URL, which other processes and HTTP clients can use too."""
        return self._provider.endpoint_url

    @functools.cached_property
    def scope(self) -> tuple[object, ...]:
        """What tells this session's resources from another account's or endpoint's: resources compare equal
        when kind, scope, name and (for regional kinds) region match (worked out once: every hash reads it)."""
        return self._provider.scope()

    @property
    def nosql(self) -> NoSQLService:
        """The provider's NoSQL service (``Unsupported`` if it has none)."""
        svc: NoSQLService = self._provider.service("nosql")
        return svc

    @property
    def iam(self) -> IAMService:
        """The provider's IAM service (``Unsupported`` if it has none)."""
        svc: IAMService = self._provider.service("iam")
        return svc

    @property
    def storage(self) -> StorageService:
        """The provider's object storage service (``Unsupported`` if it has none)."""
        storage: StorageService = self._provider.service("storage")
        return storage

    @property
    def serverless(self) -> FunctionService:
        """The provider's serverless functions service (``Unsupported`` if it has none)."""
        svc: FunctionService = self._provider.service("serverless")
        return svc

    @property
    def api_gateway(self) -> ApiService:
        """The provider's API gateway service (``Unsupported`` if it has none)."""
        svc: ApiService = self._provider.service("api_gateway")
        return svc

    @property
    def compute(self) -> ComputeService:
        """The provider's compute service: droplets, instances or local nodes (``Unsupported`` if it has none)."""
        svc: ComputeService = self._provider.service("compute")
        return svc

    @property
    def billing(self) -> CostService:
        """The provider's billing service: what the account spent (``Unsupported`` if it has none)."""
        svc: CostService = self._provider.service("billing")
        return svc

    def count_requests(self) -> RequestCounter:
        """A context manager counting the requests this session sends: ``with s.count_requests() as c: ...``."""
        return RequestCounter(self._provider.requests)

    def close(self) -> None:
        """Drop this session's clients and their connections."""
        self._provider.close()

    # Entities and listings, each bound with its own signature (less the session, given first): ``s.User("a")``
    # is ``User(s, "a")`` and ``s.users()`` is ``iam.users(s)``. An entity is registered here with one line.

    Table = bind(cloudorm.nosql.open.open_table)
    tables = bind(cloudorm.nosql.listings.tables)
    transaction = bind(cloudorm.nosql.transaction.Transaction)
    transact_get = bind(cloudorm.nosql.transaction.transact_get)

    Bucket = bind(cloudorm.storage.Bucket)
    buckets = bind(cloudorm.storage.listings.buckets)

    User = bind(cloudorm.iam.User)
    Group = bind(cloudorm.iam.Group)
    Role = bind(cloudorm.iam.Role)
    Policy = bind(cloudorm.iam.Policy)
    users = bind(cloudorm.iam.listings.users)
    groups = bind(cloudorm.iam.listings.groups)
    roles = bind(cloudorm.iam.listings.roles)
    policies = bind(cloudorm.iam.listings.policies)
    iam_summary = bind(cloudorm.iam.summary.iam_summary)

    Function = bind(cloudorm.serverless.Function)
    Api = bind(cloudorm.serverless.Api)
    functions = bind(cloudorm.serverless.listings.functions)
    apis = bind(cloudorm.serverless.listings.apis)
    serverless_usage = bind(cloudorm.serverless.account.serverless_usage)

    Cluster = bind(cloudorm.compute.Cluster)
    clusters = bind(cloudorm.compute.listings.clusters)

    costs = bind(cloudorm.costs.costs)
    SshKey = bind(cloudorm.compute.sshkeys.SshKey)
    ssh_keys = bind(cloudorm.compute.listings.ssh_keys)
    regions = bind(cloudorm.compute.listings.regions)
    sizes = bind(cloudorm.compute.listings.sizes)
    images = bind(cloudorm.compute.listings.images)
    servers = bind(cloudorm.compute.listings.servers)
    server_exists = bind(cloudorm.compute.listings.server_exists)
    account = bind(cloudorm.compute.listings.account)
