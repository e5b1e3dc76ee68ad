"""The client side of a cluster's Dask: the ``distributed.Client`` connected through the cluster's tunnel, whose
``client.cluster`` says where the dashboard is (a local URL) and whose ``client.shutdown()`` stops the cluster's
scheduler and workers; the version check; retiring workers. The one module that imports ``distributed``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import html
import weakref
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, cast

from cloudorm.compute.dask_settings import PINNED, python_version
from cloudorm.errors import CloudError, ConflictError, InvalidInput, Timeout

if TYPE_CHECKING:
    from distributed import Client


class ClusterHandle:
    """What ``client.cluster`` is for a cloudorm cluster (Dask's "cluster-compatible object"): the scheduler's
    address as the client reaches it, the dashboard's local URL, and ``close()`` stopping Dask on the nodes."""

    def __init__(self, name: str, scheduler_address: str, dashboard_link: str,
                 stop: Callable[[], None]) -> None:
        from distributed.core import Status

        self.name = name
        """The cloudorm cluster's name."""
        self.scheduler_address = scheduler_address
        """``tcp://127.0.0.1:<port>``: the tunnel's end (the scheduler's own address where it is exposed)."""
        self.dashboard_link = dashboard_link
        """The dashboard as this machine reaches it."""
        self.status = Status.running
        self._stop = stop

    def __repr__(self) -> str:
        return f"CloudormDask({self.name!r}, scheduler={self.scheduler_address!r}, dashboard={self.dashboard_link!r})"

    def _repr_html_(self) -> str:
        name, address, link = (html.escape(v) for v in (self.name, self.scheduler_address, self.dashboard_link))
        return f"<div>cloudorm cluster <b>{name}</b>: scheduler {address}, dashboard <a href='{link}'>{link}</a></div>"

    def __await__(self) -> Generator[Any, None, ClusterHandle]:
        async def started() -> ClusterHandle:
            return self

        return started().__await__()

    async def close(self) -> None:
        """``client.shutdown()``: stop the scheduler and the workers on the nodes (the nodes stay)."""
        from distributed.core import Status

        self.status = Status.closing
        await asyncio.get_running_loop().run_in_executor(None, self._stop)
        self.status = Status.closed


def check_installed() -> None:
    """``InvalidInput("engine")`` unless ``distributed`` can be imported here."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InvalidInput("engine", "Dask on a cluster needs the distributed package where the client runs: "
                                     "pip install 'cloudorm[dask]'") from None


def connect(handle: ClusterHandle, timeout: float) -> Client:
    """A ``distributed.Client`` of ``handle`` (never straight to the workers: they listen on private addresses);
    ``Timeout`` when the scheduler does not answer within ``timeout`` seconds."""
    from distributed import Client

    make: Any = Client  # (distributed is not typed throughout)
    try:
        client: Client = make(handle, timeout=timeout, direct_to_workers=False, set_as_default=True)
    except (OSError, asyncio.TimeoutError) as e:
        raise Timeout(f"the Dask scheduler of cluster {handle.name!r} did not answer at "
                      f"{handle.scheduler_address} within {timeout:g} s: {e}") from None
    # closed before what this process started at exit goes (the local cloud's nodes, the forwards): a client left
    # open would try to reconnect to them and log every attempt
    atexit.register(_close_at_exit, weakref.ref(client))
    return client


def _close_at_exit(ref: weakref.ref[Client]) -> None:
    client = ref()
    if client is not None and client.status == "running":
        with contextlib.suppress(Exception):
            close(client)


def check_versions(client: Client, cluster: str) -> None:
    """``ConflictError`` (the client closed) when the scheduler or a worker runs another version of a package Dask
    needs alike everywhere, or another Python; Dask's own table of the versions is in the message."""
    from distributed.versions import error_message

    versions: Any = client.get_versions()
    mine = versions["client"]["packages"]
    others = [versions["scheduler"], *versions["workers"].values()]
    wanted = [*PINNED, "python"]

    def differs(found: dict[str, Any]) -> bool:
        packages = found.get("packages") or {}
        if str(packages.get("python", "")).split(".")[:2] != python_version().split("."):
            return True
        return any(packages.get(name) != mine.get(name) for name in wanted if name != "python")

    if any(differs(other) for other in others):
        table = cast(Any, error_message)(versions["scheduler"], versions["workers"], versions["client"])["warning"]
        close(client)
        raise ConflictError(f"cluster {cluster!r} runs Dask at other versions than this client (Dask needs one "
                            f"version of {', '.join(wanted)} everywhere): cluster.stop_dask() and cluster.dask() "
                            f"from this client reinstall the client's versions on the nodes.\n{table}")


def close(client: Client) -> None:
    """Close ``client`` (its connection to the scheduler; the scheduler and workers run on)."""
    cast(Any, client).close()


def wait_for_workers(client: Client, count: int, timeout: float, cluster: str) -> None:
    """Return once ``count`` worker processes joined (``Timeout`` naming how many did after ``timeout`` s)."""
    try:
        client.wait_for_workers(count, timeout=timeout)
    except (asyncio.TimeoutError, TimeoutError) as e:
        joined = len(client.scheduler_info(n_workers=-1)["workers"])
        raise Timeout(f"cluster {cluster!r}: {joined} of {count} Dask worker process(es) joined within "
                      f"{timeout:g} s ({e})") from None


def worker_addresses(client: Client, nodes: Iterable[str]) -> list[str]:
    """The addresses of the worker processes that run on ``nodes`` (by name: ``web-2``, or ``web-2-0``,
    ``web-2-1`` for several processes)."""
    names = set(nodes)
    found = []
    for address, info in client.scheduler_info(n_workers=-1)["workers"].items():
        name = str(info.get("name", ""))
        base, _, index = name.rpartition("-")
        if name in names or (index.isdigit() and base in names):
            found.append(address)
    return found


def retire(client: Client, addresses: list[str], cluster: str) -> None:
    """Retire the workers at ``addresses`` gracefully: their results move to the other workers first, then they
    close (``CloudError`` when Dask could not)."""
    if not addresses:
        return
    try:
        client.retire_workers(workers=addresses, close_workers=True)
    except Exception as e:  # (Dask's own errors: the scheduler's answer, re-raised here)
        raise CloudError(f"cluster {cluster!r}: Dask could not retire the workers {addresses}: "
                         f"{type(e).__name__}: {e}") from e


__all__ = ["ClusterHandle", "check_installed", "check_versions", "close", "connect", "retire", "wait_for_workers",
           "worker_addresses"]
