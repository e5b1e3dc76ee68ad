"""Wasabi: S3-compatible storage and an IAM-compatible endpoint, reached through boto3 at Wasabi's URLs.

Storage is S3 with one addition: Wasabi's atomic rename, an HTTP ``MOVE`` request, which cloudorm sends as the
``MoveObject`` operation of a botocore model extension (``wasabi_models/``), so it is signed, retried, counted and
error-mapped exactly like every other S3 call.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from botocore import exceptions as bx

from cloudorm import errors as ce
from cloudorm.errors import CloudError
from cloudorm.providers.aws import AwsProvider
from cloudorm.providers.aws.clients import ClientFactory, may_have_applied
from cloudorm.providers.aws.s3 import S3StorageService
from cloudorm.providers.contract import IAMCapabilities, Service, StorageCapabilities

MODELS = os.path.join(os.path.dirname(__file__), "wasabi_models")
"""botocore data directory holding Wasabi's additions to the S3 model."""

WASABI_STORAGE = StorageCapabilities(native_rename=True)
"""What Wasabi's S3 does beyond the core: an atomic rename (no conditional writes or deletes, no tag count)."""


def header_safe(key: str) -> bool:
    """Whether ``key`` can travel unescaped in an HTTP header (printable ASCII)."""
    return key.isascii() and key.isprintable()


class WasabiStorageService(S3StorageService):
    """S3 at Wasabi, with the native atomic rename."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = (), *,
                 capabilities: StorageCapabilities | None = None) -> None:
        super().__init__(clients, provider, secrets, capabilities=capabilities or WASABI_STORAGE)
        clients.no_resend("s3", ("MoveObject",))  # a MOVE sent again after it applied finds no source

    def rename(self, bucket: str, key: str, new_key: str, overwrite: bool = False) -> None:
        """Rename with one ``MOVE`` request (every version moves; an existing ``new_key`` is ``AlreadyExists``,
        Wasabi's ``Overwrite: false``, unless ``overwrite``). A MOVE whose answer was lost is not sent again: if
        the source is gone and ``new_key`` exists it applied, if the source is still there it is sent again.

        A key that cannot be sent in the ``Destination`` header (non-ASCII) is renamed by copy and delete."""
        if not header_safe(new_key):
            super().rename(bucket, key, new_key, overwrite)
            return
        attempts = self.clients.options.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response: dict[str, Any] = self.client.move_object(
                    Bucket=bucket, Key=key, Destination=new_key, Overwrite="true" if overwrite else "false",
                    Quiet="true")
                break
            except (bx.ClientError, bx.BotoCoreError) as e:
                err = self._error(e, "MoveObject", bucket, key)
                if isinstance(err, ce.CloudError) and (err.code == "ObjectAlreadyExists" or
                                                       (err.status == 409 and not overwrite)):
                    raise ce.AlreadyExists(f"object {new_key!r} exists in bucket {bucket!r} (overwrite=True "
                                           "replaces it)", **err.provider_details()) from None
                if not may_have_applied(e) or attempt == attempts:
                    raise err from None
                if self._head(bucket, key) is None:  # the MOVE applied: the source left
                    if self._head(bucket, new_key) is not None:
                        return
                    raise err from None
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
    storage_capabilities: ClassVar[StorageCapabilities] = WASABI_STORAGE
    iam_capabilities: ClassVar[IAMCapabilities] = IAMCapabilities()  # no tags, UpdateRole or instance profiles

    def default_endpoints(self, region: str) -> dict[str, str]:
        """Wasabi's storage endpoint for ``region`` and its global IAM and STS endpoints."""
        return {"s3": f"https://s3.{region}.wasabisys.com", "iam": "https://iam.wasabisys.com",
                "sts": "https://sts.wasabisys.com"}

    def _chain_region(self) -> str | None:
        return None

    def _storage_service(self) -> Service:
        return WasabiStorageService(self.clients, self.name, self.secrets(), capabilities=self.storage_capabilities)
