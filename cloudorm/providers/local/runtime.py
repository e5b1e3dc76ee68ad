"""Running a local Function's handler in a child process: the sandbox and its warm reuse (the interpreter is
chosen by ``interpreters.py``).

A sandbox is one child running ``bootstrap.py`` in the function's code directory; it answers invocations one after
another, like Lambda's execution environments, and is kept warm for the next invocation of the same function, code
and configuration (at most one invocation at a time each; more at once start more sandboxes). A sandbox that timed
out, ran out of memory or crashed is discarded. Its ``sys.path`` is Lambda's: the code, then the packages Lambda's
runtime provides (boto3 and its dependencies, linked from this machine), then the standard library; never this
machine's site-packages, so a package missing from the bundle fails here as on Lambda. Memory is limited with
``RLIMIT_DATA`` (private writable memory: the heap, anonymous maps and thread stacks, not shared libraries), set to
the function's memory size: a Python interpreter with boto3 imported uses about 25 MB of it; each thread reserves a
stack of ``ulimit -s`` (8 MB) which counts too.

As on Lambda, a new sandbox's init phase (importing the handler module) has its own limit, ``INIT_TIMEOUT``, and the
function's timeout applies to the handler call only. An init that exceeds its limit is logged (``INIT_REPORT ...
Status: timeout``) and run again in a new sandbox within the invocation, counted in the function's timeout (Lambda's
"suppressed init"): past that, the invocation times out (``Sandbox.Timedout``).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import logging
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

log = logging.getLogger(__name__)

BOOTSTRAP = str(Path(__file__).with_name("bootstrap.py"))
"""The script a sandbox runs."""

IDLE_SECONDS = 300.0
"""How long an unused sandbox stays warm."""

MAX_IDLE = 4
"""Warm sandboxes kept per function configuration."""

LAMBDA_PACKAGES = {"boto3": "boto3", "botocore": "botocore", "s3transfer": "s3transfer", "jmespath": "jmespath",
                   "dateutil": "python_dateutil", "urllib3": "urllib3", "six": "six"}
"""The packages Lambda's Python runtime provides beside the standard library, module → distribution (this
machine's copies are used)."""

INIT_TIMEOUT = 10.0
"""Seconds a new sandbox may spend importing the handler module before its first invocation (Lambda's init phase
limit), on top of the function's timeout."""

LOG_KEPT = 64 * 1024
"""Bytes of an invocation's output read back (the end of it; Lambda returns the last 4 KB)."""

_HEADER = struct.Struct(">Q")
@attrs.frozen
class Launch:
    """What makes a sandbox: the function's name, the interpreter, the code, the handler, the environment and the
    memory (MB). Sandboxes are reused only for an equal Launch."""

    function: str
    interpreter: str
    code_dir: str
    handler: str
    memory: int
    environment: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    """The sandbox's environment variables (the function's may be secrets: kept out of the repr)."""


@attrs.frozen
class Outcome:
    """One invocation's result: ``result`` (JSON text) or ``error`` (Lambda's error document), the log
    printed meanwhile, the duration and the sandbox's peak memory."""

    result: str | None
    error: dict[str, Any] | None
    log: str
    duration_ms: float
    max_memory_mb: int | None = None
    init_ms: float | None = None
    """How long importing the handler took, for the invocation that started the sandbox (in its init phase)."""
    stream: str = ""
    """The log stream of the sandbox that ran it (``2026/12/06/[$LATEST]<hex>``, as Lambda names them)."""
    init_report: str = ""
    """What Lambda logs before START: the output and ``INIT_REPORT`` line of an init phase that timed out."""


