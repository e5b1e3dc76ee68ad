"""The function service on AWS Lambda (AWS and the local cloud's control plane) through botocore.

Records come back as the neutral dicts ``FunctionService`` describes. A failed update's
``LastUpdateStatusReason`` is reported as the record's ``state_reason``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, TypeVar

from botocore import exceptions as bx
from botocore import xform_name

from cloudorm import errors as ce
from cloudorm.credentials import protect
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.aws.settle import send_settled
from cloudorm.providers.aws.unimplemented import lacking
from cloudorm.providers.contract import FunctionInfo, FunctionService, Invocation, Wire
from cloudorm.providers.contract.serverless import AccountUsageInfo, LogEventInfo, PermissionInfo

_SETTINGS = {"runtime": "Runtime", "handler": "Handler", "role": "Role", "memory": "MemorySize",
             "timeout": "Timeout", "description": "Description"}
"""Neutral spec keys and Lambda's parameter names (environment and architecture have their own shapes)."""

MUTATING = ("CreateFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration", "DeleteFunction",
            "AddPermission", "RemovePermission")
"""Lambda operations botocore never re-sends: after a lost answer, what Lambda has decides (``_settled``)."""

SECRET_LENGTH = 8
"""Environment values this long or longer are kept out of log lines and error messages (they may be secrets)."""


T = TypeVar("T")


def _short_name(name: str) -> str:
    """A function's name from its name or (partial) ARN, without a qualifier."""
    return name.split(":function:")[-1].split(":")[0]


def _nothing(response: Wire) -> Wire:
    """The outcome of an operation whose answer describes no function: ``{}``."""
    return {}


def record(raw: Wire) -> FunctionInfo:
    """A neutral record from Lambda's FunctionConfiguration."""
    update_status = raw.get("LastUpdateStatus")
    reason = raw.get("LastUpdateStatusReason") if update_status == "Failed" else raw.get("StateReason")
    return {
        "name": raw["FunctionName"],
        "arn": raw.get("FunctionArn"),
        "runtime": raw.get("Runtime"),
        "handler": raw.get("Handler"),
        "role": raw.get("Role"),
        "memory": raw.get("MemorySize"),
        "timeout": raw.get("Timeout"),
        "environment": dict((raw.get("Environment") or {}).get("Variables") or {}),
        "architecture": (raw.get("Architectures") or ["x86_64"])[0],
        "description": raw.get("Description") or None,
        "code_sha256": raw.get("CodeSha256"),
        "code_size": raw.get("CodeSize"),
        "state": raw.get("State"),
        "update_status": update_status,
        "state_reason": reason,
        "last_modified": raw.get("LastModified"),
    }


def _sha256(code: bytes) -> str:
    """A zip's SHA-256 as Lambda reports it (``CodeSha256``: base64)."""
    return base64.b64encode(hashlib.sha256(code).digest()).decode()


def _same(key: str, wanted: Any, have: Any) -> bool:
    """Whether a setting sent in an update (``description`` "" and None alike) is what Lambda has now."""
    if key == "description":
        return (wanted or None) == (have or None)
    if key == "environment":
        return dict(wanted or {}) == dict(have or {})
    return bool(wanted == have)


def _principal(value: Any) -> str | None:
    if isinstance(value, dict):
        found = value.get("Service") or value.get("AWS")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None


def _source_arn(condition: Any) -> str | None:
    for test in (condition or {}).values():
        for key, value in (test or {}).items():
            if key.lower() == "aws:sourcearn":
                return value if isinstance(value, str) else None
    return None


