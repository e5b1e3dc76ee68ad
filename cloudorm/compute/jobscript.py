"""The one shell script behind every job operation, on every transport (SSH nodes and the local cloud's working
directories alike), and the parsing of what it prints.

A job lives in ``~/.cloudorm/jobs/<id>/`` on its node: ``created`` (when the directory was made), ``job.json`` (what
the client asked: command, timeout), ``command`` (the shell text run), ``run.sh`` (the runner), ``pid`` (the job's
process group, its runner, when it started, the boot it started in), ``stdout``, ``stderr``, and ``exit`` (the exit
code and when it ended, written atomically by the runner, also when the job is killed). ``stopped`` and ``timedout``
mark how it ended. Making the directory is the lock: a start re-sent with the same id never starts a second process.

The runner runs detached (``setsid``, its own session, stdin/stdout/stderr away from the connection), so a job survives
the connection closing; the command runs in a session of its own too, so ``stop`` signals its whole process group
(children included) while the runner lives on to record how it ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import attrs

from cloudorm.compute.bootstrap import HOME_DIR
from cloudorm.compute.shell import command, quote
from cloudorm.errors import CloudError

JOBS_DIR = f"{HOME_DIR}/jobs"
"""Where a node keeps its jobs (relative to its home): one directory per job id."""

STATES = ("starting", "running", "exited", "stopped", "timed_out", "lost")
"""What a job can be: ``starting`` (its directory is made, its process not yet), ``running``, ``exited`` (on its
own), ``stopped`` (by ``stop()``), ``timed_out`` (stopped at its ``timeout``), ``lost`` (it ended without an exit
code: the node rebooted, or its runner was killed)."""

ACTIVE = ("starting", "running")
"""The states of a job that has not ended."""

KILL_AFTER = 5
"""Seconds between the TERM and the KILL a job that outlived its ``timeout`` gets."""

_RUNNER = r"""d=$1
boot=-
[ -r /proc/sys/kernel/random/boot_id ] && read -r boot </proc/sys/kernel/random/boot_id
now() { t=$(date +%s.%N 2>/dev/null); case $t in *N*|'') date +%s ;; *) echo "$t" ;; esac; }
finish() { printf '%s %s\n' "$1" "$(now)" >"$d/exit.tmp" && mv -f "$d/exit.tmp" "$d/exit"; }
if [ -f "$d/stopped" ]; then finish 143; exit 0; fi
wd=
if [ -n "$2" ]; then
  setsid sh -c 'while [ ! -f "$3/pid" ]; do sleep 0.01 2>/dev/null || sleep 1; done; read -r p x <"$3/pid"
    sleep "$1" 2>/dev/null || sleep "$2"; [ -f "$3/exit" ] && exit 0; : >"$3/timedout"
    kill -s TERM -- "-$p" 2>/dev/null; sleep "$4"; kill -s KILL -- "-$p" 2>/dev/null' \
    sh "$2" "$3" "$d" "$4" </dev/null >/dev/null 2>&1 &
  wd=$!
  echo "$wd" >"$d/watchdog"
fi
setsid sh -c 'printf "%s %s %s %s\n" "$$" "$2" "$3" "$4" >"$1/pid.tmp" && mv -f "$1/pid.tmp" "$1/pid"
  exec "${SHELL:-/bin/sh}" "$1/command"' sh "$d" "$$" "$(now)" "$boot" </dev/null >"$d/stdout" 2>"$d/stderr"
