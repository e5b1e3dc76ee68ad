"""The ``dynamodb-tokens`` part: the ClientRequestTokens of applied TransactWriteItems are state too, kept by
``--state`` with the tables they changed, so a transaction whose answer was lost when the server died is answered
as applied after the restart, not applied twice."""

from __future__ import annotations

from typing import Any

from cloudorm.providers.local.app import LocalCloud, Part, register_part


@register_part
class TransactionTokens(Part):
    """Keeps ``AtomicDynamoDB``'s remembered tokens in snapshots (``reset`` is ``LocalCloud.reset``'s)."""

    name = "dynamodb-tokens"

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud

    def dump(self) -> Any:
        """The remembered tokens, expiring at wall-clock times."""
        return self.cloud.dynamodb.tokens.dump()

    def load(self, state: Any) -> None:
        """Remember the tokens of a snapshot again (those that have not expired)."""
        self.cloud.dynamodb.tokens.load(state or [])

