"""The EC2 client under ``AwsComputeService`` and its parts: one operation sent with errors mapped, retried while
a state settles, read across pages."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore import exceptions as bx
from botocore import xform_name

from cloudorm import errors as ce
from cloudorm.providers.aws.clients import ClientFactory, paginate
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.contract import Wire
from cloudorm.waiting import backoff


class Ec2Api:
    """Sends EC2 operations for the compute service (its key pair, security group and image parts share it)."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        self.clients = clients
        """The session's ClientFactory (``clients.client("ec2")`` is the botocore client)."""
        self.provider = provider
        """The provider's name, for errors."""
        self.secrets = secrets
        """Values never shown in error messages."""

    @property
    def client(self) -> Any:
        """The botocore EC2 client of the session's region."""
        return self.clients.client("ec2")

    def _call(self, operation: str, secrets: tuple[str, ...] = (), **params: Any) -> Wire:
        """Send one EC2 operation (e.g. ``RunInstances``), mapping errors (``secrets`` redacted from them)."""
        method = getattr(self.client, xform_name(operation))
        try:
            response: Wire = method(**params)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise map_error(e, self.provider, operation, (*self.secrets, *secrets)) from None
        return response

    def _call_until_settled(self, operation: str, code: str, timeout: float, **params: Any) -> Wire:
        """``_call`` again while EC2 answers ``code`` (a state that settles by itself: instances still
        terminating, a new instance not yet known), with backoff, for at most ``timeout`` seconds."""
        return self._until_settled(lambda: self._call(operation, **params), code, timeout)

    @staticmethod
    def _until_settled(send: Callable[[], Wire], code: str, timeout: float) -> Wire:
        """``send()`` again while it raises a CloudError with ``code``, with backoff, for at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            try:
                return send()
            except ce.CloudError as e:
                if e.code != code or time.monotonic() >= deadline:
                    raise
            time.sleep(min(max(0.5, backoff(attempt, base=1.0, cap=15.0)), max(0.0, deadline - time.monotonic())))
            attempt += 1

    def _pages(self, operation: str, key: str, **params: Any) -> Iterator[Wire]:
        """Every item under ``key`` of every page of a paginated operation."""
        return paginate(self.client, operation, key, self.provider, self.secrets, **params)

    def _instances(self, **params: Any) -> Iterator[Wire]:
        """Every instance DescribeInstances returns for ``params``, all pages read."""
        for reservation in self._pages("DescribeInstances", "Reservations", **params):
            yield from reservation.get("Instances") or []

    @property
    def region(self) -> str:
        """The session's region (EC2 clusters live there)."""
        return self.clients.region