code=$?
if [ -n "$wd" ]; then kill -s KILL -- "-$wd" 2>/dev/null; fi
finish "$code"
"""
"""The runner (``run.sh`` in the job's directory; ``sh run.sh DIR [TIMEOUT CEIL KILL_AFTER]``): runs the command in
the foreground (so no signal is ignored on its behalf) in a session of its own, which records its pid; stops it at its
timeout; and writes the exit code when it ends."""

_SCRIPT = r"""umask 077
root="$HOME/.cloudorm/jobs"
boot=-
[ -r /proc/sys/kernel/random/boot_id ] && read -r boot </proc/sys/kernel/random/boot_id
per=
probe() {
  [ -n "$per" ] && return 0
  if sleep 0.001 2>/dev/null; then per=10; blinks=500; t=0.1; b=0.01; else per=1; blinks=5; t=1; b=1; fi
}
tick() { sleep "$t"; }
blink() { sleep "$b"; }
now() { t=$(date +%s.%N 2>/dev/null); case $t in *N*|'') date +%s ;; *) echo "$t" ;; esac; }
alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  read -r s <"/proc/$1/stat" 2>/dev/null || return 1
  case ${s##*) } in Z*|X*) return 1 ;; esac
}
look() {
  st=starting; code=-; created=-; started=-; finished=-; pid=; runner=; pboot=
  [ -f "$1/created" ] && read -r created <"$1/created"
  [ -f "$1/pid" ] && read -r pid runner started pboot <"$1/pid"
  if [ -f "$1/exit" ]; then
    read -r code finished <"$1/exit"
    if [ -f "$1/timedout" ]; then st=timed_out; elif [ -f "$1/stopped" ]; then st=stopped; else st=exited; fi
  elif [ -n "$pid" ]; then
    if [ "$pboot" = "$boot" ] && { alive "$runner" || alive "$pid"; }; then st=running
    elif [ -f "$1/exit" ]; then look "$1"
    else st=lost; fi
  else
    c=${created%%.*}
    case $c in ''|-|*[!0-9]*) ;; *) [ $(( $(date +%s) - c )) -gt 60 ] && st=lost ;; esac
  fi
}
header() {
  j='{}'
  [ -s "$2/job.json" ] && j=$(cat "$2/job.json")
  echo "@cloudorm-job $1 $st $code $created $started $finished $j"
}
logs() {
  if [ -n "$2" ]; then
    tail -n "$2" "$1/stdout" 2>/dev/null; tail -n "$2" "$1/stderr" >&2 2>/dev/null
  else
    cat "$1/stdout" 2>/dev/null; cat "$1/stderr" >&2 2>/dev/null
  fi
}
settle() {
  [ "$2" -gt 0 ] || return 0
  probe
  n=0
  while { [ "$st" = running ] || [ "$st" = starting ]; } && [ $n -lt $(( $2 * per / 10 )) ]; do
    tick; n=$((n+1)); look "$1"
  done
}
job() {
  d="$root/$1"
  [ -d "$d" ] || { echo "@cloudorm-none $1"; exit 0; }
  look "$d"
}
start() {
  d="$root/$1"
  mkdir -p "$root" || exit 3
  if mkdir "$d" 2>/dev/null; then
    now >"$d/created"
    printf '%s\n' "$4" >"$d/job.json.tmp" && mv -f "$d/job.json.tmp" "$d/job.json"
    printf '%s\n' "$5" >"$d/command"
    printf '%s\n' "$6" >"$d/run.sh"
    if command -v setsid >/dev/null 2>&1; then
      setsid setsid sh "$d/run.sh" "$d" "$2" "$3" "$7" </dev/null >/dev/null 2>&1
    else
      : >"$d/stdout"
      echo "cloudorm: this node has no setsid (util-linux), which jobs need" >"$d/stderr"
      printf '127 %s\n' "$(now)" >"$d/exit"
    fi
    n=0
    probe
    while [ ! -f "$d/pid" ] && [ ! -f "$d/exit" ] && [ $n -lt $blinks ]; do blink; n=$((n+1)); done
    echo "@cloudorm-start new"
  else
    [ -d "$d" ] || exit 3
    echo "@cloudorm-start existing"
  fi
  look "$d"
  header "$1" "$d"
}
report() {
  job "$1"
  settle "$d" "$2"
  header "$1" "$d"
  case $3 in
    all) logs "$d" "$4" ;;
    done) case $st in running|starting) ;; *) logs "$d" "$4" ;; esac ;;
  esac
}
stop() {
  job "$1"
  probe
  n=0
  while [ "$st" = starting ] && [ $n -lt $(( 50 * per / 10 )) ]; do tick; n=$((n+1)); look "$d"; done
  if [ "$st" = running ] || [ "$st" = starting ]; then
    : >"$d/stopped"
    if [ -n "$pid" ]; then
      kill -s "$2" -- "-$pid" 2>/dev/null
      n=0
      while [ ! -f "$d/exit" ] && [ $n -lt $(( $3 * blinks / 50 )) ]; do blink; n=$((n+1)); done
      if [ ! -f "$d/exit" ]; then
        kill -s KILL -- "-$pid" 2>/dev/null
        n=0
        while [ ! -f "$d/exit" ] && [ $n -lt $blinks ]; do
          blink; n=$((n+1)); look "$d"; [ "$st" = lost ] && break
        done
      fi
    fi
    look "$d"
  fi
  header "$1" "$d"
  logs "$d" ""
}
forget() {
  job "$1"
  header "$1" "$d"
  case $st in running|starting) ;; *) rm -rf "$d" ;; esac
}
list() {
  [ -d "$root" ] || exit 0
  for d in "$root"/*/; do
    [ -d "$d" ] || continue
    d=${d%/}
    look "$d"
    case $1 in
      finished) case $st in running|starting) continue ;; esac; header "${d##*/}" "$d"; rm -rf "$d" ;;
      *) header "${d##*/}" "$d" ;;
    esac
  done
}
action=$1
shift
case $action in
  start|report|stop|forget|list) "$action" "$@" ;;
  *) echo "cloudorm jobs: unknown action $action" >&2; exit 2 ;;
