"""Functions on the local cloud: moto keeps the control plane, and invocations run for real in a local sandbox.

Every uploaded zip is also kept in cloudorm's cache (``local-functions/<sha256>.zip``, extracted once to
``local-functions/<sha256>/``), content-addressed and written atomically, so every process of this machine that
talks to the same local cloud can run the function. ``invoke`` answers as Lambda does: the payload, ``Unhandled``
errors in Lambda's format, the log tail (last 4 KB) and a request id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

import attrs

from cloudorm.cache import cache_dir
from cloudorm.errors import CloudError, InvalidInput
from cloudorm.providers.aws import SERVICES
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.functions import AwsFunctionService
from cloudorm.providers.contract import FunctionInfo, Invocation, Wire
from cloudorm.providers.local.routing import changed_by
from cloudorm.providers.local.runtime import (
    Launch,
    Outcome,
    check_extensions,
    choose_interpreter,
    lambda_environment,
    pool,
)
from cloudorm.serverless.runtimes import get_runtime

log = logging.getLogger(__name__)

LOG_TAIL = 4096
"""Bytes of log an invocation returns (Lambda's ``LogType=Tail``)."""

MAX_RESPONSE = 6 * 1024 * 1024
"""Largest result a synchronous invocation returns (Lambda's limit, bytes)."""

RECORD_TTL = 1.0
"""Seconds an invocation trusts the function's record as last read or written through a local service of this
process (a change made by another process shows within this time)."""

_records: dict[tuple[str | None, str], tuple[float, FunctionInfo]] = {}
_records_lock = threading.Lock()


class CodeStore:
    """Function zips by SHA-256 in a directory shared by this machine's processes, each extracted once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, code: bytes) -> Path:
        """Keep ``code`` (a zip) and extract it; returns the extracted directory."""
        digest = hashlib.sha256(code).hexdigest()
        archive = self.root / f"{digest}.zip"
        if not archive.exists():
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{digest}-", suffix=".zip")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(code)
                os.replace(tmp, archive)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return self._extract(digest, code)

    def code_dir(self, code_sha256: str, function: str) -> Path:
        """The extracted code of the zip whose SHA-256 is ``code_sha256`` (base64, as Lambda reports it)."""
        try:
            digest = base64.b64decode(code_sha256, validate=True).hex()
        except (binascii.Error, ValueError):
            digest = ""
        target = self.root / digest
        if digest and target.is_dir():
            return target
        archive = self.root / f"{digest}.zip"
        if not digest or not archive.is_file():
            raise CloudError(f"the code of function {function!r} (CodeSha256 {code_sha256}) is not in this "
                             f"machine's local cloud cache ({self.root}): it was uploaded from another machine; "
                             "save the function again from here to run it locally",
                             code="CodeNotFound", operation="Invoke")
        return self._extract(digest, archive.read_bytes())

    def _extract(self, digest: str, code: bytes) -> Path:
        target = self.root / digest
        if target.is_dir():
            return target
        tmp = tempfile.mkdtemp(dir=self.root, prefix=f".{digest}-")
        try:
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                archive.extractall(tmp)  # member names with '..' or a leading '/' are kept inside tmp
            os.rename(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not target.is_dir():  # not another process that got there first
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target


def _check_zip(code: bytes) -> None:
    """Lambda refuses code that is not a zip: so does the local cloud, before any request."""
    if not isinstance(code, bytes) or not zipfile.is_zipfile(io.BytesIO(code)):
        raise InvalidInput("code", "must be the bytes of a zip file (Lambda could not unzip it)")


def _short_name(name: str) -> str:
    """A function's name from its name or ARN."""
    return name.split(":")[6] if name.startswith("arn:") and name.count(":") >= 6 else name


def _tail(text: str) -> str:
    data = text.encode("utf-8")
    return data[-LOG_TAIL:].decode("utf-8", "ignore") if len(data) > LOG_TAIL else text


class LocalFunctionService(AwsFunctionService):
    """``FunctionService`` of the local cloud: the control plane on moto, invocations in local sandboxes."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(clients, provider, secrets)
        # the local gateway keeps each function's invoke permissions: a change drops what it keeps
        clients.hook("after-call", "lambda", ("AddPermission", "RemovePermission", "DeleteFunction"), changed_by)
        self.store = CodeStore(cache_dir("local-functions"))
        """Where uploaded code is kept."""
        self._checked: set[tuple[Path, str]] = set()

    def _remember(self, name: str, record: FunctionInfo | None) -> None:
        """Keep the record an invocation of ``name`` will use; with None, forget every record of that function."""
        endpoint = self.clients.endpoint("lambda")
        with _records_lock:
            if record is not None:
                for alias in {name, str(record["name"]), str(record.get("arn") or name)}:  # by name or ARN
                    _records[(endpoint, alias)] = (time.monotonic(), record)
                return
            short = _short_name(name)
            for key, (_, kept) in list(_records.items()):
                if key[0] == endpoint and (key[1] == name or kept.get("name") == short):
                    del _records[key]

    def _record(self, name: str) -> tuple[float, FunctionInfo]:
        """The function's record and when (``time.monotonic()``) it was read: the one kept if fresh, else read from
        moto."""
        with _records_lock:
            kept = _records.get((self.clients.endpoint("lambda"), name))
        now = time.monotonic()
        if kept is not None and now - kept[0] < RECORD_TTL:
            return kept
        return now, self.get_function(name)

    def get_function(self, name: str) -> FunctionInfo:
        """The record of a function (kept for the next invocation)."""
        found = super().get_function(name)
        self._remember(name, found)
        return found

    def create_function(self, name: str, spec: Wire, code: bytes) -> FunctionInfo:
        """Create the function on moto and keep its code for local runs."""
        _check_zip(code)
        created = super().create_function(name, spec, code)
        self.store.put(code)
        self._remember(name, created)
        return created

    def update_code(self, name: str, code: bytes, architecture: str) -> FunctionInfo:
        """Upload new code to moto and keep it for local runs; warm sandboxes of the old code are closed."""
        _check_zip(code)
        self._remember(name, None)
        updated = super().update_code(name, code, architecture)
        self.store.put(code)
        pool().discard(updated["name"])  # before the new record is kept: invocations that read it keep theirs
        self._remember(name, updated)
        return updated

    def update_configuration(self, name: str, changes: Wire) -> FunctionInfo:
        """Change settings; warm sandboxes of the old settings are closed."""
        self._remember(name, None)
        updated = super().update_configuration(name, changes)
        pool().discard(updated["name"])  # before the new record is kept: invocations that read it keep theirs
        self._remember(name, updated)
        return updated

    def delete_function(self, name: str) -> None:
        """Delete the function and close its warm sandboxes (its code stays cached: others may share it)."""
        try:
            super().delete_function(name)
        finally:
            self._remember(name, None)
            pool().discard(_short_name(name))

    def invoke(self, name: str, payload: bytes, wait: bool = True) -> Invocation:
        """Run the handler in a local sandbox on ``payload`` (JSON bytes) and answer as Lambda does; with
        ``wait=False`` it runs in the background and the answer (202) comes at once."""
        try:
            json.loads(payload.decode("utf-8"))
        except (AttributeError, UnicodeDecodeError, ValueError) as e:
            raise InvalidInput("payload", f"must be UTF-8 JSON bytes ({e})") from None
        read_at, function = self._record(name)
        launch = self._launch(function)
        request_id = str(uuid.uuid4())
        if wait:
            return self._run(function, launch, payload, request_id, read_at)
        worker = threading.Thread(target=self._run_event, args=(function, launch, payload, request_id, read_at),
                                  name=f"cloudorm-event-{name}", daemon=True)
        worker.start()
        return {"status": 202, "payload": b"", "error": None, "log": None, "request_id": request_id}

    def _launch(self, function: FunctionInfo) -> Launch:
        """The sandbox a function's record asks for (its code checked against the interpreter once)."""
        runtime = get_runtime(function["runtime"])
        code_dir = self.store.code_dir(function.get("code_sha256") or "", function["name"])
        interpreter = choose_interpreter(runtime.python)
        if (code_dir, interpreter.path) not in self._checked:
            check_extensions(code_dir, interpreter)
            self._checked.add((code_dir, interpreter.path))
        if interpreter.version != runtime.python:
            log.debug("%s (%s) runs with %s (Python %d.%d)", function["name"], runtime.name, interpreter.path,
                      *interpreter.version)
        base = self.clients.endpoint("lambda")
        others = {s: url for s in SERVICES if (url := self.clients.endpoint(s)) and url != base}
        env = lambda_environment(function=function, code_dir=str(code_dir), region=self.clients.region,
                                 endpoint=base, endpoints=others)
        return Launch(str(function["name"]), interpreter.path, str(code_dir), str(function["handler"]),
                      int(function.get("memory") or 128), tuple(sorted(env.items())))

    def _run(self, function: FunctionInfo, launch: Launch, payload: bytes, request_id: str,
             read_at: float) -> Invocation:
        timeout = float(function.get("timeout") or 3)
        outcome = pool().run(launch, payload, request_id, str(function.get("arn") or ""), timeout, read_at)
        body = (outcome.result or "null").encode() if outcome.error is None else json.dumps(outcome.error).encode()
        if outcome.error is None and len(body) > MAX_RESPONSE:
            outcome = attrs.evolve(outcome, result=None, error={
                "errorMessage": f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).",
                "errorType": "Function.ResponseSizeTooLarge"})
            body = json.dumps(outcome.error).encode()
        return {"status": 200, "payload": body, "error": "Unhandled" if outcome.error is not None else None,
                "log": _tail(self._log(outcome, request_id, launch.memory, timeout)), "request_id": request_id}

    def _run_event(self, function: FunctionInfo, launch: Launch, payload: bytes, request_id: str,
                   read_at: float) -> None:
        try:
            answer = self._run(function, launch, payload, request_id, read_at)
        except Exception as e:  # a background event has no caller to raise to
            log.warning("event %s of function %s could not run: %s", request_id, function["name"], type(e).__name__)
            return
        if answer["error"]:
            log.info("event %s of function %s failed (%s)", request_id, function["name"], answer["error"])

    @staticmethod
    def _log(outcome: Outcome, request_id: str, memory: int, timeout: float) -> str:
        """The invocation's log as Lambda writes it: START, the handler's output, END and REPORT."""
        lines = [f"START RequestId: {request_id} Version: $LATEST\n", outcome.log]
        if outcome.log and not outcome.log.endswith("\n"):
            lines.append("\n")
        if outcome.error is not None and outcome.error.get("errorType") == "Sandbox.Timedout":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            lines.append(f"{stamp}Z {request_id} Task timed out after {timeout:.2f} seconds\n")
        used = f"\tMax Memory Used: {outcome.max_memory_mb} MB" if outcome.max_memory_mb is not None else ""
        if outcome.init_ms is not None:
            used += f"\tInit Duration: {outcome.init_ms:.2f} ms"
        lines.append(f"END RequestId: {request_id}\n")
        lines.append(f"REPORT RequestId: {request_id}\tDuration: {outcome.duration_ms:.2f} ms\t"
                     f"Billed Duration: {math.ceil(outcome.duration_ms)} ms\tMemory Size: {memory} MB{used}\t\n")
        return "".join(lines)
