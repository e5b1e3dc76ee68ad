"""Compute: a ``Cluster`` of identical ``Node`` servers (DigitalOcean droplets, EC2 instances or local working
directories) created from a tag, bootstrapped and driven in parallel over SSH; ``KeyPair`` for their keys, ``SshKey``
for a key registered on the account; ``Job`` and ``Jobs`` for commands started with ``run(..., wait=False)``;
``Hardening`` for locked-down nodes; ``Dask`` for clusters that run Dask (``cluster.dask()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when first used (``__getattr__``): importing the package loads none of them
    from cloudorm.compute.cluster import Cluster
    from cloudorm.compute.dask_settings import Dask
    from cloudorm.compute.hardening import Hardening, HardeningReport, Jail
    from cloudorm.compute.jobs import Job, JobLogs, Jobs
    from cloudorm.compute.keys import KeyPair
    from cloudorm.compute.node import Node
    from cloudorm.compute.shell import CommandResult, CommandResults
    from cloudorm.compute.sshkeys import SshKey


__all__ = ["Cluster", "CommandResult", "CommandResults", "Dask", "Hardening", "HardeningReport", "Jail", "Job",
           "JobLogs", "Jobs", "KeyPair", "Node", "SshKey"]

_HOMES = {
    "cloudorm.compute.cluster": ("Cluster",),
    "cloudorm.compute.dask_settings": ("Dask",),
    "cloudorm.compute.hardening": ("Hardening", "HardeningReport", "Jail"),
    "cloudorm.compute.jobs": ("Job", "JobLogs", "Jobs"),
    "cloudorm.compute.keys": ("KeyPair",),
    "cloudorm.compute.node": ("Node",),
    "cloudorm.compute.shell": ("CommandResult", "CommandResults"),
    "cloudorm.compute.sshkeys": ("SshKey",),
}
"""Where each public name is defined: imported from there when first used (``cloudorm.lazy``)."""

if not TYPE_CHECKING:  # type checkers see the imports above
    from cloudorm.lazy import lazy_names

    __getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)
    del lazy_names