esac
"""
"""The job operations, one shell script: ``sh -c SCRIPT sh ACTION ARGS...``. Every answer starts with
``@cloudorm-`` lines; a job's output follows its header on stdout, its stderr on stderr."""


def line(action: str, *args: str) -> str:
    """The shell line that runs ``action`` of the job script with ``args`` (each quoted)."""
    return f"sh -c {quote(_SCRIPT)} sh {command(action, *args)}"


def start_line(job_id: str, meta: dict[str, Any], script: str, timeout: float | None) -> str:
    """The line that starts job ``job_id`` running ``script`` (once: a second send finds the first)."""
    seconds = "" if timeout is None else f"{timeout:.3f}".rstrip("0").rstrip(".")
    ceiling = "" if timeout is None else str(int(-(-timeout // 1)))
    return line("start", job_id, seconds, ceiling, json.dumps(meta, sort_keys=True), script, _RUNNER,
                str(KILL_AFTER))


@attrs.frozen
class Report:
    """What the script says of one job: its id, state, exit code, times (the node's clock) and what was asked."""

    id: str
    state: str
    exit_code: int | None
    created: float | None
    started: float | None
    finished: float | None
    meta: dict[str, Any]


def _number(text: str) -> float | None:
    try:
        return None if text == "-" else float(text)
    except ValueError:
        return None


def _report(header: str) -> Report:
    """The ``Report`` of one ``@cloudorm-job`` line."""
    parts = header.split(" ", 7)
    if len(parts) != 8 or parts[2] not in STATES:
        raise CloudError(f"the node's answer about a job is garbled: {header[:200]!r}")
    try:
        meta = json.loads(parts[7])
    except ValueError:
        meta = {}
    code = None if parts[3] == "-" else int(parts[3]) if parts[3].lstrip("-").isdigit() else None
    return Report(parts[1], parts[2], code, _number(parts[4]), _number(parts[5]), _number(parts[6]),
                  meta if isinstance(meta, dict) else {})


def reports(out: str) -> list[Report]:
    """Every job header in ``out`` (``list``), in order."""
    return [_report(ln) for ln in out.splitlines() if ln.startswith("@cloudorm-job ")]


def one(out: str) -> tuple[Report | None, str, str | None]:
    """``(report, the job's stdout after its header, the @cloudorm-start word)``; report None when the node has no
    such job."""
    started = None
    at = 0
    while at <= len(out):
        end = out.find("\n", at)
        end = len(out) if end < 0 else end
        text = out[at:end]
        if text.startswith("@cloudorm-start "):
            started = text.split(" ", 1)[1]
        elif text.startswith("@cloudorm-none "):
            return None, "", started
        elif text.startswith("@cloudorm-job "):
            return _report(text), out[end + 1:], started
        at = end + 1
    raise CloudError(f"the node did not answer about the job as cloudorm's job script does: {out[-300:]!r}")


def kill_jobs(home: Path) -> None:
    """Kill every job still running in a node's directory on this machine (the local cloud deleting the node: as a
    droplet's processes end with it). Runner first, so nothing records an exit for a node that is gone."""
    for pid_file in (home / JOBS_DIR).glob("*/pid"):
        directory = pid_file.parent
        if (directory / "exit").exists():
            continue
        try:
            fields = pid_file.read_text().split()
            groups = [int(fields[1]), int(fields[0])]
            with contextlib.suppress(FileNotFoundError, ValueError):
                groups.append(int((directory / "watchdog").read_text()))
        except (OSError, ValueError, IndexError):
            continue
        for group in groups:
            if group > 1 and group != os.getpgrp():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)


__all__ = ["ACTIVE", "JOBS_DIR", "KILL_AFTER", "STATES", "Report", "kill_jobs", "line", "one", "reports",
           "start_line"]
