"""Test utilities for cloudorm: fault injection and local service helpers."""

from cloudorm.testing.dynalite import Dynalite
from cloudorm.testing.fault_proxy import FAULT_KINDS, FaultProxy

__all__ = ["FAULT_KINDS", "Dynalite", "FaultProxy"]
