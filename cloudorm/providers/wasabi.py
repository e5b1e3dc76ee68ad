"""Wasabi: S3-compatible storage and an IAM-compatible endpoint, reached through boto3 at Wasabi's URLs."""

from __future__ import annotations

from typing import ClassVar

from cloudorm.providers.aws import AwsProvider


class WasabiProvider(AwsProvider):
    """Wasabi: its IAM and storage areas arrive with the IAM/storage work; it has no NoSQL tables."""

    name: ClassVar[str] = "wasabi"
    areas: ClassVar[frozenset[str]] = frozenset()
    s3_compatible: ClassVar[bool] = True

    def _chain_region(self) -> str | None:
        return None
