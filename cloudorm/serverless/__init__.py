"""Serverless: ``Function`` (a Lambda-style function built from a deterministic bundle) and ``Api`` (a REST API in
front of functions, with API keys, ``Throttle`` and ``Quota``)."""

from cloudorm.serverless.api import Api, Quota, Throttle
from cloudorm.serverless.function import Function
from cloudorm.serverless.keys import ApiKey
from cloudorm.serverless.logs import LogEvent

__all__ = ["Api", "ApiKey", "Function", "LogEvent", "Quota", "Throttle"]
