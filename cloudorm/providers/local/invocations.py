"""Lambda's ``Invoke`` API, served by the local cloud for any client (cloudorm, boto3, the AWS CLI).

``POST /2015-03-31/functions/{FunctionName}/invocations`` runs the function's handler from the code moto keeps for
it (whoever created it) in a sandbox of this process's pool (``runtime.py``), and answers in Lambda's wire format:
``RequestResponse`` (200: the result or the error document with ``X-Amz-Function-Error: Unhandled``, the
``X-Amz-Executed-Version``, the log tail in ``X-Amz-Log-Result`` with ``X-Amz-Log-Type: Tail``), ``Event`` (202:
it runs in the background) and ``DryRun`` (204). Refusals are Lambda's errors, with the status botocore's Lambda
model gives them. The handler's ``AWS_ENDPOINT_URL`` is the URL the invoking client used, so that boto3 or
``cloudorm.Session()`` in it reach this local cloud; each invocation's log goes to CloudWatch Logs
(``function_logs.py``). The function's code is extracted once per content (``local-functions/<sha256>/`` in
cloudorm's cache); warm sandboxes are dropped when any client changes or deletes the function.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import attrs

from cloudorm.cache import cache_dir
from cloudorm.errors import CloudError
from cloudorm.providers.local.app import Change, LocalCloud, Part, register_part
from cloudorm.providers.local.function_logs import LogWriter, invocation_log, tail
from cloudorm.providers.local.guard import request_account, signing_region
from cloudorm.providers.local.interpreters import check_extensions, choose_interpreter
from cloudorm.providers.local.runtime import Launch, discard, lambda_environment, pool
from cloudorm.providers.local.wsgi import Answer, read_body
from cloudorm.serverless.runtimes import RUNTIMES

log = logging.getLogger(__name__)

MAX_PAYLOAD = 6 * 1024 * 1024
"""Largest request and result of a synchronous invocation (Lambda's limit, bytes)."""

MAX_EVENT_PAYLOAD = 1024 * 1024
"""Largest request of an asynchronous (``Event``) invocation (Lambda's limit, bytes)."""

DEFAULT_REGION = "us-east-1"
"""The region of an unsigned request (moto's default)."""

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_CHANGED = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)(?:/code|/configuration)?/?$")
"""UpdateFunctionCode (PUT .../code), UpdateFunctionConfiguration (PUT .../configuration), DeleteFunction."""
_ARN = re.compile(r"^arn:[a-z-]+:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:(?P<rest>.+)$")
_PARTIAL = re.compile(r"^(?P<account>\d{12}):function:(?P<rest>.+)$")


ERRORS = {"ResourceNotFoundException": (404, "Message"), "InvalidRequestContentException": (400, "message"),
          "RequestTooLargeException": (413, "message"), "InvalidParameterValueException": (400, "message"),
          "InvalidRuntimeException": (502, "Message"), "InvalidZipFileException": (502, "Message"),
          "ServiceException": (500, "Message"), "ValidationException": (400, "message")}
"""The errors this part answers: HTTP status and the name of the message's key, as botocore's Lambda model has them
(``ValidationException`` is the protocol's own; tests check the others against the model)."""

INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")
"""Invoke's ``X-Amz-Invocation-Type`` values (botocore's model)."""

LOG_TYPES = ("None", "Tail")
"""Invoke's ``X-Amz-Log-Type`` values (botocore's model)."""

FUNCTION_NAME = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
                 r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?")
"""The pattern an Invoke's ``FunctionName`` matches (botocore's model)."""


