"""The parts every local cloud has, registered with ``register_part`` when their modules are imported (one name
each in ``PARTS``; each part answers paths of its own, so their order does not matter)."""

from __future__ import annotations

from cloudorm.providers.local import account_settings, admin, gateway, invocations, nodes, transaction_tokens

PARTS = (
    admin,  # /_cloudorm/health, /_cloudorm/version, /_cloudorm/reset
    invocations,  # Lambda's Invoke, for any client
    gateway,  # deployed REST APIs at /restapis/{id}/{stage}/_user_request_
    nodes,  # clusters
    transaction_tokens,  # DynamoDB's ClientRequestTokens, kept with the tables by --state
    account_settings,  # Lambda's GetAccountSettings, for any client
)
"""The modules of the parts."""
