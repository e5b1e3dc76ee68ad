"""Compute: a ``Cluster`` of identical ``Node`` servers (DigitalOcean droplets, EC2 instances or local working
directories) created from a tag, bootstrapped and driven in parallel over SSH; ``KeyPair`` for their keys, ``SshKey``
for a key registered on the account; ``Job`` and ``Jobs`` for commands started with ``run(..., wait=False)``;
``Hardening`` for locked-down nodes; ``Dask`` for clusters that run Dask (``cluster.dask()``)."""

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
