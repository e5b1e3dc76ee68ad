"""cloudorm: an object model over cloud services, with swappable providers and an embedded local cloud.

    import cloudorm
    s = cloudorm.Session()                      # the local cloud; Session("aws", creds={...}) for AWS
    orders = s.Table("orders", hash_key=("customer", "S"), range_key=("placed", "N")).save()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when first used (``__getattr__``): importing the package loads none of them
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
        range_key,
        state,
        undeclared,
        version,
    )
    from cloudorm.nosql.model import model  # the function (in this block, mypy takes the name for the module)
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

_HOMES = {
    "cloudorm.errors": ("errors",),
    "cloudorm.compute": ("Cluster", "CommandResult", "CommandResults", "Dask", "Hardening", "Job", "Jobs", "KeyPair",
                         "Node", "SshKey"),
    "cloudorm.iam": ("AccessKey", "Group", "Policy", "Role", "Statement", "User"),
    "cloudorm.nosql": ("Attr", "BatchWriter", "Condition", "GlobalIndex", "Item", "KeyAttr", "LocalIndex",
                       "Provisioned", "QuerySet", "Table", "Transaction", "WriteRequest", "changes", "hash_key",
                       "model", "range_key", "state", "undeclared", "version"),
    "cloudorm.providers": ("register_provider",),
    "cloudorm.serverless": ("Api", "ApiKey", "Function", "Quota", "Throttle"),
    "cloudorm.session": ("Session",),
    "cloudorm.storage": ("Blob", "BlobListing", "BlobReader", "BlobResults", "Bucket", "PresignedPost",
                         "TransferResult", "TransferResults"),
}
"""Where each public name is defined: imported from there when first used (``cloudorm.lazy``)."""

if not TYPE_CHECKING:  # type checkers see the imports above
    from cloudorm.lazy import lazy_names

    __getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)
    del lazy_names
