"""Jobs: commands started on a node by ``run(..., wait=False)`` that run on, detached, after the call returns (and
after the connection closes). A ``Job`` is polled (``status()``), waited for (``wait()`` gives the ``CommandResult``
``run()`` would have), read (``logs()``), stopped with its child processes (``stop()``) and forgotten (``forget()``);
``node.jobs()`` finds a node's jobs again from any process. ``Jobs`` holds one job per node of a cluster.

Every operation is one round trip running the job script of ``compute.jobscript`` through the node's shell, so it
works alike on SSH nodes and on the local cloud's working directories.
"""

from __future__ import annotations

import re
import secrets
import signal as signals
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from cloudorm.checks import check_flag, check_seconds
from cloudorm.compute.bootstrap import with_environment
from cloudorm.compute.jobscript import ACTIVE, Report, line, one, reports, start_line
from cloudorm.compute.settings import MAX_PARALLEL
from cloudorm.compute.shell import CommandResult, CommandResults
from cloudorm.errors import AlreadyExists, CloudError, ClusterError, ConflictError, InvalidInput, NotFound, Timeout
from cloudorm.results import Results
from cloudorm.waiting import backoff

if TYPE_CHECKING:
    from cloudorm.compute.node import Node

T = TypeVar("T")

JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""A job id: letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit, at most 100 characters."""

SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": None, "USR2": None, "ALRM": 14, "TERM": 15}
"""The signals ``stop`` sends, by name (numbers only for those every Unix numbers alike)."""

POLL = 5.0
"""Seconds one round trip of ``wait`` waits on the node for the job to end before it asks again."""

RESENDS = 3
"""How many times an operation is sent when the connection is lost before its answer came (each is safe to send
again: a start re-sent finds the job its first send started)."""


def new_id() -> str:
    """A fresh job id: the UTC time it was made (so ids sort by start) and random hex."""
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


def check_job_id(job_id: Any) -> str:
    """A job id (``JOB_ID``): it names the job's directory on the node."""
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise InvalidInput("job_id", "must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or "
                                     f"digit, not {job_id!r}")
    return job_id


def check_signal(value: Any) -> str:
    """A signal's name for ``kill -s``: ``"TERM"``, ``"SIGTERM"``, ``signal.SIGTERM`` or a number every Unix
    shares (1, 2, 3, 9, 14, 15)."""
    name: Any = value.name if isinstance(value, signals.Signals) else value
    if isinstance(name, str) and name.upper().removeprefix("SIG") in SIGNALS:
        return name.upper().removeprefix("SIG")
    if isinstance(value, int) and not isinstance(value, bool):
        found = next((n for n, number in SIGNALS.items() if number == value), None)
        if found is not None:
            return found
    raise InvalidInput("signal", f"must be one of {', '.join(SIGNALS)} (a name, signal.SIG*, or the number of "
                                 f"HUP, INT, QUIT, KILL, ALRM or TERM), not {value!r}")


def check_tail(tail: Any) -> int | None:
    """None (everything) or a positive number of lines."""
    if tail is None:
        return None
    if isinstance(tail, bool) or not isinstance(tail, int) or tail < 1:
        raise InvalidInput("tail", f"must be None or a positive number of lines, not {tail!r}")
    return tail


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


