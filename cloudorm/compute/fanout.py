"""Fan-out: work run on many nodes at once (``max_parallel`` at a time), with one result or one cause per node;
``run`` (and its jobs), ``put_file`` and ``get_file`` of a cluster are written here."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from cloudorm.checks import check_flag
from cloudorm.compute.jobs import Jobs, check_job_id, listed, new_id, start
from cloudorm.compute.node import (
    Node,
    check_command,
    check_environment,
    check_local_file,
    check_remote,
    check_timeout,
)
from cloudorm.compute.shell import CommandResults
from cloudorm.errors import ClusterError, InvalidInput

if TYPE_CHECKING:
    from cloudorm.storage.transfer import Progress

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
K = TypeVar("K", bound=Hashable)


def describe(error: BaseException) -> str:
    """One line saying what ``error`` was (its type and the start of its message)."""
    text = str(error).strip().replace("\n", " ")
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def each(nodes: Sequence[Node], work: Callable[[Node], T], max_parallel: int, label: str,
         bar: Progress | None = None) -> tuple[dict[str, T], dict[str, BaseException]]:
    """``work(node)`` on every node, at most ``max_parallel`` at a time: (results, errors) by node name."""
    return spread(nodes, work, max_parallel, label, bar, key=lambda node: node.name)


def spread(items: Sequence[I], work: Callable[[I], T], max_parallel: int, label: str, bar: Progress | None = None,
           *, key: Callable[[I], K]) -> tuple[dict[K, T], dict[K, BaseException]]:
    """``work(item)`` on every item, at most ``max_parallel`` at a time: (results, errors) by ``key(item)``."""
    results: dict[K, T] = {}
    errors: dict[K, BaseException] = {}
    if not items:
        return results, errors
    pool = ThreadPoolExecutor(max_workers=min(max_parallel, len(items)), thread_name_prefix=f"cloudorm-{label}")
    interrupted = True
    try:
        futures = {pool.submit(work, item): item for item in items}
        for future in as_completed(futures):
            item = futures[future]
            error = future.exception()
            if error is None:
                results[key(item)] = future.result()
            else:
                errors[key(item)] = error
            if bar is not None:
                bar(1)
        interrupted = False
    finally:
        # on Ctrl-C: return at once (work not started is cancelled; running work ends at its own timeout)
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    return results, errors


def causes_text(causes: dict[str, BaseException]) -> str:
    """``name: cause; ...`` sorted by node name."""
    return "; ".join(f"{name}: {describe(e)}" for name, e in sorted(causes.items()))


def in_order(nodes: Iterable[Node]) -> list[Node]:
    """Nodes sorted by number (others after them, by name)."""
    return sorted(nodes, key=lambda n: (n.number is None, n.number or 0, n.name))


def select(nodes: list[Node], refs: Any, field: str, cluster: str) -> list[Node]:
    """Nodes of ``nodes`` from Node objects, names, ids or indexes (None: every node)."""
    if refs is None:
        return nodes
    if isinstance(refs, (Node, str, int)):
        refs = [refs]
    if not isinstance(refs, Iterable):
        raise InvalidInput(field, f"must be nodes, names or indexes, not {type(refs).__name__}")
    out: list[Node] = []
    for ref in refs:
        if isinstance(ref, Node):
            found = next((n for n in nodes if n.id == ref.id), None)
        elif isinstance(ref, str):
            found = next((n for n in nodes if ref in (n.name, n.id)), None)
        elif isinstance(ref, int) and not isinstance(ref, bool):
            found = nodes[ref] if -len(nodes) <= ref < len(nodes) else None
        else:
            raise InvalidInput(field, f"a node is given as a Node, a name or an index, not {ref!r}")
        if found is None:
            raise InvalidInput(field, f"cluster {cluster!r} has no node {ref!r} (nodes: "
                                      f"{', '.join(n.name for n in nodes) or 'none'})")
        if not any(found is n for n in out):
            out.append(found)
    return out


class FanOut:
    """``run``, ``jobs``, ``put_file`` and ``get_file`` over a cluster's nodes, in parallel."""

    name: str
    max_parallel: int

    def _targets(self, nodes: Any, field: str = "nodes") -> list[Node]:
        """The nodes asked for, once it is sure they can be reached (a login key where one is needed)."""
        raise NotImplementedError

    def _each(self, nodes: Sequence[Node], work: Callable[[Node], T],
              bar: Progress | None = None) -> tuple[dict[str, T], dict[str, BaseException]]:
        return each(nodes, work, self.max_parallel, self.name, bar)

    def _raise(self, what: str, errors: dict[str, BaseException], results: Any = None) -> None:
        """``ClusterError`` naming each node of ``errors`` and why, carrying the other nodes' ``results``."""
        if errors:
            raise ClusterError(f"cluster {self.name!r}: {what} failed on {len(errors)} node(s): "
                               f"{causes_text(errors)}", causes=errors, results=results)

    @overload
    def run(self, cmd: str, nodes: Any = None, timeout: float | None = None, check: bool = False,
            environment: dict[str, str] | None = None, *, wait: Literal[True] = True,
            job_id: None = None) -> CommandResults: ...

    @overload
    def run(self, cmd: str, nodes: Any = None, timeout: float | None = None, check: bool = False,
            environment: dict[str, str] | None = None, *, wait: Literal[False], job_id: str | None = None) -> Jobs: ...

    @overload
    def run(self, cmd: str, nodes: Any = None, timeout: float | None = None, check: bool = False,
            environment: dict[str, str] | None = None, *, wait: bool,
            job_id: str | None = None) -> CommandResults | Jobs: ...

    def run(self, cmd: str, nodes: Any = None, timeout: float | None = None, check: bool = False,
            environment: dict[str, str] | None = None, *, wait: bool = True,
            job_id: str | None = None) -> CommandResults | Jobs:
        """Run ``cmd`` on every node (or ``nodes``: Node objects, names or indexes) in parallel; one result per node
        in node order (a non-zero exit is a result, not an error). ``check=True``: ``CommandFailed`` carrying every
        failure. A node where the command could not run at all (unreachable, host key refused) has no result:
        ``ClusterError`` whose ``causes`` say why per node and whose ``results`` are the other nodes' results
        (raised before ``check``).

        ``wait=False`` starts it as a job on every node (one ``job_id`` for all, default a new one) and returns their
        ``Jobs`` at once (``Node.run``); a node where it could not start: ``ClusterError`` carrying the others'."""
        cmd = check_command(cmd)
        check = check_flag("check", check)
        seconds = check_timeout(timeout)
        env = check_environment(environment)
        if not check_flag("wait", wait):
            job = new_id() if job_id is None else check_job_id(job_id)
            targets = self._targets(nodes)
            started, errors = self._each(targets, lambda node: start(node, cmd, seconds, check, env, job))
            jobs = Jobs((started[n.name] for n in targets if n.name in started), self.max_parallel)
            self._raise(f"starting {cmd!r}", errors, jobs)
            return jobs
        if job_id is not None:
            raise InvalidInput("job_id", "names a job: give it with wait=False")
        targets = self._targets(nodes)
        results, errors = self._each(targets, lambda node: node.run(cmd, seconds, environment=env))
        out = CommandResults(results[n.name] for n in targets if n.name in results)
        self._raise(f"running {cmd!r}", errors, out)
        return out.check() if check else out

    def jobs(self, job_id: str | None = None, nodes: Any = None) -> Jobs:
        """The jobs of every node (or ``nodes``), running and ended, in node order then oldest first (``job_id``:
        only that job, one per node that has it: what ``run(wait=False, job_id=...)`` started), from any process."""
        wanted = None if job_id is None else check_job_id(job_id)
        targets = self._targets(nodes)
        found, errors = self._each(targets, listed)
        jobs = Jobs((j for n in targets for j in found.get(n.name, []) if wanted in (None, j.id)), self.max_parallel)
        self._raise("listing jobs", errors, jobs)
        return jobs

    def forget_jobs(self, nodes: Any = None) -> Jobs:
        """Remove the files of every ended job of every node (or ``nodes``); the jobs forgotten."""
        targets = self._targets(nodes)
        found, errors = self._each(targets, lambda node: listed(node, finished_only=True))
        jobs = Jobs((j for n in targets for j in found.get(n.name, [])), self.max_parallel)
        self._raise("forgetting jobs", errors, jobs)
        return jobs

    def put_file(self, path: str | os.PathLike[str], remote: str | None = None, nodes: Any = None) -> str:
        """Copy a local file to every node (or ``nodes``) in parallel; the remote path (default: the file's name
        in the login home)."""
        local = check_local_file(path, "path")
        target = local.name if remote is None else check_remote(remote)
        targets = self._targets(nodes)
        _, errors = self._each(targets, lambda node: node.put(local, target))
        self._raise(f"copying {str(local)!r}", errors)
        return target

    def get_file(self, remote: str, local_dir: str | os.PathLike[str], nodes: Any = None) -> dict[str, Path]:
        """Copy ``remote`` from every node (or ``nodes``) in parallel to ``local_dir/<node name>/<file name>``;
        the local paths by node name (a node that failed: ``ClusterError``, the others' paths as its ``results``)."""
        remote = check_remote(remote)
        if not PurePosixPath(remote).name or remote.endswith("/"):
            raise InvalidInput("remote", f"{remote!r} does not name a file")
        if not isinstance(local_dir, (str, os.PathLike)):
            raise InvalidInput("local_dir", f"must be a directory path, not {type(local_dir).__name__}")
        base = Path(local_dir).expanduser()
        targets = self._targets(nodes)

        def fetch(node: Node) -> Path:
            directory = base / node.name
            directory.mkdir(parents=True, exist_ok=True)
            return node.get(remote, directory)

        paths, errors = self._each(targets, fetch)
        self._raise(f"fetching {remote!r}", errors, paths)
        return {n.name: paths[n.name] for n in targets}
