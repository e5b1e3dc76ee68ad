"""An invocation's log on the local cloud, as Lambda writes it: START, the handler's output, END and REPORT lines;
returned as the tail (``LogType=Tail``: the last 4 KB) and written to CloudWatch Logs (moto's backend, in this
process) in the log group ``/aws/lambda/NAME``, one stream per sandbox, so ``aws logs filter-log-events``, boto3
and ``Function.logs()`` read them as on AWS.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from cloudorm.providers.local.app import Change, LocalCloud
from cloudorm.providers.local.runtime import Outcome

log = logging.getLogger(__name__)

LOG_TAIL = 4096
"""Bytes of log an invocation returns (Lambda's ``LogType=Tail``)."""


def invocation_log(outcome: Outcome, request_id: str, version: str, memory: int, timeout: float) -> str:
    """The invocation's log as Lambda writes it: an init phase that timed out (its output and ``INIT_REPORT``),
    START, the handler's output, END and REPORT."""
    lines = [outcome.init_report, f"START RequestId: {request_id} Version: {version}\n", outcome.log]
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


def tail(text: str) -> str:
    """The last ``LOG_TAIL`` bytes of ``text`` (whole characters)."""
    data = text.encode("utf-8")
    return data[-LOG_TAIL:].decode("utf-8", "ignore") if len(data) > LOG_TAIL else text


class LogWriter:
    """Writes invocations' logs into moto's CloudWatch Logs backend, through the local cloud's persistence gate."""

    def __init__(self, cloud: LocalCloud) -> None:
        """Write through ``cloud``'s gate (a log written is state that is kept)."""
        self.cloud = cloud
        self._lock = threading.Lock()  # moto's log streams append without a lock of their own

    def write(self, *, account: str, region: str, function: str, stream: str, text: str, started_ms: int,
              ended_ms: int) -> None:
        """Append ``text`` (an ``invocation_log``) to ``/aws/lambda/{function}``'s ``stream``: one event per line;
        the START line and the handler's output at ``started_ms``, the lines from END on at ``ended_ms``. A
        failure is logged, never raised (the invocation's answer does not depend on it)."""
        lines = text.splitlines(keepends=True)
        end = next((i for i, line in enumerate(lines) if line.startswith("END RequestId: ")), len(lines))
        events = [{"timestamp": started_ms if i < end else max(ended_ms, started_ms), "message": line}
                  for i, line in enumerate(lines) if line.strip()]
        group = f"/aws/lambda/{function}"
        try:
            from moto.logs.models import logs_backends

            with self.cloud.gate.request(Change("logs", "POST", "/", "PutLogEvents"), wait=False), self._lock:
                backend = logs_backends[account][region]
                backend.ensure_log_group(group)
                backend.ensure_log_stream(group, stream)
                backend.put_log_events(group, stream, events)
        except Exception as e:  # e.g. an event older than CloudWatch Logs accepts
            log.warning("the log of an invocation of %s was not kept: %s", function, type(e).__name__)