def _call(node: Node, text: str, environment: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Run the job script's ``text`` on ``node``: ``(stdout, stderr)``. A connection lost before the answer came
    is sent again (every job operation is safe to repeat; the shell reconnects a dropped connection), up to
    ``RESENDS`` times."""
    for attempt in range(RESENDS):
        try:
            code, out, err = node.shell.run(text, None, environment)
        except (CloudError, OSError, EOFError) as e:
            if (isinstance(e, CloudError) and type(e) is not CloudError) or attempt == RESENDS - 1:
                raise
            time.sleep(backoff(attempt, base=0.2, cap=2.0))
            continue
        if code != 0:
            raise CloudError(f"the job script failed on node {node.name!r} (exit {code}): {err.strip()[-300:]}")
        return out, err
    raise AssertionError("unreachable")  # pragma: no cover


@attrs.frozen
class JobLogs:
    """What a job wrote so far: its ``stdout`` and ``stderr`` (decoded as UTF-8, bad bytes replaced)."""

    stdout: str
    stderr: str


@attrs.define(eq=False, repr=False)
class Job:
    """A command running detached on a node (``node.run(cmd, wait=False)``); its files are in
    ``~/.cloudorm/jobs/<id>/`` there. ``state``, ``exit_code`` and the times are as last seen (any call updates
    them)."""

    node: Node
    """The node it runs on."""
    id: str
    """Its id, chosen by the client: unique on the node (a start with the same id finds this job)."""
    command: str
    """The command, as given to ``run``."""
    timeout: float | None = None
    """Seconds after which the node stops it (None: never)."""
    check: bool = False
    """Whether ``wait()`` raises ``CommandFailed`` unless it exited 0 (``run(check=True)``)."""
    state: str | None = None
    """``starting``, ``running``, ``exited``, ``stopped``, ``timed_out`` or ``lost`` (``jobscript.STATES``)."""
    exit_code: int | None = None
    """Its exit code once it ended (128 + n when signal n ended it; None while running, when timed out, or lost)."""
    created: datetime | None = None
    """When its directory was made on the node (the node's clock, UTC)."""
    started: datetime | None = None
    """When its process started (the node's clock, UTC)."""
    finished: datetime | None = None
    """When it ended (the node's clock, UTC)."""

    def __repr__(self) -> str:
        return f"Job({self.id!r}, node={self.node.name!r}, state={self.state!r}, exit_code={self.exit_code!r})"

    @property
    def target(self) -> str:
        """The node's name (``Jobs`` is one of cloudorm's results)."""
        return self.node.name

    @property
    def ok(self) -> bool:
        """False once it is known to have failed: exited non-zero, stopped, timed out or lost."""
        if self.state == "exited":
            return self.exit_code == 0
        return self.state not in ("stopped", "timed_out", "lost")

    @property
    def duration(self) -> float | None:
        """Seconds it ran (so far, while running; None before it started)."""
        if self.started is None:
            return None
        end = self.finished or datetime.now(timezone.utc)
        return max(0.0, (end - self.started).total_seconds())

    # ------------------------------------------------------------------------------------------- talking

    @classmethod
    def _of(cls, node: Node, report: Report) -> Job:
        """The job a report describes."""
        timeout = report.meta.get("timeout")
        job = cls(node, report.id, str(report.meta.get("command") or ""),
                  float(timeout) if isinstance(timeout, (int, float)) else None)
        job._take(report)
        return job

    def _take(self, report: Report) -> None:
        self.state, self.exit_code = report.state, report.exit_code
        if report.state == "timed_out":
            self.exit_code = None
        self.created, self.started = _when(report.created), _when(report.started)
        self.finished = _when(report.finished)

    def _ask(self, action: str, *args: str) -> tuple[str, str]:
        """One round trip: the job's new state taken; the stdout after the header and the stderr."""
        out, err = _call(self.node, line(action, self.id, *args))
        report, rest, _ = one(out)
        if report is None:
            raise NotFound(f"node {self.node.name!r} has no job {self.id!r} (forgotten, or the node was replaced)")
        self._take(report)
        return rest, err

    def _result(self, stdout: str, stderr: str) -> CommandResult:
        """The ``CommandResult`` of the ended job (``CloudError`` for a lost one: its exit is unknown)."""
        if self.state == "lost":
            raise CloudError(f"job {self.id!r} on node {self.node.name!r} ended without an exit code (the node "
                             "rebooted, or its runner was killed); job.logs() has what it wrote")
        return CommandResult(self.node, self.command, self.exit_code, stdout, stderr, self.duration or 0.0)

    # ------------------------------------------------------------------------------------------- operations

    def status(self) -> str:
        """Its state now (one round trip): ``running``, ``exited``, ``stopped``, ``timed_out``, ``lost`` (or
        ``starting`` for an instant)."""
        self._ask("report", "0", "none", "")
        return str(self.state)

    def running(self) -> bool:
        """True while it has not ended (one round trip)."""
        return self.status() in ACTIVE

    def wait(self, timeout: float | None = None, check: bool | None = None) -> CommandResult:
        """Wait until it ends; its ``CommandResult`` (what ``run()`` gives: exit code, stdout, stderr; exit code
        None when it was stopped at its ``timeout``). ``Timeout`` when still running after ``timeout`` seconds (it
        runs on); ``check`` (default: the ``run`` call's): ``CommandFailed`` unless it exited 0."""
        seconds = None if timeout is None else check_seconds("timeout", timeout, zero=True)
        check = self.check if check is None else check_flag("check", check)
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            left = POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic()))
            out, err = self._ask("report", str(int(left * 10)), "done", "")
            if self.state not in ACTIVE:
                result = self._result(out, err)
                return result.check() if check else result
            if deadline is not None and time.monotonic() >= deadline:
                raise Timeout(f"job {self.id!r} on node {self.node.name!r} still runs after {seconds:g} s")

    def logs(self, tail: int | None = None) -> JobLogs:
        """What it wrote so far (``tail``: the last lines of each stream only)."""
        lines = check_tail(tail)
        out, err = self._ask("report", "0", "all", "" if lines is None else str(lines))
        return JobLogs(out, err)

    def stop(self, signal: str | int = "TERM", grace: float = 10.0) -> CommandResult:
        """Send ``signal`` to its whole process group (its child processes too), then ``KILL`` whatever is left
        after ``grace`` seconds; its ``CommandResult`` (exit code 128 + the signal's number, e.g. 143 for TERM).
        A job that ended already is left as it is."""
        name = check_signal(signal)
        seconds = check_seconds("grace", grace, zero=True)
        out, err = self._ask("stop", name, str(int(seconds * 10)))
        return self._result(out, err)

    def forget(self) -> None:
        """Remove its files from the node (forgetting one that is gone already is no error); a running job is
        ``ConflictError``: ``stop()`` it first."""
        try:
            self._ask("forget")
        except NotFound:
            return
        if self.state in ACTIVE:
            raise ConflictError(f"job {self.id!r} on node {self.node.name!r} is {self.state}: stop() it before "
                                "forgetting it")