def lambda_environment(*, function: Mapping[str, Any], code_dir: str, region: str, endpoint: str | None,
                       endpoints: Mapping[str, str] | None = None, version: str = "$LATEST") -> dict[str, str]:
    """The environment of a sandbox: a few of the host's (PATH), the function's variables and Lambda's own
    (function name, version, memory, region, log group, handler, task root), with the local cloud's endpoint and
    test credentials so that boto3 in a handler talks to the local cloud (never to a real account). Each sandbox
    adds its own log stream's name (``AWS_LAMBDA_LOG_STREAM_NAME``)."""
    name = str(function["name"])
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8", "TZ": ":UTC"}
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    for service, url in (endpoints or {}).items():
        env[f"AWS_ENDPOINT_URL_{service.upper()}"] = url
    env.update({str(k): str(v) for k, v in (function.get("environment") or {}).items()})
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.get("memory") or 128),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.get('runtime') or 'python'}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "LAMBDA_TASK_ROOT": code_dir,
        "LAMBDA_RUNTIME_DIR": os.path.dirname(BOOTSTRAP),
        "_HANDLER": str(function.get("handler") or ""),
    })
    return env


class SandboxDied(Exception):
    """The child exited before answering."""


class InitTimedOut(Exception):
    """A new sandbox did not import its handler within the init phase's limit (the sandbox was killed)."""


class Sandbox:
    """One child process serving invocations of one Launch, one at a time."""

    def __init__(self, launch: Launch, log_dir: str, provided: str) -> None:
        self.launch = launch
        self.last_used = time.monotonic()
        environment = dict(launch.environment)
        version = environment.get("AWS_LAMBDA_FUNCTION_VERSION") or "$LATEST"
        self.stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{version}]{uuid.uuid4().hex}"
        """Its log stream's name, as Lambda names an execution environment's."""
        environment["AWS_LAMBDA_LOG_STREAM_NAME"] = self.stream
        self.initialized = False
        """Whether the handler was imported (the child reports it once, on its first invocation)."""
        self.init_ms: float | None = None
        """How long the import took."""
        self._closed = False
        fd, self.log_path = tempfile.mkstemp(prefix="sandbox-", suffix=".log", dir=log_dir)
        os.close(fd)
        request_r, self._requests = os.pipe()
        self._results, result_w = os.pipe()
        try:
            with open(self.log_path, "ab", buffering=0) as logfile:
                self.process = subprocess.Popen(
                    [launch.interpreter, "-I", "-S", "-u", BOOTSTRAP, str(request_r), str(result_w), provided],
                    pass_fds=(request_r, result_w), stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile,
                    cwd=launch.code_dir, env=environment, start_new_session=True)
        except BaseException:
            for fd in (self._requests, self._results):
                os.close(fd)
            raise
        finally:
            os.close(request_r)
            os.close(result_w)
        log.debug("sandbox pid %s: %s runs %s", self.process.pid, launch.interpreter, launch.handler)

    def alive(self) -> bool:
        """True while the child runs."""
        return self.process.poll() is None

    def invoke(self, event: bytes, request_id: str, arn: str, timeout: float,
               init_timeout: float | None = None) -> tuple[dict[str, Any] | None, float]:
        """Send one invocation and wait for its answer: (the answer, None when ``timeout`` passed and the sandbox was
        killed; when the handler call started, ``time.monotonic()``). A new sandbox first imports the handler,
        within ``init_timeout`` s and not counted in ``timeout`` (``InitTimedOut`` past it, the sandbox killed);
        with None, the import counts in ``timeout``. ``SandboxDied`` if the child exited without answering."""
        os.truncate(self.log_path, 0)
        started = time.monotonic()
        request: dict[str, Any] = {"event": event.decode("utf-8"), "request_id": request_id, "arn": arn,
                                   "timeout_ms": int(timeout * 1000)}
        if init_timeout is None:  # the deadline counts from now, the import included
            request["deadline_ms"] = int((time.time() + timeout) * 1000)
        data = json.dumps(request).encode()
        try:
            _write_all(self._requests, _HEADER.pack(len(data)) + data)
            if not self.initialized:
                init = self._read_frame(started + (timeout if init_timeout is None else init_timeout))
                if init is None:
                    self.kill()
                    if init_timeout is not None:
                        raise InitTimedOut()
                    return None, started
                self.initialized, self.init_ms = True, init.get("init_ms")
                if init_timeout is not None:
                    started = time.monotonic()
            answer = self._read_frame(started + timeout)
        except BrokenPipeError:
            raise SandboxDied() from None
        self.last_used = time.monotonic()
        if answer is None:
            self.kill()
        return answer, started

    def _read_frame(self, deadline: float) -> dict[str, Any] | None:
        """The next frame the child writes; None if it did not come before ``deadline``."""
        header = self._read(_HEADER.size, deadline)
        data = None if header is None else self._read(_HEADER.unpack(header)[0], deadline)
        if data is None:
            return None
        frame: dict[str, Any] = json.loads(data)
        return frame

    def _read(self, size: int, deadline: float) -> bytes | None:
        chunks: list[bytes] = []
        while size:
            left = deadline - time.monotonic()
            poller = select.poll()  # not select(): a busy process's descriptors may exceed FD_SETSIZE
            poller.register(self._results, select.POLLIN)
            if left <= 0 or not poller.poll(max(1, int(left * 1000))):
                return None
            chunk = os.read(self._results, size)
            if not chunk:
                raise SandboxDied()
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def read_log(self, limit: int = LOG_KEPT) -> str:
        """The end (``limit`` bytes) of what the handler printed during the last invocation."""
        try:
            with open(self.log_path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - limit))
                return f.read().decode("utf-8", "replace" if size <= limit else "ignore")
        except OSError:
            return ""

    def exit_status(self) -> str:
        """How the child ended, as Lambda words it (``exit status 1``, ``signal: killed``)."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.returncode
        if code is not None and code < 0:
            name = signal.Signals(-code).name[3:].lower()
            return f"signal: {'killed' if name == 'kill' else name}"
        return f"exit status {code}"

    def kill(self) -> None:
        """Kill the child and everything it started (its process group)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def close(self) -> None:
        """Stop the child and remove its files (once: the pipe numbers may belong to other files afterwards)."""
        if self._closed:
            return
        self._closed = True
        os.close(self._requests)  # the child sees the end of its input and exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)
        self.kill()
        os.close(self._results)
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)