class InvokeError(Exception):
    """A refusal in Lambda's format: its error code (``ResourceNotFoundException``...) and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def answer(self, request_id: str) -> Answer:
        """The HTTP answer: the error's status (``ERRORS``), ``x-amzn-ErrorType`` and Lambda's JSON body."""
        status, key = ERRORS[self.code]
        body = json.dumps({"Type": "User" if status < 500 else "Service", key: self.message}).encode()
        return Answer(f"{status} {HTTPStatus(status).phrase}", [
            ("Content-Type", "application/json"), ("x-amzn-ErrorType", self.code), ("x-amzn-RequestId", request_id),
            ("Content-Length", str(len(body)))], body)


def _invalid(field: str, value: str, constraint: str) -> InvokeError:
    """A ValidationException as AWS words it."""
    return InvokeError("ValidationException", f"1 validation error detected: Value '{value}' at '{field}' failed to "
                                              f"satisfy constraint: {constraint}")


def _check_enum(field: str, allowed: tuple[str, ...], value: str) -> str:
    """``value`` if it is one of ``allowed``, else ValidationException."""
    if value not in allowed:
        raise _invalid(field, value, f"Member must satisfy enum value set: [{', '.join(allowed)}]")
    return value


def _endpoint(environ: dict[str, Any]) -> str:
    """The URL the client used to reach the local cloud (its ``Host``), for the handler to use too."""
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    return f"{environ.get('wsgi.url_scheme') or 'http'}://{host}"


@attrs.frozen
class Target:
    """What one invocation runs, read from moto's record of the function (``environment`` may hold secrets)."""

    account: str
    region: str
    name: str
    arn: str
    version: str
    runtime: str
    handler: str
    memory: int
    timeout: int
    code: bytes = attrs.field(repr=False)
    digest: str
    """The code's SHA-256 (hex)."""
    environment: dict[str, str] = attrs.field(repr=False)


def find(environ: dict[str, Any], reference: str, qualifier: str | None) -> Target:
    """The function a request names (its name, ARN or partial ARN, with a version or alias), from moto's Lambda
    backend of the request's account and region; ``InvokeError`` as Lambda refuses."""
    if not 1 <= len(reference) <= 256 or not re.fullmatch(FUNCTION_NAME, reference):
        raise _invalid("functionName", reference, f"Member must satisfy regular expression pattern: {FUNCTION_NAME}")
    account, region = request_account(environ), signing_region(environ) or DEFAULT_REGION
    rest, named_account, named_region = reference, account, region
    if found := _ARN.match(reference) or _PARTIAL.match(reference):
        rest, named_account = found["rest"], found["account"]
        named_region = found.groupdict().get("region") or region
    name, _, in_name = rest.partition(":")
    if in_name and qualifier and in_name != qualifier:
        raise InvokeError("InvalidParameterValueException",
                          "The derived qualifier from the function name does not match the specified qualifier.")
    qualifier = in_name or qualifier or None
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}" + (f":{qualifier}" if qualifier else "")
    from moto.awslambda.models import lambda_backends
    from moto.core.exceptions import JsonRESTError

    try:
        if (named_account, named_region) != (account, region):
            raise KeyError(reference)
        fn = lambda_backends[account][region].get_function(name, qualifier)
    except (KeyError, JsonRESTError):
        raise InvokeError("ResourceNotFoundException", f"Function not found: {arn}") from None
    if getattr(fn, "package_type", "Zip") != "Zip" or fn.run_time not in RUNTIMES:
        raise InvokeError("InvalidRuntimeException",
                          f"The local cloud runs zip functions of the runtimes {', '.join(RUNTIMES)}; function "
                          f"{name!r} is {getattr(fn, 'package_type', 'Zip')} ({fn.run_time or 'no runtime'})")
    code = bytes(fn.code_bytes or b"")
    digest = getattr(fn, "code_digest", "") or hashlib.sha256(code).hexdigest()
    environment = {str(k): str(v) for k, v in (fn.environment_vars or {}).items()}
    return Target(account, region, str(fn.function_name), str(fn.function_arn), str(fn.version), str(fn.run_time),
                  str(fn.handler or ""), int(fn.memory_size or 128), int(fn.timeout or 3), code, digest, environment)


