"""The parts every local cloud has, registered with ``register_part`` when their modules are imported (one line
each, in the order they are offered requests)."""

from __future__ import annotations

import cloudorm.providers.local.gateway  # noqa: F401  (deployed REST APIs at /restapis/{id}/{stage}/_user_request_)
