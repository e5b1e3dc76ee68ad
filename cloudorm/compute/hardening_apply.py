"""Applying hardening to nodes: probe the node, render its files (``compute.hardening_render``), stage them in the
login's home and run the apply script (``compute.hardening_script``) as root, in two runs.

The first run (as the node's login: root, or a user with passwordless sudo) makes the admin user, its sudoers file
and its authorized key. cloudorm then records the admin as the node's login (``cluster.json``), opens a new
connection as the admin and checks ``sudo -n true``: only when that works does the second run (as the admin) write
sysctl, the firewall, fail2ban and, last, the sshd settings that refuse root logins. If the admin cannot log in,
the login goes back to what it was and nothing else is changed.

Applying twice changes nothing the second time: every file is compared with the installed one first, and only
what changed is installed and reloaded.
"""

from __future__ import annotations

import ipaddress
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cloudorm.compute.fanout import describe
from cloudorm.compute.hardening import Hardening, HardeningReport
from cloudorm.compute.hardening_render import PROBE, Context, NodeFacts, Stage, admin_stage, system_stage
from cloudorm.compute.shell import CommandResult, failure_message
from cloudorm.errors import AccessDenied, CloudError, CommandFailed, InvalidInput, Unsupported
from cloudorm.results import Results

if TYPE_CHECKING:
    from cloudorm.compute.cluster import Cluster
    from cloudorm.compute.node import Node

STAGE_DIR = ".cloudorm/hardening"
"""Where the files are staged on a node (relative to the login's home); removed after each run."""


class HardeningResults(Results[HardeningReport]):
    """One ``HardeningReport`` per node hardened, in node order (``cloudorm.results.Results``); a node that failed
    has none: ``cluster.harden()`` raises ``ClusterError`` naming it, with these as its ``results``."""

    what = "nodes"


def check_supported(cluster: Cluster) -> None:
    """``Unsupported`` (before any request) where nodes are directories on this machine (the local cloud)."""
    service = cluster.session.compute
    if service.capabilities.local_nodes:
        raise Unsupported(cluster.session.provider, "compute.harden",
                          "its nodes are directories on this machine: hardening them would change this machine's "
                          "sshd, firewall, users and sysctl settings", operation="harden")


def context(cluster: Cluster) -> Context:
    """The cluster around its nodes: their addresses, who may reach SSH, the login key."""
    peers = sorted({a for n in cluster.nodes for a in (n.address, n.private_address) if a})
    ssh_from = tuple(cluster.allow_ssh_from) if cluster.allow_ssh_from is not None else None
    return Context(cluster.name, tuple(peers), ssh_from, cluster.key.public_key)


def _remaining(deadline: float) -> float:
    return max(1.0, deadline - time.monotonic())


def _check(result: CommandResult, what: str) -> CommandResult:
    if not result.ok:
        lines = [line for line in result.stderr.splitlines() if line.startswith("cloudorm-harden: ")]
        why = lines[-1][len("cloudorm-harden: "):] if lines else failure_message([result])
        raise CommandFailed(f"hardening {result.node.name} ({what}): {why}", failures=[result])
    return result


def probe(node: Node, hardening: Hardening, deadline: float) -> NodeFacts:
    """What the node is like. A node whose login is refused is tried as the admin once (hardened from another
    machine: its login is recorded here from then on)."""
    files = node.cluster._files
    node_id = str(node.id)
    try:
        return NodeFacts.parse(_check(node.run(PROBE, timeout=_remaining(deadline)), "probe").stdout)
    except AccessDenied as refused:
        before = files.logins().get(node_id)
        if before == hardening.admin_user:
            raise
        files.set_login(node_id, hardening.admin_user)
        node.close()
        try:
            return NodeFacts.parse(_check(node.run(PROBE, timeout=_remaining(deadline)), "probe").stdout)
        except Exception as e:
            files.set_login(node_id, before)
            node.close()
            raise AccessDenied(f"{refused.message}; as the admin {hardening.admin_user!r}: {describe(e)}") from e


def run_stage(node: Node, stage: Stage, facts: NodeFacts, what: str, deadline: float) -> list[str]:
    """Stage ``stage``'s files on the node and run the apply script as root; its report lines."""
    node.run(f'rm -rf "$HOME/{STAGE_DIR}" && mkdir -p -m 700 "$HOME/{STAGE_DIR}"', check=True,
             timeout=_remaining(deadline))
    with tempfile.TemporaryDirectory(prefix="cloudorm-hardening-") as tmp:
        for name, text in stage.contents().items():
            path = Path(tmp, name)
            path.write_text(text)
            node.put(path, f"{STAGE_DIR}/{name}")
    sudo = "" if facts.user == "root" else "sudo -n "
    command = (f'{sudo}sh "$HOME/{STAGE_DIR}/apply.sh" "$HOME/{STAGE_DIR}"; code=$?; '
               f'rm -rf "$HOME/{STAGE_DIR}"; exit $code')
    result = _check(node.run(command, timeout=_remaining(deadline)), what)
    return result.stdout.splitlines()