# ----------------------------------------------------------------------------------------------- per node

def start(node: Node, cmd: str, timeout: float | None, check: bool, environment: Mapping[str, str] | None,
          job_id: str) -> Job:
    """Start ``cmd`` (checked) on ``node`` as job ``job_id``; a re-send finds the job the first send started.
    A job of that id running another command is ``AlreadyExists``."""
    meta = {"command": cmd, "timeout": timeout}
    out, _ = _call(node, start_line(job_id, meta, with_environment(cmd), timeout), environment)
    report, _, how = one(out)
    if report is None:
        raise CloudError(f"node {node.name!r} did not say whether job {job_id!r} started")
    if how == "existing" and report.meta and (report.meta.get("command"), report.meta.get("timeout")) != \
            (cmd, timeout):
        raise AlreadyExists(f"node {node.name!r} has a job {job_id!r} already, running "
                            f"{report.meta.get('command')!r}: give another job_id")
    job = Job(node, job_id, cmd, timeout, check)
    job._take(report)
    return job


def find(node: Node, job_id: str) -> Job:
    """Job ``job_id`` of ``node`` (``NotFound`` if it has none)."""
    out, _ = _call(node, line("report", check_job_id(job_id), "0", "none", ""))
    report, _, _ = one(out)
    if report is None:
        raise NotFound(f"node {node.name!r} has no job {job_id!r}")
    return Job._of(node, report)


def listed(node: Node, finished_only: bool = False) -> list[Job]:
    """Every job of ``node``, oldest first (``finished_only``: the ended ones, removed as they are listed)."""
    out, _ = _call(node, line("list", *(["finished"] if finished_only else [])))
    jobs = [Job._of(node, r) for r in reports(out)]
    return sorted(jobs, key=lambda j: (j.created or datetime.max.replace(tzinfo=timezone.utc), j.id))


# ----------------------------------------------------------------------------------------------- many

