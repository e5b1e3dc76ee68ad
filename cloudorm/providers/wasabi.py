"""Wasabi: S3-compatible storage and an IAM-compatible endpoint, reached through boto3 at Wasabi's URLs.

Storage is S3 with one addition: Wasabi's atomic rename, an HTTP ``MOVE`` request, which cloudorm sends as the
``MoveObject`` operation of a botocore model extension (``wasabi_models/``), so it is signed, retried, counted and
error-mapped exactly like every other S3 call.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from cloudorm.errors import CloudError
from cloudorm.providers.aws import AwsProvider
from cloudorm.providers.aws.s3 import S3StorageService

MODELS = os.path.join(os.path.dirname(__file__), "wasabi_models")
"""botocore data directory holding Wasabi's additions to the S3 model."""


def header_safe(key: str) -> bool:
    """Whether ``key`` can travel unescaped in an HTTP header (printable ASCII)."""
    return key.isascii() and key.isprintable()


class WasabiStorageService(S3StorageService):
    """S3 at Wasabi, with the native atomic rename."""

    def rename(self, bucket: str, key: str, new_key: str) -> None:
        """Rename with one ``MOVE`` request (every version moves; an existing ``new_key`` is overwritten).

        A key that cannot be sent in the ``Destination`` header (non-ASCII) is renamed by copy and delete."""
        if not header_safe(new_key):
            super().rename(bucket, key, new_key)
            return
        response: dict[str, Any] = self._call("MoveObject", bucket, key, Bucket=bucket, Key=key, Destination=new_key,
                                              Overwrite="true", Quiet="true")
        body = response.get("Status")
        status: bytes = body.read() if body is not None else b""
        if b"<Error>" in status:  # a quiet MOVE lists only the keys that failed
            raise CloudError(f"Wasabi could not rename {bucket}/{key} to {new_key}: "
                             f"{status.decode('utf-8', 'replace')[:500]}", provider=self.provider,
                             operation="MoveObject", request_id=response["ResponseMetadata"].get("RequestId"))


class WasabiProvider(AwsProvider):
    """Wasabi: IAM and S3-compatible storage at ``s3.{region}.wasabisys.com``; no NoSQL tables."""

    name: ClassVar[str] = "wasabi"
    areas: ClassVar[frozenset[str]] = frozenset({"iam", "storage"})
    s3_compatible: ClassVar[bool] = True
    data_paths: ClassVar[tuple[str, ...]] = (MODELS,)
    service_regions: ClassVar[dict[str, str]] = {"iam": "us-east-1", "sts": "us-east-1"}

    def default_endpoints(self, region: str) -> dict[str, str]:
        """Wasabi's storage endpoint for ``region`` and its global IAM and STS endpoints."""
        return {"s3": f"https://s3.{region}.wasabisys.com", "iam": "https://iam.wasabisys.com",
                "sts": "https://sts.wasabisys.com"}

    def _chain_region(self) -> str | None:
        return None

    def _storage_service(self) -> Any:
        return WasabiStorageService(self.clients, self.name, self.secrets())
