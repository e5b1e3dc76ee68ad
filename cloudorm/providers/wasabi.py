"""Wasabi: S3-compatible storage and an IAM-compatible endpoint, reached through boto3 at Wasabi's URLs.

Storage is S3 with one addition: Wasabi's atomic rename, an HTTP ``MOVE`` request (of one key, or with
``X-Wasabi-Prefix: true`` of every key under a prefix), which cloudorm sends as the ``MoveObject`` operation of a
botocore model extension (``wasabi_models/``), so it is signed, retried, counted and error-mapped exactly like every
other S3 call.
"""

from __future__ import annotations

import os
from typing import ClassVar
from xml.etree import ElementTree

from botocore import exceptions as bx

from cloudorm import errors as ce
from cloudorm.errors import CloudError
from cloudorm.providers.aws import AwsProvider
from cloudorm.providers.aws.clients import ClientFactory, may_have_applied
from cloudorm.providers.aws.s3 import S3StorageService
from cloudorm.providers.contract import IAMCapabilities, Service, StorageCapabilities, Wire
from cloudorm.providers.contract.storage import keys_under

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

    def _move(self, bucket: str, key: str, destination: str, overwrite: bool, prefix: bool = False) -> Wire:
        """One ``MOVE`` (botocore never sends it twice); not quiet for a prefix, whose answer lists every key."""
        response: Wire = self.client.move_object(
            Bucket=bucket, Key=key, Destination=destination, Overwrite="true" if overwrite else "false",
            Quiet="false" if prefix else "true", Prefix="true" if prefix else "false")
        return response

    def _refusal(self, e: Exception, bucket: str, key: str, new_key: str, overwrite: bool) -> Exception:
        """The cloudorm error of a refused MOVE: ``AlreadyExists`` for Wasabi's ``ObjectAlreadyExists`` (or a 409
        without ``Overwrite``)."""
        err = self._error(e, "MoveObject", bucket, key)
        if isinstance(err, ce.CloudError) and (err.code == "ObjectAlreadyExists" or
                                               (err.status == 409 and not overwrite)):
            return ce.AlreadyExists(f"object {new_key!r} exists in bucket {bucket!r} (overwrite=True replaces it)",
                                    **err.provider_details())
        return err

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
                response = self._move(bucket, key, new_key, overwrite)
                break
            except (bx.ClientError, bx.BotoCoreError) as e:
                err = self._refusal(e, bucket, key, new_key, overwrite)
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

    def rename_prefix(self, bucket: str, prefix: str, new_prefix: str, overwrite: bool,
                      concurrency: int) -> list[tuple[str, str, BaseException | None]]:
        """One ``MOVE`` with ``X-Wasabi-Prefix: true``: Wasabi renames every object under ``prefix`` and answers
        each key's outcome (renamed, or the error it met, such as an existing target without ``overwrite``). The
        keys are listed first: after a lost answer the MOVE is not sent blindly; a listing of both prefixes tells
        which moved (gone from ``prefix``, there under ``new_prefix``), and a MOVE is sent again for those still
        under ``prefix``. A ``new_prefix`` that cannot travel in a header (non-ASCII): copies and deletes."""
        if not header_safe(new_prefix):
            return super().rename_prefix(bucket, prefix, new_prefix, overwrite, concurrency)
        listed = keys_under(self, bucket, prefix)
        if not listed:
            return []

        def renamed(key: str) -> str:
            return new_prefix + key[len(prefix):]

        outcome: dict[str, tuple[str, BaseException | None]] = {}
        attempts = self.clients.options.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self._move(bucket, prefix, new_prefix, overwrite, prefix=True)
            except (bx.ClientError, bx.BotoCoreError) as e:
                err = self._refusal(e, bucket, prefix, new_prefix, overwrite)
                left: set[str] | None = None
                if may_have_applied(e):  # look, rather than send it blindly
                    left, there = set(keys_under(self, bucket, prefix)), set(keys_under(self, bucket, new_prefix))
                    outcome.update({k: (renamed(k), None) for k in listed if k not in left and renamed(k) in there})
                    if left and attempt < attempts:
                        continue
                if left is None or left:
                    for key in listed:
                        outcome.setdefault(key, (renamed(key), err))
                break
            outcome.update(self._moved(response, bucket, overwrite))
            break
        out = [(key, *outcome.pop(key, (renamed(key), ce.NotFound(
            f"no object {key!r} in bucket {bucket!r}: it was deleted before the MOVE", provider=self.provider,
            operation="MoveObject")))) for key in listed]
        return out + [(key, new, error) for key, (new, error) in sorted(outcome.items())]  # (written meanwhile)

    def _moved(self, response: Wire, bucket: str, overwrite: bool) -> dict[str, tuple[str, BaseException | None]]:
        """Each key a MOVE's answer names: its new key, and None (renamed) or the error Wasabi reported for it."""
        body = response.get("Status")
        status = body.read() if body is not None else b""
        meta = response.get("ResponseMetadata", {})
        out: dict[str, tuple[str, BaseException | None]] = {}
        for row in ElementTree.fromstring(status) if status.strip() else []:
            fields = {child.tag.rpartition("}")[2]: child.text or "" for child in row}
            key, new = fields.get("Key", ""), fields.get("NewKey", "")
            if row.tag.rpartition("}")[2] != "Error":
                out[key] = (new, None)
                continue
            reported = {"Error": {"Code": fields.get("Code", ""), "Message": fields.get("Message", "")},
                        "ResponseMetadata": meta}
            refusal = bx.ClientError(reported, "MoveObject")  # type: ignore[arg-type]
            out[key] = (new, self._refusal(refusal, bucket, key, new, overwrite))
        return out


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
