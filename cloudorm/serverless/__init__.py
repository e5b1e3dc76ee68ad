"""Serverless: ``Function`` (a Lambda-style function built from a deterministic bundle) and ``Api`` (a REST API in
front of functions, with API keys, ``Throttle`` and ``Quota``); what they use (``ServerlessUsage``, ``KeyUsage``)."""

from cloudorm.serverless.account import ServerlessUsage
from cloudorm.serverless.api import Api, Quota, Throttle
from cloudorm.serverless.function import Function
from cloudorm.serverless.keys import ApiKey
from cloudorm.serverless.logs import LogEvent
from cloudorm.serverless.usage import DayUsage, KeyUsage

__all__ = ["Api", "ApiKey", "DayUsage", "Function", "KeyUsage", "LogEvent", "Quota", "ServerlessUsage", "Throttle"]
