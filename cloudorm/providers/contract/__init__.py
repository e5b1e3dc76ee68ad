"""The provider contract: per area a service base class (a required ``core`` of operations, optional others, and
``capabilities`` flags), the records they exchange, and the ``Provider`` that hands the services out.

Every operation a provider does not implement raises ``Unsupported`` naming the provider and the operation.
"""

from cloudorm.providers.contract.compute import ComputeCapabilities, ComputeService, KeyInfo, NodeInfo, SizeInfo
from cloudorm.providers.contract.costs import CostService
from cloudorm.providers.contract.iam import (
    AccessKeyInfo,
    AttachedPolicy,
    CallerInfo,
    EntityInfo,
    IAMCapabilities,
    IAMService,
    KeyUsage,
    PolicyVersionInfo,
)
from cloudorm.providers.contract.nosql import NoSQLService
from cloudorm.providers.contract.provider import Options, Provider, fingerprint
from cloudorm.providers.contract.serverless import (
    API_GATEWAY_PRINCIPAL,
    ApiInfo,
    ApiKeyInfo,
    ApiService,
    FunctionInfo,
    FunctionService,
    Invocation,
    LogEventInfo,
    MethodInfo,
    PermissionInfo,
    PlanKeyInfo,
    QuotaInfo,
    ResourceInfo,
    StageInfo,
    ThrottleInfo,
    UsagePlanInfo,
)
from cloudorm.providers.contract.service import Capabilities, Service, Wire
from cloudorm.providers.contract.storage import BucketInfo, ObjectInfo, StorageCapabilities, StorageService

CONTRACTS: tuple[type[Service], ...] = (NoSQLService, IAMService, StorageService, FunctionService, ApiService,
                                        ComputeService, CostService)
"""Every area's contract, in the order of the areas."""

__all__ = ["API_GATEWAY_PRINCIPAL", "CONTRACTS", "AccessKeyInfo", "ApiInfo", "ApiKeyInfo", "ApiService",
           "AttachedPolicy", "BucketInfo", "CallerInfo", "Capabilities", "ComputeCapabilities", "ComputeService",
           "EntityInfo", "FunctionInfo", "FunctionService", "IAMCapabilities", "IAMService", "Invocation", "KeyInfo",
           "KeyUsage", "LogEventInfo", "MethodInfo", "NoSQLService", "NodeInfo", "ObjectInfo", "Options",
           "PermissionInfo", "PlanKeyInfo", "PolicyVersionInfo", "Provider", "QuotaInfo", "ResourceInfo", "Service",
           "SizeInfo", "StageInfo", "StorageCapabilities", "StorageService", "ThrottleInfo", "UsagePlanInfo", "Wire",
           "fingerprint"]