class CodeStore:
    """Functions' code extracted once per content, by SHA-256, in a directory shared by this machine's processes
    (written atomically: a directory is complete or absent)."""

    def __init__(self, root: Path) -> None:
        """Keep extracted code under ``root``."""
        self.root = root

    def extracted(self, code: bytes, digest: str) -> Path:
        """The directory holding the zip ``code`` (whose SHA-256 is ``digest``, hex) extracted (``InvokeError``
        InvalidZipFileException if it is not a zip)."""
        target = self.root / digest
        if target.is_dir():
            return target
        tmp = tempfile.mkdtemp(dir=self.root, prefix=f".{target.name}-")
        try:
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                archive.extractall(tmp)  # member names with '..' or a leading '/' are kept inside tmp
            os.rename(tmp, target)
        except (zipfile.BadZipFile, ValueError):
            shutil.rmtree(tmp, ignore_errors=True)
            raise InvokeError("InvalidZipFileException", "Lambda was unable to unzip the function's code") from None
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not target.is_dir():  # not another process that got there first
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target


@attrs.frozen
class Request:
    """One parsed invocation: what it runs and how it was asked."""

    target: Target
    payload: bytes
    kind: str
    tail: bool
    endpoint: str
    request_id: str
    read_at: float
    """When (``time.monotonic()``) the function's record was read."""


