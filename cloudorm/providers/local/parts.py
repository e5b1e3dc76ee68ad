"""The parts every local cloud has, registered with ``register_part`` when their modules are imported (one line
each, in the order they are offered requests)."""

from __future__ import annotations

import cloudorm.providers.local.admin  # noqa: F401  (/_cloudorm/health, /_cloudorm/version, /_cloudorm/reset)
