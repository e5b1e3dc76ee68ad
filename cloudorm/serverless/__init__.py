"""Serverless: ``Function`` (a Lambda-style function built from a deterministic bundle) and ``Api`` (a REST API in
front of functions, with API keys, ``Throttle`` and ``Quota``); what they use (``ServerlessUsage``, ``KeyUsage``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when first used (``__getattr__``): importing the package loads none of them
    from cloudorm.serverless.account import ServerlessUsage
    from cloudorm.serverless.api import Api, Quota, Throttle
    from cloudorm.serverless.function import Function
    from cloudorm.serverless.keys import ApiKey
    from cloudorm.serverless.logs import LogEvent
    from cloudorm.serverless.usage import DayUsage, KeyUsage


__all__ = ["Api", "ApiKey", "DayUsage", "Function", "KeyUsage", "LogEvent", "Quota", "ServerlessUsage", "Throttle"]

_HOMES = {
    "cloudorm.serverless.account": ("ServerlessUsage",),
    "cloudorm.serverless.api": ("Api", "Quota", "Throttle"),
    "cloudorm.serverless.function": ("Function",),
    "cloudorm.serverless.keys": ("ApiKey",),
    "cloudorm.serverless.logs": ("LogEvent",),
    "cloudorm.serverless.usage": ("DayUsage", "KeyUsage"),
}
"""Where each public name is defined: imported from there when first used (``cloudorm.lazy``)."""

if not TYPE_CHECKING:  # type checkers see the imports above
    from cloudorm.lazy import lazy_names

    __getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)
    del lazy_names