def switch_login(node: Node, admin: str, deadline: float) -> None:
    """From now on reach the node as ``admin``: recorded, then proved by a new connection that runs ``sudo -n
    true``; if that fails the login goes back to what it was (``CloudError``)."""
    files = node.cluster._files
    node_id = str(node.id)
    before = files.logins().get(node_id)
    files.set_login(node_id, admin)
    node.close()
    try:
        node.run("sudo -n true", check=True, timeout=_remaining(deadline))
    except Exception as e:
        files.set_login(node_id, before)
        node.close()
        raise CloudError(f"hardening {node.name}: the admin user {admin!r} was set up but cannot log in and use sudo "
                         f"({describe(e)}); the login {before or 'used so far'} and the rest were left as they "
                         "were") from e


def check_reachable(cluster: Cluster, node: Node, facts: NodeFacts, hardening: Hardening) -> None:
    """``InvalidInput("allow_ssh_from")`` when the node firewall would keep this machine out of SSH."""
    if not hardening.firewall or cluster.allow_ssh_from is None or not facts.client:
        return
    try:
        client = ipaddress.ip_address(facts.client.split("%")[0])
    except ValueError:
        return
    if not any(client in ipaddress.ip_network(c) for c in cluster.allow_ssh_from):
        raise InvalidInput("allow_ssh_from", f"{node.name} sees cloudorm's connection come from {client}, which "
                                             f"none of {list(cluster.allow_ssh_from)} includes: its firewall would "
                                             "lock this machine out; add this address to allow_ssh_from")


def report(node: Node, lines: Sequence[str], previous: str) -> HardeningReport:
    """The report of the apply script's lines."""
    changed: list[str] = []
    reloaded: list[str] = []
    packages: list[str] = []
    created = False
    for line in lines:
        kind, _, rest = line.strip().partition(" ")
        if kind == "changed":
            changed.append(rest)
        elif kind in ("reloaded", "started", "enabled"):
            reloaded.append(rest if kind == "reloaded" else f"{rest} ({kind})")
        elif kind == "package":
            packages.append(rest)
        elif kind == "user":
            created = True
        elif kind == "group":
            changed.append(f"group {rest}")
    return HardeningReport(node, str(node.login_user), previous, tuple(changed), tuple(reloaded), created,
                           tuple(packages))


def harden_node(node: Node, hardening: Hardening, deadline: float | None = None,
                rebootstrap: bool = False) -> HardeningReport:
    """Harden one node (see the module's docstring); its report. ``CommandFailed`` names the file and the tool
    that refused it (nothing of that run installed); ``CloudError`` when the admin cannot log in. With
    ``rebootstrap``, a node whose login changed gets the cluster's bootstrap again (uploads, venv, requirements and
    environment file, not the setup commands) in the admin's home, so commands find them."""
    cluster = node.cluster
    check_supported(cluster)
    node._made()
    deadline = time.monotonic() + cluster.boot_timeout if deadline is None else deadline
    ctx = context(cluster)
    facts = probe(node, hardening, deadline)
    if not facts.admin:
        raise CloudError(f"hardening {node.name}: its login {facts.user!r} is neither root nor allowed passwordless "
                         "sudo; give the cluster user= a login that is")
    check_reachable(cluster, node, facts, hardening)
    previous = facts.user
    lines = run_stage(node, admin_stage(hardening, ctx), facts, "admin user", deadline)
    if facts.user != hardening.admin_user:
        switch_login(node, hardening.admin_user, deadline)
        facts = NodeFacts.parse(_check(node.run(PROBE, timeout=_remaining(deadline)), "probe").stdout)
    lines += run_stage(node, system_stage(hardening, facts, ctx), facts, "system", deadline)
    node.close()  # sshd may have been reloaded: a new connection proves the admin still gets in
    node.run("sudo -n true", check=True, timeout=_remaining(deadline))
    if rebootstrap and previous != hardening.admin_user:
        cluster.bootstrap.apply(node, cluster.name, deadline=deadline, setup=False)
    return report(node, lines, previous)


def harden_nodes(cluster: Cluster, hardening: Hardening, nodes: object = None) -> HardeningResults:
    """Harden ``nodes`` (None: all) in parallel; their reports, or ``ClusterError`` naming each node that failed
    and why (its ``results``: the others' reports)."""
    check_supported(cluster)
    targets = cluster._targets(nodes)
    deadline = time.monotonic() + cluster.boot_timeout
    done, errors = cluster._each(targets, lambda node: harden_node(node, hardening, deadline, rebootstrap=True))
    out = HardeningResults(done[n.name] for n in targets if n.name in done)
    cluster._raise("hardening", errors, out)
    return out


__all__ = ["STAGE_DIR", "HardeningResults", "check_supported", "context", "harden_node",
           "harden_nodes", "probe", "report", "run_stage", "switch_login"]
