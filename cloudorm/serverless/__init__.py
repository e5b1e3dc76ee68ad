"""Serverless: ``Function`` (a Lambda-style function built from a deterministic bundle) and ``Api`` (a REST API in
front of functions, with API keys, ``Throttle`` and ``Quota``)."""

from cloudorm.serverless.api import Api, ApiKey, Quota, Throttle
from cloudorm.serverless.function import Function

__all__ = ["Api", "ApiKey", "Function", "Quota", "Throttle"]
