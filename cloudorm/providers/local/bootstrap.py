"""The program a local Function's sandbox runs: Lambda's Python runtime loop, in the standard library only.

Run as ``python -I -S -u bootstrap.py REQUEST_FD RESULT_FD [PROVIDED]``: it imports the handler named by
``_HANDLER`` from ``LAMBDA_TASK_ROOT`` (first on ``sys.path``, then ``PYTHONPATH``, then ``PROVIDED``: the packages
Lambda's runtime provides; then the standard library, and no site-packages: ``-S``), caps its private data at
``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` MB (``RLIMIT_DATA``), then answers invocations one after another: each request
and each result is a frame (8-byte big-endian length, then JSON) on its own pipe, so whatever the handler prints
(stdout and stderr are the log) cannot be mistaken for a result. The handler is imported on the first request (the
init phase), which is answered by two frames: ``{"init_ms": ...}`` once the import ended (well or not), then the
result; the handler's deadline is the request's ``deadline_ms`` if it has one, else ``timeout_ms`` after the
handler call starts. It may run under another Python than cloudorm's
(3.8 or later), so it imports nothing from cloudorm.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import site
import struct
import sys
import time
import traceback
from typing import Any

_HEADER = struct.Struct(">Q")
_EXIT_AFTER = ("Runtime.OutOfMemory", "Runtime.ExitError")
"""Error types of an invocation after which this sandbox is not reused (its state cannot be trusted); a handler
that could not be loaded ends it too, so that the next invocation tries again."""


class LambdaContext:
    """The ``context`` a handler receives, with the fields and method of Lambda's Python runtime."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")  # a str, as on Lambda
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function times out."""
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return (f"LambdaCont([aws_request_id={self.aws_request_id},function_name={self.function_name},"
                f"function_version={self.function_version},invoked_function_arn={self.invoked_function_arn}])")


class _RequestIdFilter(logging.Filter):
    """Puts the current request id on log records, as Lambda's log handler does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> Any:
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


def _write_frame(fd: int, message: Any) -> None:
    data = json.dumps(message).encode()
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _error(error_type: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


def _from_exception(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """Lambda's error document for an exception: the frames from the handler down (not this runtime's)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    stack = traceback.format_list(traceback.extract_tb(tb))
    return _error(error_type or type(exc).__name__, str(exc), stack)


def _log_error(error: dict[str, Any]) -> None:
    """Print the error as Lambda's runtime logs it."""
    lines = "".join(error.get("stackTrace") or [])
    print(f"[ERROR] {error['errorType']}: {error['errorMessage']}\nTraceback (most recent call last):\n{lines}",
          file=sys.stderr, flush=True)


def _limit_memory() -> None:
    """Cap private writable memory (heap, anonymous maps, thread stacks) at the function's memory size."""
    size = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or 0) << 20
    if size:
        resource.setrlimit(resource.RLIMIT_DATA, (size, size))


def _peak_memory_kb() -> int:
    """This process's peak resident memory (VmHWM; ``ru_maxrss`` would include the parent's from before exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _load_handler() -> Any:
    """The handler function named by ``_HANDLER`` (``module.path.function``), or Lambda's error document."""
    spec = os.environ.get("_HANDLER", "")
    module_name, _, function_name = spec.rpartition(".")
    if not module_name or not function_name:
        return _error("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack")
    try:
        module = __import__(module_name.replace("/", "."), fromlist=["_"])
    except MemoryError as e:
        return _from_exception(e, "Runtime.OutOfMemory")
    except SyntaxError as e:
        return _error("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}")
    except ImportError as e:
        return _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}")
    except Exception as e:  # an exception while the module initialises
        return _from_exception(e)
    handler = getattr(module, function_name, None)
    if handler is None:
        return _error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def _invoke(handler: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Run one invocation: ``{"result": JSON text}`` or ``{"error": Lambda's error document}``."""
    deadline_ms = request.get("deadline_ms") or int(time.time() * 1000) + int(request["timeout_ms"])
    context = LambdaContext(request["request_id"], deadline_ms, request["arn"])
    try:
        event = json.loads(request["event"])
        result = handler(event, context)
    except MemoryError as e:
        error = _from_exception(e, "Runtime.OutOfMemory")
        error["errorMessage"] = (f"RequestId: {context.aws_request_id} Error: Runtime exited with error: "
                                 f"MemoryError (memory size {context.memory_limit_in_mb} MB)")
        return {"error": error}
    except SystemExit as e:
        return {"error": _error("Runtime.ExitError", f"RequestId: {context.aws_request_id} Error: Runtime exited "
                                                     f"with error: exit status {e.code}")}
    except Exception as e:
        return {"error": _from_exception(e)}
    try:
        return {"result": json.dumps(result)}
    except (TypeError, ValueError) as e:
        return {"error": _error("Runtime.MarshalError", f"Unable to marshal response: {e}")}


def main(argv: list[str]) -> int:
    """Serve invocations from the request pipe until it closes."""
    requests_fd, results_fd = int(argv[1]), int(argv[2])
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]  # -I ignores it; Lambda doesn't
    sys.path[0:0] = [task_root, *extra, *argv[3:4]]
    site.setquit()  # the exit() and quit() builtins, which -S leaves out (importing site under -S adds no path)
    request_filter = _RequestIdFilter()
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t"
                                          "%(message)s", "%Y-%m-%dT%H:%M:%S"))
    logging.Formatter.converter = time.gmtime
    stream.addFilter(request_filter)
    logging.getLogger().addHandler(stream)
    _limit_memory()
    handler = None
    while True:
        request = _read_frame(requests_fd)
        if request is None:
            return 0
        request_filter.request_id = request["request_id"]
        if handler is None:
            started = time.monotonic()
            loaded = _load_handler()
            sys.stdout.flush()
            sys.stderr.flush()
            _write_frame(results_fd, {"init_ms": (time.monotonic() - started) * 1000})
            if isinstance(loaded, dict):
                answer: dict[str, Any] = {"error": loaded}
            else:
                handler = loaded
        if handler is not None:
            answer = _invoke(handler, request)
        error = answer.get("error")
        if error is not None:
            _log_error(error)
        sys.stdout.flush()
        sys.stderr.flush()
        exiting = error is not None and (error["errorType"] in _EXIT_AFTER or handler is None)
        answer["exiting"] = exiting
        answer["max_rss_kb"] = _peak_memory_kb()
        _write_frame(results_fd, answer)
        if exiting:
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