def _link_provided(target: str) -> str:
    """A directory of links to this machine's copies of ``LAMBDA_PACKAGES`` (those installed), for sandboxes'
    ``sys.path``."""
    os.makedirs(target, exist_ok=True)
    for name, distribution in LAMBDA_PACKAGES.items():
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            continue
        source = Path(spec.origin)
        source = source.parent if source.name == "__init__.py" else source
        for path in (source, *source.parent.glob(f"{distribution}-*.dist-info")):  # importlib.metadata works too
            with contextlib.suppress(FileExistsError):
                os.symlink(path, os.path.join(target, path.name))
    return target


def _ended_line(text: str) -> str:
    """``text`` ending with a newline (unless empty)."""
    return text if not text or text.endswith("\n") else text + "\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class SandboxPool:
    """Warm sandboxes per Launch, reused across invocations, closed when idle too long and at exit."""

    def __init__(self) -> None:
        self._idle: dict[Launch, list[Sandbox]] = {}
        self._busy: set[Sandbox] = set()
        self._changed: dict[str | None, float] = {}
        """When each function (None: every function) last changed: a sandbox whose invocation read its Launch
        before that is not kept warm."""
        self._lock = threading.Lock()
        self._log_dir = tempfile.mkdtemp(prefix="cloudorm-sandboxes-")
        self._provided = _link_provided(os.path.join(self._log_dir, "provided"))
        atexit.register(self.close)

    def run(self, launch: Launch, event: bytes, request_id: str, arn: str, timeout: float,
            since: float | None = None) -> Outcome:
        """Run one invocation in a warm sandbox of ``launch`` (or a new one); ``error`` carries Lambda's timeout,
        out-of-memory and exit errors. ``since``: when (``time.monotonic()``) the function's settings that made
        ``launch`` were read (now if None)."""
        since = time.monotonic() if since is None else since
        sandbox = self._take(launch)
        keep = False
        init_report, init_timeout, cold = "", INIT_TIMEOUT, not sandbox.initialized
        try:
            started = time.monotonic()
            try:
                try:
                    answer, started = sandbox.invoke(event, request_id, arn, timeout, init_timeout)
                except InitTimedOut:  # Lambda's suppressed init: again, in the invocation, within its timeout
                    init_report = _ended_line(sandbox.read_log()) + (
                        f"INIT_REPORT Init Duration: {init_timeout * 1000:.2f} ms\tPhase: init\tStatus: timeout\n")
                    self._give_back(sandbox, False, since)
                    sandbox = self._take(launch)
                    answer, started = sandbox.invoke(event, request_id, arn, timeout, None)
            except SandboxDied:
                answer = {"died": True}
            duration = (time.monotonic() - started) * 1000
            text = sandbox.read_log()
            if answer is None or answer.get("died"):
                if answer is None:
                    message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
                    error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
                else:
                    kind = "Runtime.OutOfMemory" if "MemoryError" in text else "Runtime.ExitError"
                    error = {"errorType": kind, "errorMessage": f"RequestId: {request_id} Error: Runtime exited "
                                                                f"with error: {sandbox.exit_status()}"}
                return Outcome(None, error, text, duration, stream=sandbox.stream, init_report=init_report)
            keep = not answer.get("exiting")
            rss = answer.get("max_rss_kb")
            init_ms = sandbox.init_ms if cold and not init_report else None  # a suppressed init is in Duration
            return Outcome(answer.get("result"), answer.get("error"), text, duration,
                           int(rss) // 1024 if rss else None, init_ms, sandbox.stream, init_report)
        finally:
            self._give_back(sandbox, keep, since)

    def _take(self, launch: Launch) -> Sandbox:
        with self._lock:
            doomed = self._reap()
            idle = self._idle.get(launch) or []
            while idle and not idle[-1].alive():
                doomed.append(idle.pop())
            sandbox = idle.pop() if idle else None
            if sandbox is not None:
                self._busy.add(sandbox)
        for old in doomed:
            old.close()
        if sandbox is None:
            sandbox = Sandbox(launch, self._log_dir, self._provided)
            with self._lock:
                self._busy.add(sandbox)
        return sandbox

    def _give_back(self, sandbox: Sandbox, keep: bool, since: float) -> None:
        """Keep a sandbox warm after an invocation (unless ``keep`` is False, its function changed since its
        settings were read or enough are warm), else close it."""
        with self._lock:
            self._busy.discard(sandbox)
            changed = max(self._changed.get(sandbox.launch.function, since), self._changed.get(None, since))
            retired = changed > since
            idle = self._idle.setdefault(sandbox.launch, [])
            if keep and not retired and sandbox.alive() and len(idle) < MAX_IDLE:
                idle.append(sandbox)
                return
        sandbox.close()

    def _reap(self) -> list[Sandbox]:
        """Take the sandboxes idle for longer than ``IDLE_SECONDS`` out of the pool (the caller closes them)."""
        now = time.monotonic()
        doomed: list[Sandbox] = []
        for launch, idle in list(self._idle.items()):
            doomed += [s for s in idle if now - s.last_used > IDLE_SECONDS]
            idle[:] = [s for s in idle if now - s.last_used <= IDLE_SECONDS]
            if not idle:
                del self._idle[launch]
        return doomed

    def discard(self, name: str | None = None) -> None:
        """Close the warm sandboxes of a function (by its name), or all of them: it changed. Busy ones, and those
        of invocations that read its settings before now, are closed when their invocation ends."""
        with self._lock:
            self._changed[name] = time.monotonic()
            doomed = [s for k in [k for k in self._idle if name in (None, k.function)] for s in self._idle.pop(k)]
        for sandbox in doomed:
            sandbox.close()

    def close(self) -> None:
        """Close every warm sandbox and kill the busy ones (at exit: background events end with the process)."""
        self.discard()
        with self._lock:
            busy, self._busy = list(self._busy), set()
        for sandbox in busy:
            sandbox.kill()
        shutil.rmtree(self._log_dir, ignore_errors=True)


_pool: SandboxPool | None = None
_pool_lock = threading.Lock()


def pool() -> SandboxPool:
    """This process's sandbox pool (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = SandboxPool()
        return _pool


def discard(name: str | None = None) -> None:
    """Close the warm sandboxes of the function ``name`` (every function's with None), if this process has a pool
    (none is made for it)."""
    with _pool_lock:
        started = _pool
    if started is not None:
        started.discard(name)