class AwsFunctionService(FunctionService):
    """``FunctionService`` over botocore's Lambda client."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        self.clients = clients
        """The session's ClientFactory (``clients.client("lambda")`` is the botocore client)."""
        self.provider = provider
        """The provider's name, for errors."""
        self.secrets = secrets
        """Values never shown in error messages."""
        self._lock = threading.Lock()
        clients.hook("before-parse", "lambda", None, self._protect_response)
        clients.no_resend("lambda", ("Invoke", *MUTATING))  # a retry would run the function again; see _settled

    # ------------------------------------------------------------------------------------------------ plumbing

    @property
    def client(self) -> Any:
        """The botocore Lambda client (hooked so that environment values in responses never reach a log line)."""
        return self.clients.client("lambda")

    def _hide(self, values: Iterable[Any]) -> None:
        """Keep long environment values out of log lines and error messages from now on."""
        hidden = tuple(v for v in values if isinstance(v, str) and len(v) >= SECRET_LENGTH and v not in self.secrets)
        if hidden:
            protect(hidden)
            with self._lock:
                self.secrets = (*self.secrets, *(v for v in hidden if v not in self.secrets))

    def _protect_response(self, response_dict: Wire, **_: Any) -> None:
        """Protect the environment values a response carries before botocore's parser logs its body."""
        body = response_dict.get("body") or b""
        if not isinstance(body, bytes) or b'"Variables"' not in body:
            return
        try:
            data = json.loads(body)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        configs = [data, data.get("Configuration"), *(data.get("Functions") or [])]
        self._hide(v for c in configs if isinstance(c, dict)
                   for v in ((c.get("Environment") or {}).get("Variables") or {}).values())

    def _call(self, operation: str, **params: Any) -> Wire:
        """Send one Lambda operation (e.g. ``GetFunction``), mapping errors."""
        method = getattr(self.client, xform_name(operation))
        try:
            response: Wire = method(**params)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise map_error(e, self.provider, operation, self.secrets) from None
        return response

    def _settled(self, operation: str, look: Callable[[], T | None], answer: Callable[[Wire], T],
                 **params: Any) -> T:
        """Send one operation of ``MUTATING`` and return ``answer`` of its response (``record`` for a function's,
        ``_nothing`` otherwise): after a lost answer, ``look()`` says whether Lambda applied it (that outcome) or not
        (None: sent again); errors are mapped."""
        method = getattr(self.client, xform_name(operation))

        def send() -> T:
            response: Wire = method(**params)
            return answer(response)

        try:
            return send_settled(send, look, attempts=self.clients.options.max_attempts)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise map_error(e, self.provider, operation, self.secrets) from None

    def _found(self, name: str) -> FunctionInfo | None:
        """The function's record, or None if there is no such function."""
        try:
            return self.get_function(name)
        except ce.NotFound:
            return None

    def _environment(self, variables: dict[str, str]) -> Wire:
        """Lambda's Environment parameter; long values are protected from logs and messages first."""
        self._hide(variables.values())
        return {"Variables": dict(variables)}

    # ------------------------------------------------------------------------------------------------ functions

    def create_function(self, name: str, spec: Wire, code: bytes) -> FunctionInfo:
        """Create a function from ``spec`` and a zip (checked before any request); returns its record."""
        _check_zip(code)
        params: Wire = {"FunctionName": name, "Code": {"ZipFile": code}, "PackageType": "Zip",
                        "Architectures": [spec.get("architecture") or "x86_64"]}
        for key, wire in _SETTINGS.items():
            if spec.get(key) is not None:
                params[wire] = spec[key]
        if spec.get("environment"):
            params["Environment"] = self._environment(spec["environment"])
        digest = _sha256(code)

        def look() -> FunctionInfo | None:  # the function made by the request whose answer was lost, if it was made
            found = self._found(name)
            if found is not None and found.get("code_sha256") != digest:
                raise ce.AlreadyExists(f"function {name!r} was created meanwhile with other code (by another "
                                       "program?)", provider=self.provider, operation="CreateFunction")
            return found

        return self._settled("CreateFunction", look, record, **params)

    def update_code(self, name: str, code: bytes, architecture: str) -> FunctionInfo:
        """Upload a new zip (checked before any request); returns the record."""
        _check_zip(code)
        digest = _sha256(code)

        def look() -> FunctionInfo | None:  # applied if Lambda has this code for this architecture now
            found = self.get_function(name)
            return found if (found.get("code_sha256"), found.get("architecture")) == (digest, architecture) else None

        return self._settled("UpdateFunctionCode", look, record, FunctionName=name, ZipFile=code,
                             Architectures=[architecture])

    def update_configuration(self, name: str, changes: Wire) -> FunctionInfo:
        """Change settings (keys of a ``spec`` except ``architecture``); returns the record."""
        params: Wire = {"FunctionName": name}
        for key, wire in _SETTINGS.items():
            if key in changes:
                params[wire] = changes[key] if key != "description" else changes[key] or ""
        if "environment" in changes:
            params["Environment"] = self._environment(changes["environment"] or {})

        def look() -> FunctionInfo | None:  # applied if every changed setting has its new value now
            found = self.get_function(name)
            return found if all(_same(k, v, found.get(k)) for k, v in changes.items()) else None

        return self._settled("UpdateFunctionConfiguration", look, record, **params)

    def get_function(self, name: str) -> FunctionInfo:
        """The record of a function."""
        return record(self._call("GetFunction", FunctionName=name)["Configuration"])

    def delete_function(self, name: str) -> None:
        """Delete a function (``NotFound`` if there is none; not when the answer to a delete that did it was lost)."""
        self._settled("DeleteFunction", lambda: None if self._found(name) is not None else {}, _nothing,
                      FunctionName=name)

    def list_functions(self, start: str | None, limit: int | None) -> tuple[list[FunctionInfo], str | None]:
        """One page of records and the marker to continue from (``None`` at the end)."""
        params: Wire = {}
        if start:
            params["Marker"] = start
        if limit:
            params["MaxItems"] = min(limit, 50)
        page = self._call("ListFunctions", **params)
        return [record(raw) for raw in page.get("Functions") or []], page.get("NextMarker") or None

    def invoke(self, name: str, payload: bytes, wait: bool = True) -> Invocation:
        """Run a function on ``payload`` (JSON bytes): synchronously (``wait``, with the log tail), or queue it as
        an event (Lambda answers 202). A request that may have reached Lambda is never sent twice. A payload that is
        not UTF-8 JSON is refused before any request, as Lambda would refuse it."""
        try:
            json.loads(payload.decode("utf-8"))
        except (AttributeError, UnicodeDecodeError, ValueError) as e:
            raise ce.InvalidInput("payload", f"must be UTF-8 JSON bytes ({e})") from None
        client = self.client
        params: Wire = {"FunctionName": name, "Payload": payload}
        if wait:
            params.update(InvocationType="RequestResponse", LogType="Tail")
        else:
            params["InvocationType"] = "Event"
        try:
            response = client.invoke(**params)
        except bx.ReadTimeoutError:
            raise self._invoke_timed_out(name) from None
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise map_error(e, self.provider, "Invoke", self.secrets) from None
        body = response.get("Payload")
        try:
            data = body.read() if body is not None else b""
        except (bx.BotoCoreError, OSError) as e:
            raise map_error(e, self.provider, "Invoke", self.secrets) from None
        finally:
            if body is not None:
                body.close()
        log = response.get("LogResult")
        return {
            "status": response.get("StatusCode"),
            "payload": data,
            "error": response.get("FunctionError") or None,
            "log": base64.b64decode(log).decode("utf-8", "replace") if log else None,
            "request_id": (response.get("ResponseMetadata") or {}).get("RequestId"),
        }

    def _invoke_timed_out(self, name: str) -> ce.Timeout:
        """The error of an Invoke of ``name`` whose answer did not come within the session's ``read_timeout``."""
        seconds = self.clients.options.read_timeout
        return ce.Timeout(f"no answer from function {name!r} within {seconds:g} s (it may still be running and is "
                          "not invoked again): for longer runs give Session(read_timeout=...) above the function's "
                          "timeout", provider=self.provider, operation="Invoke")

    def logs(self, name: str, since: datetime | None, limit: int | None) -> list[LogEventInfo]:
        """The function's log events (CloudWatch Logs' ``/aws/lambda/NAME``, FilterLogEvents page by page) from
        ``since``, oldest first; the last ``limit`` of them if given; [] when the log group does not exist yet."""
        params: Wire = {"logGroupName": f"/aws/lambda/{_short_name(name)}"}
        if since is not None:
            params["startTime"] = int(since.timestamp() * 1000)
        kept: deque[LogEventInfo] = deque(maxlen=limit)
        client = self.clients.client("logs")
        while True:
            try:
                page = client.filter_log_events(**params)
            except (bx.ClientError, bx.BotoCoreError) as e:
                error = map_error(e, self.provider, "FilterLogEvents", self.secrets)
                if isinstance(error, ce.NotFound):  # no log group: never invoked
                    return []
                raise error from None
            kept.extend({"time": datetime.fromtimestamp(event["timestamp"] / 1000, timezone.utc),
                         "message": str(event.get("message") or ""), "stream": event.get("logStreamName")}
                        for event in page.get("events") or [])
            if not page.get("nextToken") or page.get("nextToken") == params.get("nextToken"):
                return list(kept)
            params["nextToken"] = page["nextToken"]

    # ------------------------------------------------------------------------------------------------ permissions

    def add_permission(self, name: str, statement_id: str, principal: str, source_arn: str) -> None:
        """Let ``principal`` (e.g. ``apigateway.amazonaws.com``) invoke the function from ``source_arn``."""
        def look() -> Wire | None:  # applied if the statement is there now
            have = [s for s in self.permissions(name) if s["sid"] == statement_id]
            return {} if any(s["principal"] == principal and s["source_arn"] == source_arn for s in have) else None

        self._settled("AddPermission", look, _nothing, FunctionName=name, StatementId=statement_id,
                      Action="lambda:InvokeFunction", Principal=principal, SourceArn=source_arn)

    def permissions(self, name: str) -> list[PermissionInfo]:
        """The function's resource policy statements: ``sid``, ``principal``, ``source_arn`` each (none when the
        function has no policy)."""
        try:
            policy = self._call("GetPolicy", FunctionName=name)["Policy"]
        except ce.NotFound:
            self.get_function(name)  # NotFound if the function itself is missing; else it just has no policy
            return []
        document = json.loads(policy) if isinstance(policy, str) else policy
        statements = document.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        return [{"sid": s.get("Sid"), "principal": _principal(s.get("Principal")),
                 "source_arn": _source_arn(s.get("Condition"))} for s in statements]

    def remove_permission(self, name: str, statement_id: str) -> None:
        """Remove one statement of the function's resource policy."""
        def look() -> Wire | None:  # applied if the statement (or the function) is gone now
            try:
                return None if any(s["sid"] == statement_id for s in self.permissions(name)) else {}
            except ce.NotFound:
                return {}

        self._settled("RemovePermission", look, _nothing, FunctionName=name, StatementId=statement_id)

    def account_usage(self) -> AccountUsageInfo:
        """Lambda's GetAccountSettings: code storage used against the region's limit, the function count and
        concurrency (``Unsupported`` from an endpoint that does not serve it)."""
        try:
            raw = self._call("GetAccountSettings")
        except ce.NotFound as e:
            raise lacking(e, self.provider, "GetAccountSettings") from None
        limit, usage = raw.get("AccountLimit") or {}, raw.get("AccountUsage") or {}
        return {"code_size": int(usage.get("TotalCodeSize") or 0),
                "function_count": int(usage.get("FunctionCount") or 0),
                "code_size_limit": int(limit.get("TotalCodeSize") or 0),
                "zip_size_limit": int(limit.get("CodeSizeZipped") or 0),
                "unzipped_size_limit": int(limit.get("CodeSizeUnzipped") or 0),
                "concurrency_limit": int(limit.get("ConcurrentExecutions") or 0),
                "unreserved_concurrency": int(limit.get("UnreservedConcurrentExecutions") or 0)}


def _check_zip(code: bytes) -> None:
    """Lambda refuses code that is not a zip: so does cloudorm, before any request."""
    if not isinstance(code, bytes) or not zipfile.is_zipfile(io.BytesIO(code)):
        raise ce.InvalidInput("code", "must be the bytes of a zip file (Lambda could not unzip it)")
