"""cloudorm: an object model over cloud services, with swappable providers and an embedded local cloud.

    import cloudorm
    s = cloudorm.Session()                      # the local cloud; Session("aws", creds={...}) for AWS
    orders = s.Table("orders", hash_key=("customer", "S"), range_key=("placed", "N")).save()
"""

from cloudorm import errors
from cloudorm.compute import (
    Cluster,
    CommandResult,
    CommandResults,
    Dask,
    Hardening,
    Job,
    Jobs,
    KeyPair,
    Node,
    SshKey,
)
from cloudorm.iam import AccessKey, Group, Policy, Role, Statement, User
from cloudorm.nosql import (
    Attr,
    BatchWriter,
    Condition,
    GlobalIndex,
    Item,
    KeyAttr,
    LocalIndex,
    Provisioned,
    QuerySet,
    Table,
    Transaction,
    WriteRequest,
    changes,
    hash_key,
    model,
    range_key,
    state,
    undeclared,
    version,
)
from cloudorm.providers import register_provider
from cloudorm.serverless import Api, ApiKey, Function, Quota, Throttle
from cloudorm.session import Session
from cloudorm.storage import (
    Blob,
    BlobListing,
    BlobReader,
    BlobResults,
    Bucket,
    PresignedPost,
    TransferResult,
    TransferResults,
)

__version__ = "0.1.0"

__all__ = [
    "AccessKey",
    "Api",
    "ApiKey",
    "Attr",
    "BatchWriter",
    "Blob",
    "BlobListing",
    "BlobReader",
    "BlobResults",
    "Bucket",
    "Cluster",
    "CommandResult",
    "CommandResults",
    "Condition",
    "Dask",
    "Function",
    "GlobalIndex",
    "Group",
    "Hardening",
    "Item",
    "Job",
    "Jobs",
    "KeyAttr",
    "KeyPair",
    "LocalIndex",
    "Node",
    "Policy",
    "PresignedPost",
    "Provisioned",
    "QuerySet",
    "Quota",
    "Role",
    "Session",
    "SshKey",
    "Statement",
    "Table",
    "Throttle",
    "Transaction",
    "TransferResult",
    "TransferResults",
    "User",
    "WriteRequest",
    "changes",
    "errors",
    "hash_key",
    "model",
    "range_key",
    "register_provider",
    "state",
    "undeclared",
    "version",
]
