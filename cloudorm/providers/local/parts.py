"""The parts every local cloud has, registered with ``register_part`` when their modules are imported (one line
each, in the order they are offered requests)."""

from __future__ import annotations

import cloudorm.providers.local.invocations  # noqa: F401  (Lambda's Invoke, for any client)