class Invocations(Part):
    """The local cloud's part that answers Lambda's ``Invoke``."""

    name = "invocations"

    def __init__(self, cloud: LocalCloud) -> None:
        """Serve invocations for ``cloud`` (its logs are written through its gate)."""
        self.store = CodeStore(cache_dir("local-functions"))
        """Where functions' code is extracted."""
        self.logs = LogWriter(cloud)
        self._checked: set[tuple[Path, str]] = set()

    def route(self, method: str, path: str) -> Callable[..., Iterable[bytes]] | None:
        """``serve`` for ``POST /2015-03-31/functions/{name}/invocations``."""
        return self.serve if method == "POST" and _INVOKE.match(path) else None

    def changed(self, change: Change) -> None:
        """A function's code or configuration changed, or it was deleted: its warm sandboxes are closed (busy ones
        after their invocation)."""
        if change.method in ("PUT", "DELETE") and change.service in ("lambda", "") \
                and (found := _CHANGED.match(change.path)):
            reference = found["name"]
            parsed = _ARN.match(reference) or _PARTIAL.match(reference)
            discard((parsed["rest"] if parsed else reference).partition(":")[0])

    def reset(self) -> None:
        """Close every warm sandbox."""
        discard()

    def close(self) -> None:
        """Close every warm sandbox."""
        discard()

    def serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """The WSGI handler of an Invoke request."""
        request_id = str(uuid.uuid4())
        try:
            answer = self.invoke(environ, request_id)
        except InvokeError as e:
            answer = e.answer(request_id)
        except Exception as e:  # a fault of the local cloud itself: Lambda's ServiceException, not a traceback
            log.warning("invocation %s failed in the local cloud", request_id, exc_info=True)
            answer = InvokeError("ServiceException", f"the local cloud could not run the invocation: "
                                                     f"{type(e).__name__}").answer(request_id)
        start_response(answer.status, answer.headers)
        return [answer.body]

    def parse(self, environ: dict[str, Any], request_id: str) -> Request:
        """The request's function, payload and options, checked as Lambda checks them."""
        found = _INVOKE.match(str(environ.get("PATH_INFO") or ""))
        assert found is not None  # (routed here by route())
        query = parse_qs(str(environ.get("QUERY_STRING") or ""))
        kind = _check_enum("invocationType", INVOCATION_TYPES,
                           str(environ.get("HTTP_X_AMZ_INVOCATION_TYPE") or "RequestResponse"))
        tail = _check_enum("logType", LOG_TYPES, str(environ.get("HTTP_X_AMZ_LOG_TYPE") or "None")) == "Tail"
        payload = read_body(environ)
        limit = MAX_EVENT_PAYLOAD if kind == "Event" else MAX_PAYLOAD
        if len(payload) > limit:
            raise InvokeError("RequestTooLargeException",
                              f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
        read_at = time.monotonic()
        target = find(environ, found["name"], (query.get("Qualifier") or [""])[0] or None)
        payload = payload if payload.strip() else b"{}"  # no payload: the event is {}, as on Lambda
        try:
            json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise InvokeError("InvalidRequestContentException",
                              f"Could not parse request body into json: Could not parse payload into json: {e}") \
                from None
        return Request(target, payload, kind, tail, _endpoint(environ), request_id, read_at)

    def invoke(self, environ: dict[str, Any], request_id: str) -> Answer:
        """Answer one Invoke request (``InvokeError`` for a refusal)."""
        request = self.parse(environ, request_id)
        headers = [("x-amzn-RequestId", request_id), ("X-Amz-Executed-Version", request.target.version)]
        if request.kind == "DryRun":
            return Answer("204 No Content", headers, b"")
        launch = self.launch(request.target, request.endpoint)
        if request.kind == "Event":
            threading.Thread(target=self._run_event, args=(request, launch), daemon=True,
                             name=f"cloudorm-event-{request.target.name}").start()
            return Answer("202 Accepted", [*headers, ("Content-Length", "0")], b"")
        body, error, text = self.run(request, launch)
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if error:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        if request.tail:
            headers.append(("X-Amz-Log-Result", base64.b64encode(tail(text).encode()).decode()))
        return Answer("200 OK", headers, body)

    def launch(self, target: Target, endpoint: str) -> Launch | dict[str, str]:
        """The sandbox ``target`` runs in, with ``endpoint`` as its ``AWS_ENDPOINT_URL``; or Lambda's error document
        when its compiled extensions cannot run here (checked once per code and interpreter)."""
        runtime = RUNTIMES[target.runtime]
        code_dir = self.store.extracted(target.code, target.digest)
        interpreter = choose_interpreter(runtime.python)
        if (code_dir, interpreter.path) not in self._checked:
            try:
                check_extensions(code_dir, interpreter)
            except CloudError as e:
                return {"errorType": e.code or "Runtime.InvalidEntrypoint", "errorMessage": str(e)}
            self._checked.add((code_dir, interpreter.path))
        if interpreter.version != runtime.python:
            log.debug("%s (%s) runs with %s (Python %d.%d)", target.name, runtime.name, interpreter.path,
                      *interpreter.version)
        record = {"name": target.name, "memory": target.memory, "runtime": target.runtime, "handler": target.handler,
                  "environment": target.environment}
        env = lambda_environment(function=record, code_dir=str(code_dir), region=target.region, endpoint=endpoint,
                                 version=target.version)
        return Launch(target.name, interpreter.path, str(code_dir), target.handler, target.memory,
                      tuple(sorted(env.items())))

    def run(self, request: Request, launch: Launch | dict[str, str]) -> tuple[bytes, bool, str]:
        """Run the invocation: its answer's body, whether it is an error, and its log (written to CloudWatch
        Logs too)."""
        target = request.target
        started_ms = int(time.time() * 1000)
        if isinstance(launch, dict):  # refused before any sandbox started
            body = json.dumps(launch).encode()
            return body, True, f"{launch['errorType']}: {launch['errorMessage']}\n"
        outcome = pool().run(launch, request.payload, request.request_id, target.arn, float(target.timeout),
                             request.read_at)
        body = (outcome.result or "null").encode() if outcome.error is None else json.dumps(outcome.error).encode()
        if outcome.error is None and len(body) > MAX_PAYLOAD:
            outcome = attrs.evolve(outcome, result=None, error={
                "errorMessage": f"Response payload size exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes).",
                "errorType": "Function.ResponseSizeTooLarge"})
            body = json.dumps(outcome.error).encode()
        text = invocation_log(outcome, request.request_id, target.version, launch.memory, float(target.timeout))
        self.logs.write(account=target.account, region=target.region, function=target.name, stream=outcome.stream,
                        text=text, started_ms=started_ms, ended_ms=int(time.time() * 1000))
        return body, outcome.error is not None, text

    def _run_event(self, request: Request, launch: Launch | dict[str, str]) -> None:
        try:
            _, error, _ = self.run(request, launch)
        except Exception as e:  # a background event has no caller to raise to
            log.warning("event %s of function %s could not run: %s", request.request_id, request.target.name,
                        type(e).__name__)
            return
        if error:
            log.info("event %s of function %s failed", request.request_id, request.target.name)


@register_part
def _invocations(cloud: LocalCloud) -> Part:
    """Every local cloud answers Lambda's Invoke."""
    return Invocations(cloud)
