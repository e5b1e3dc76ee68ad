"""The Session: which provider, with which credentials and region; the factory for every entity.

``cloudorm.Session()`` is the embedded local cloud. Switching provider is a change of Session, never of script.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, overload

from cloudorm.compute.cluster import Cluster as ClusterEntity
from cloudorm.compute.keys import KeyPair
from cloudorm.compute.names import MAX_NODES
from cloudorm.counting import RequestCounter
from cloudorm.errors import InvalidInput
from cloudorm.iam.group import Group as GroupEntity
from cloudorm.iam.names import check_path_prefix
from cloudorm.iam.policy import Policy as PolicyEntity
from cloudorm.iam.role import Role as RoleEntity
from cloudorm.iam.statement import Statement
from cloudorm.iam.user import User as UserEntity
from cloudorm.listing import Listing
from cloudorm.nosql.item import Item
from cloudorm.nosql.schema import Billing, Index
from cloudorm.nosql.table import Table as TableEntity
from cloudorm.nosql.transaction import Transaction, transact_get
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
from cloudorm.serverless.api import Api as ApiEntity
from cloudorm.serverless.api import Quota, Throttle
from cloudorm.serverless.function import Function as FunctionEntity
from cloudorm.storage.bucket import Bucket as BucketEntity

RowT = TypeVar("RowT", bound=Item)


class Session:
    """A connection to one provider: ``Session()`` (local cloud), ``Session("aws", creds={...})``,
    ``Session("wasabi", ...)``, ``Session("digitalocean", creds={"access_token": ..., "region": ...})``."""

    def __init__(self, provider: str = "local", creds: Mapping[str, Any] | None = None, region: str | None = None,
                 endpoint_url: str | Mapping[str, str] | None = None, **options: Any) -> None:
        cls = provider_class(provider)
        if region is not None and (not isinstance(region, str) or not region):
            raise InvalidInput("region", f"must be a region name, not {region!r}")
        self._provider: Provider = cls(creds, region, endpoint_url, Options.from_kwargs(options))  # type: ignore[call-arg]

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

    @property
    def scope(self) -> tuple[object, ...]:
        """What tells this session's resources from another account's or endpoint's: resources compare equal
        when kind, scope, name and (for regional kinds) region match."""
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

    def count_requests(self) -> RequestCounter:
        """A context manager counting the requests this session sends: ``with s.count_requests() as c: ...``."""
        return RequestCounter(self._provider.requests)

    def close(self) -> None:
        """Drop this session's clients and their connections."""
        self._provider.close()

    # ------------------------------------------------------------------------------------------- NoSQL

    @overload
    def Table(self, name: type[RowT], *, billing: Billing | None = ...,
              ttl: str | bool | None = ...) -> TableEntity[RowT]: ...

    @overload
    def Table(self, name: str, *, model: type[RowT], billing: Billing | None = ...,
              ttl: str | bool | None = ...) -> TableEntity[RowT]: ...

    @overload
    def Table(self, name: str, hash_key: Any = ..., range_key: Any = ..., *,
              indexes: Iterable[Index] | None = ..., billing: Billing | None = ..., ttl: str | bool | None = ...,
              ) -> TableEntity[Item]: ...

    def Table(self, name: str | type[Any], hash_key: Any = None, range_key: Any = None, *,
              indexes: Iterable[Index] | None = None, billing: Billing | None = None,
              ttl: str | bool | None = None, model: type[Any] | None = None) -> TableEntity[Any]:
        """A table: ``s.Table("orders", hash_key=("customer", "S"), range_key=("placed", "N"))``, an existing
        one by name, ``s.Table(Order)`` for a typed model, or ``s.Table("orders-2025", model=Order)`` for a
        model stored in a table of another name."""
        if isinstance(name, type):
            name, model = None, name  # type: ignore[assignment]
        if model is None:
            return TableEntity(self, name, hash_key, range_key, indexes=indexes, billing=billing, ttl=ttl)
        info = getattr(model, "__cloudorm_model__", None)
        if info is None:
            raise InvalidInput("model", f"{getattr(model, '__name__', model)} is not a typed model: decorate it "
                                        "with @cloudorm.model(table=...)")
        if hash_key is not None or range_key is not None or indexes is not None:
            raise InvalidInput("hash_key", "a model's keys and indexes are declared on the model")
        schema = info.schema
        return TableEntity(self, name or info.table, schema.hash_key, schema.range_key,
                           indexes=schema.indexes if info.declares_indexes else None,
                           billing=billing, ttl=ttl, model=model)

    def tables(self) -> Listing[TableEntity[Item]]:
        """Every table, lazily and page by page."""
        def fetch(start: Any, size: int | None) -> tuple[list[TableEntity[Item]], Any]:
            names, after = self.nosql.list_tables(start, size)
            return [TableEntity(self, n) for n in names], after

        return Listing(fetch)

    def transaction(self) -> Transaction:
        """A write transaction across tables; commits when its ``with`` block ends without an exception."""
        return Transaction(self)

    def transact_get(self, targets: Iterable[Item | tuple[TableEntity[Any], Mapping[str, Any]]]) -> list[Any]:
        """Read items atomically: each target an Item or ``(table, key)``; ``None`` for a missing one."""
        return transact_get(self, targets)

    # ------------------------------------------------------------------------------------------- Storage

    def Bucket(self, name: str, region: str | None = None) -> BucketEntity:
        """A bucket: ``s.Bucket("photos").save()`` creates it (in ``region``, default the session's); an existing
        one by name needs no ``save()``."""
        return BucketEntity(self, name, region)

    def buckets(self) -> Listing[BucketEntity]:
        """Every bucket of the account, lazily."""
        def fetch(start: Any, size: int | None) -> tuple[list[BucketEntity], Any]:
            found, after = self.storage.list_buckets(start, size)
            return [BucketEntity(self, b["name"], b.get("region"), created=b.get("created")) for b in found], after

        return Listing(fetch)

    # ------------------------------------------------------------------------------------------- IAM

    def User(self, name: str, *, path: str = "/", tags: Mapping[str, str] | None = None) -> UserEntity:
        """An IAM user: ``s.User("alice", tags={"team": "data"}).save()``; an existing one by name
        (``refresh()`` loads it)."""
        return UserEntity(self, name, path, tags)  # type: ignore[arg-type]

    def Group(self, name: str, *, path: str = "/") -> GroupEntity:
        """An IAM group: ``s.Group("analysts").save()``."""
        return GroupEntity(self, name, path)

    def Role(self, name: str, *, service: str | Iterable[str] | None = None, trust: Mapping[str, Any] | None = None,
             description: str | None = None, max_session: int | None = None, path: str = "/",
             tags: Mapping[str, str] | None = None) -> RoleEntity:
        """An IAM role a service assumes (``service="lambda"``) or with any trust policy (``trust={...}``)."""
        return RoleEntity(self, name, service=service, trust=trust, description=description,
                          max_session=max_session, path=path, tags=tags)

    def Policy(self, name: str, *, statements: Iterable[Statement | Mapping[str, Any]] | None = None,
               document: Mapping[str, Any] | str | None = None, description: str | None = None, path: str = "/",
               tags: Mapping[str, str] | None = None) -> PolicyEntity:
        """A managed policy from ``statements=[Statement(...)]`` or a ``document`` dict; an existing one by name
        or ARN (AWS-managed ones too)."""
        return PolicyEntity(self, name, statements=statements, document=document, description=description,
                            path=path, tags=tags)

    def _iam_listing(self, kind: str, make: Any, path_prefix: str | None, scope: str = "local") -> Listing[Any]:
        if path_prefix is not None:
            check_path_prefix(path_prefix)

        def fetch(start: Any, size: int | None) -> tuple[list[Any], Any]:
            found, after = self.iam.list_page(kind, start, size, path_prefix=path_prefix, scope=scope)
            return [make(self, r) for r in found], after

        return Listing(fetch)

    def users(self, path_prefix: str | None = None) -> Listing[UserEntity]:
        """Every IAM user (under ``path_prefix``), lazily."""
        return self._iam_listing("user", UserEntity._from_record, path_prefix)

    def groups(self, path_prefix: str | None = None) -> Listing[GroupEntity]:
        """Every IAM group (under ``path_prefix``), lazily."""
        return self._iam_listing("group", GroupEntity._from_record, path_prefix)

    def roles(self, path_prefix: str | None = None) -> Listing[RoleEntity]:
        """Every IAM role (under ``path_prefix``), lazily."""
        return self._iam_listing("role", RoleEntity._from_record, path_prefix)

    def policies(self, scope: str = "local", path_prefix: str | None = None) -> Listing[PolicyEntity]:
        """Managed policies, lazily: the account's own (``scope="local"``), AWS's (``"aws"``) or both (``"all"``)."""
        if scope not in ("local", "aws", "all"):
            raise InvalidInput("scope", f"must be 'local', 'aws' or 'all', not {scope!r}")
        return self._iam_listing("policy", PolicyEntity._from_record, path_prefix, scope)

    # ------------------------------------------------------------------------------------------- Serverless

    def Function(self, name: str, *, handler: str | None = None, source: str | os.PathLike[str] | None = None,
                 runtime: str | None = None, role: RoleEntity | str | None = None,
                 requirements: Iterable[str] | str | os.PathLike[str] | None = None,
                 include: Iterable[str | os.PathLike[str]] = (), memory: int | None = None,
                 timeout: int | None = None, environment: Mapping[str, str] | None = None,
                 architecture: str | None = None, description: str | None = None, builder: str = "auto",
                 image: str | None = None, follow_links: bool = False) -> FunctionEntity:
        """A function: ``s.Function("resize", handler="app.handler", source="./app.py", role=role).save()``
        bundles ``source`` with ``requirements`` and deploys it; an existing one by name (or ARN) needs no
        ``save()``. Settings left out keep the deployed values; a new function gets ``python3.12``, 128 MB, 3 s,
        ``x86_64``. Links in source folders leading out of them are bundled only with ``follow_links=True``."""
        return FunctionEntity(self, name, handler=handler, source=source, runtime=runtime, role=role,
                              requirements=requirements, include=include, memory=memory, timeout=timeout,
                              environment=environment, architecture=architecture, description=description,
                              builder=builder, image=image, follow_links=follow_links)

    def functions(self) -> Listing[FunctionEntity]:
        """Every function of the account, lazily."""
        def fetch(start: Any, size: int | None) -> tuple[list[FunctionEntity], Any]:
            found, after = self.serverless.list_functions(start, size)
            return [FunctionEntity._from_record(self, r) for r in found], after

        return Listing(fetch)

    def Api(self, name: str, *, function: FunctionEntity | None = None, route: str | None = None,
            method: str = "GET", stage: str = "prod", key_required: bool = False, throttle: Throttle | None = None,
            quota: Quota | None = None, cors: bool | str = False, description: str | None = None,
            plan_name: str | None = None, plan_description: str | None = None, stage_description: str | None = None,
            deployment_description: str | None = None, api_id: str | None = None) -> ApiEntity:
        """A REST API: ``s.Api("shop", function=fn, route="/orders", key_required=True,
        throttle=Throttle(rate=100, burst=50)).save()``; more routes with ``api.route(...)``; an existing one by
        name (or ``api_id=``) needs no ``save()``."""
        return ApiEntity(self, name, function=function, route=route, method=method, stage=stage,
                         key_required=key_required, throttle=throttle, quota=quota, cors=cors,
                         description=description, plan_name=plan_name, plan_description=plan_description,
                         stage_description=stage_description, deployment_description=deployment_description,
                         api_id=api_id)

    def apis(self) -> Listing[ApiEntity]:
        """Every REST API of the account, lazily."""
        def fetch(start: Any, size: int | None) -> tuple[list[ApiEntity], Any]:
            found, after = self.api_gateway.list_apis(start, size)
            return [ApiEntity._from_record(self, r) for r in found], after

        return Listing(fetch)

    # ------------------------------------------------------------------------------------------- Compute

    def Cluster(self, name: str, size: int | None = None, *, node_size: str | None = None,
                price_per_node: float | None = None, image: str | None = None, region: str | None = None,
                ssh_key: KeyPair | str | os.PathLike[str] | None = None, user: str | None = None,
                runtime: str | None = "python3", requirements: Iterable[str] | str | os.PathLike[str] = (),
                files: Iterable[Any] = (), setup: Iterable[str] = (), allow_ssh_from: Iterable[str] | None = None,
                host_keys: str = "strict", ssh_config: str | os.PathLike[str] | None = None,
                max_parallel: int = 16, boot_timeout: float = 600.0, progress: bool | None = None,
                monitoring: bool = False, max_nodes: int = MAX_NODES) -> ClusterEntity:
        """A cluster of ``size`` identical nodes: ``s.Cluster("workers", size=3, price_per_node=20,
        requirements=["numpy"], setup=["echo ready"]).save()``; an existing one by name (``refresh()`` attaches).
        ``size`` (and ``add_node``) may not take it above ``max_nodes`` (1000 unless raised explicitly)."""
        return ClusterEntity(self, name, size, node_size=node_size, price_per_node=price_per_node, image=image,
                             region=region, ssh_key=ssh_key, user=user, runtime=runtime, requirements=requirements,
                             files=files, setup=setup, allow_ssh_from=allow_ssh_from, host_keys=host_keys,
                             ssh_config=ssh_config, max_parallel=max_parallel, boot_timeout=boot_timeout,
                             progress=progress, monitoring=monitoring, max_nodes=max_nodes)

    def clusters(self) -> Listing[ClusterEntity]:
        """Every cluster cloudorm made on this account (found by its nodes' tag), lazily."""
        def fetch(start: Any, size: int | None) -> tuple[list[ClusterEntity], Any]:
            return [ClusterEntity(self, name) for name in self.compute.list_clusters()], None

        return Listing(fetch)
