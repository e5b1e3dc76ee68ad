"""SSH key pairs (ed25519): generated, loaded from and saved to OpenSSH files; the private half never shown."""

from __future__ import annotations


class KeyPair:
    """An ed25519 SSH key pair: ``KeyPair.generate()`` or ``KeyPair.load("~/.ssh/id_ed25519")``."""
