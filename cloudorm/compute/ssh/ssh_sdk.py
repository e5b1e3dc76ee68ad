"""The one module that imports paramiko (the ``ssh`` extra): the rest of the SSH package reaches it through
``paramiko_module()``, so ``import cloudorm`` works without the extra and the SDK stays in one place."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import paramiko as paramiko  # for annotations: `from cloudorm.compute.ssh.ssh_sdk import paramiko`


def paramiko_module() -> ModuleType:
    """paramiko, imported on first use."""
    return importlib.import_module("paramiko")
