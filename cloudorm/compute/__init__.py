"""Compute: a ``Cluster`` of identical ``Node`` servers (DigitalOcean droplets, EC2 instances or local working
directories) created from a tag, bootstrapped and driven in parallel over SSH; ``KeyPair`` for their keys."""

from cloudorm.compute.cluster import Cluster
from cloudorm.compute.keys import KeyPair
from cloudorm.compute.node import Node
from cloudorm.compute.shell import CommandResult, CommandResults

__all__ = ["Cluster", "CommandResult", "CommandResults", "KeyPair", "Node"]