class Jobs(Results[Job]):
    """Jobs on many nodes (``cluster.run(cmd, wait=False)``: one per node, in node order), driven in parallel;
    cloudorm's one results type, so ``.ok`` / ``.failed`` tell the jobs known to have failed so far."""

    what = "jobs"

    def __init__(self, jobs: Iterable[Job] = (), max_parallel: int = MAX_PARALLEL) -> None:
        super().__init__(jobs)
        self.max_parallel = max_parallel
        """How many nodes are asked at once."""

    def by_target(self) -> dict[Hashable, Job]:
        """The jobs keyed by node name, or ``node/id`` for a node with several jobs here (none is hidden)."""
        return dict(zip(self._labels(), self, strict=True))

    def _labels(self) -> list[str]:
        """Node names (``node/id`` for a node with several jobs here)."""
        count = Counter(j.node.name for j in self)
        return [j.node.name if count[j.node.name] == 1 else f"{j.node.name}/{j.id}" for j in self]

    def _map(self, what: str, work: Callable[[Job], T], wrap: Callable[[list[T]], Any] = list) -> list[T]:
        """``work(job)`` for every job in parallel, in job order; ``ClusterError`` naming each failure and why,
        carrying ``wrap`` of the others' results."""
        from cloudorm.compute.fanout import causes_text, spread  # (fanout starts jobs: it imports this module)

        pairs = list(zip(self._labels(), self, strict=True))
        done, errors = spread(pairs, lambda p: work(p[1]), self.max_parallel, "jobs", key=lambda p: p[0])
        if errors:
            raise ClusterError(f"{what} failed for {len(errors)} of {len(self)} job(s): {causes_text(errors)}",
                               causes=errors, results=wrap([done[label] for label, _ in pairs if label in done]))
        return [done[label] for label, _ in pairs]

    def status(self) -> list[str]:
        """Every job's state now, in job order."""
        return self._map("status", Job.status)

    def running(self) -> bool:
        """True while any job has not ended."""
        return any(state in ACTIVE for state in self.status())

    def wait(self, timeout: float | None = None, check: bool | None = None) -> CommandResults:
        """Wait until every job ended (within ``timeout`` s in all); their ``CommandResults``, as ``cluster.run``
        gives. A job still running then, or lost, is a cause of ``ClusterError`` (whose ``results`` hold the
        others'); ``check`` (default: the ``run`` call's): ``CommandFailed`` carrying every non-zero exit."""
        seconds = None if timeout is None else check_seconds("timeout", timeout, zero=True)
        check = any(j.check for j in self) if check is None else check_flag("check", check)
        deadline = None if seconds is None else time.monotonic() + seconds

        def one_job(job: Job) -> CommandResult:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            return job.wait(left, check=False)

        results = CommandResults(self._map("waiting", one_job, CommandResults))
        return results.check() if check else results

    def logs(self, tail: int | None = None) -> list[JobLogs]:
        """What every job wrote so far, in job order."""
        lines = check_tail(tail)
        return self._map("reading logs", lambda j: j.logs(lines))

    def stop(self, signal: str | int = "TERM", grace: float = 10.0) -> CommandResults:
        """Stop every job (``Job.stop``) in parallel; their ``CommandResults``."""
        name = check_signal(signal)
        seconds = check_seconds("grace", grace, zero=True)
        return CommandResults(self._map("stopping", lambda j: j.stop(name, seconds), CommandResults))

    def forget(self) -> None:
        """Remove every job's files (``Job.forget``; a running one: a ``ConflictError`` cause)."""
        self._map("forgetting", Job.forget)

    def _error(self, failed: list[Job]) -> CloudError:
        """``ClusterError`` naming each job known to have failed."""
        causes: dict[str, BaseException] = {
            label: CloudError(f"job {j.id!r} {j.state}" + (f" with exit code {j.exit_code}" if j.exit_code else ""))
            for label, j in zip(self._labels(), self, strict=True) if not j.ok}
        return ClusterError(self._summary(failed), causes, self)


__all__ = ["JOB_ID", "SIGNALS", "Job", "JobLogs", "Jobs", "check_job_id", "check_signal", "check_tail", "find",
           "listed", "new_id", "start"]
