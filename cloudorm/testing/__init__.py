"""Test utilities for cloudorm: fault injection and local service helpers (emulators, stand-in servers)."""

from cloudorm.testing.digitalocean import FakeDigitalOcean
from cloudorm.testing.dynalite import Dynalite
from cloudorm.testing.fault_proxy import FAULT_KINDS, FaultProxy
from cloudorm.testing.serve import ServeProcess
from cloudorm.testing.sshd import SshdHost
from cloudorm.testing.wasabi import Move, WasabiEmulator

__all__ = ["FAULT_KINDS", "Dynalite", "FakeDigitalOcean", "FaultProxy", "Move", "ServeProcess", "SshdHost",
           "WasabiEmulator"]
