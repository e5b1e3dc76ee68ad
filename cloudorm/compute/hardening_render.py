"""Rendering hardening: every file a hardened node gets, as text made here from a ``Hardening``, what the probe
found on the node (``NodeFacts``) and the cluster around it (``Context``); and the manifest the node's apply script
(``compute.hardening_script``) reads. Pure functions: no I/O, the same input gives the same bytes (so a second
application finds nothing changed).

The files: ``/etc/sudoers.d/cloudorm-ADMIN`` (the admin's NOPASSWD sudo), the admin's authorized key (merged into
its ``~/.ssh/authorized_keys``), ``/etc/sysctl.d/60-cloudorm-hardening.conf``, ``/etc/cloudorm/firewall.nft`` (the
nftables table ``inet cloudorm``, replaced as a whole; other tables such as Docker's or fail2ban's are left alone)
and its boot unit ``cloudorm-firewall.service``, ``/etc/fail2ban/jail.d/cloudorm.local`` and
``/etc/ssh/sshd_config.d/01-cloudorm-hardening.conf`` (first in the directory, so its settings win).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

import attrs

from cloudorm.compute.hardening import Hardening
from cloudorm.compute.hardening_script import SCRIPT

SSHD_FILE = "/etc/ssh/sshd_config.d/01-cloudorm-hardening.conf"
JAIL_FILE = "/etc/fail2ban/jail.d/cloudorm.local"
FIREWALL_FILE = "/etc/cloudorm/firewall.nft"
UNIT_FILE = "/etc/systemd/system/cloudorm-firewall.service"
SYSCTL_FILE = "/etc/sysctl.d/60-cloudorm-hardening.conf"
SUDOERS_DIR = "/etc/sudoers.d"

PROBE = r"""set -- ${SSH_CONNECTION:-}
echo "client=${1:-}"
echo "ssh_port=${4:-}"
echo "user=$(id -un)"
echo "uid=$(id -u)"
if [ "$(id -u)" = 0 ] || sudo -n true >/dev/null 2>&1; then echo admin=1; else echo admin=0; fi
if [ -d /run/systemd/system ]; then echo systemd=1; else echo systemd=0; fi
if [ -d /proc/sys/net/ipv6 ]; then echo ipv6=1; else echo ipv6=0; fi
if command -v apt-get >/dev/null 2>&1; then echo packages=apt
elif command -v dnf >/dev/null 2>&1; then echo packages=dnf
else echo packages=; fi
for log in /var/log/auth.log /var/log/secure; do
  if [ -f "$log" ]; then echo "sshd_log=$log"; break; fi
done
"""
"""Shell code run as the node's login that prints what rendering needs to know (``NodeFacts.parse`` reads it)."""


@attrs.frozen
class NodeFacts:
    """What a node is like, as far as its hardening files depend on it."""

    user: str
    """The login the probe ran as."""
    admin: bool
    """True when that login is root or has passwordless sudo."""
    ssh_port: int = 22
    """The port sshd answered cloudorm on (the firewall keeps it open)."""
    client: str | None = None
    """The address cloudorm's connection came from, as the node saw it."""
    systemd: bool = True
    """systemd runs the node (fail2ban reads sshd's journal; the firewall is loaded at boot by a unit)."""
    ipv6: bool = True
    """The kernel has IPv6 (its sysctl settings are written)."""
    packages: str | None = "apt"
    """The package manager: ``apt``, ``dnf`` or None."""
    sshd_log: str | None = None
    """Without systemd: the file sshd logs to (``/var/log/auth.log``), which fail2ban reads."""

    @classmethod
    def parse(cls, text: str) -> NodeFacts:
        """The facts ``PROBE`` printed."""
        seen = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        port = seen.get("ssh_port", "")
        return cls(user=seen.get("user", ""), admin=seen.get("admin") == "1",
                   ssh_port=int(port) if port.isdigit() and 0 < int(port) < 65536 else 22,
                   client=seen.get("client") or None, systemd=seen.get("systemd") == "1",
                   ipv6=seen.get("ipv6") == "1", packages=seen.get("packages") or None,
                   sshd_log=seen.get("sshd_log") or None)


@attrs.frozen
class Context:
    """The cluster around the node being hardened."""

    cluster: str
    """The cluster's name."""
    peers: tuple[str, ...]
    """The addresses of the cluster's nodes (public and private): their traffic is let in, never banned."""
    ssh_from: tuple[str, ...] | None
    """The cluster's ``allow_ssh_from`` (None: SSH from anywhere)."""
    public_key: str
    """The cluster's login key, which the admin user logs in with."""


@attrs.frozen
class NodeFile:
    """One file for the node: staged as ``name``, installed as ``target`` (root's, ``mode``) once ``check`` (the
    tool the apply script runs on it) accepts it; a change (re)loads ``action``."""

    name: str
    target: str
    mode: str
    check: str
    action: str
    text: str


@attrs.frozen
class Stage:
    """What one run of the apply script gets: packages, users, keys and files, and what it checks afterwards."""

    files: tuple[NodeFile, ...] = ()
    packages: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    keys: tuple[tuple[str, str, str], ...] = ()
    """``(user, staged name, text)``: public keys the user's authorized_keys must hold."""
    groups: tuple[tuple[str, str], ...] = ()
    """``(user, group)``: groups the user joins where they exist."""
    jails: tuple[str, ...] = ()
    expect_sshd: tuple[str, ...] = ()
    """Lines ``sshd -T`` must print once the sshd file is in place (``passwordauthentication no``)."""

    def manifest(self) -> str:
        """The manifest the apply script reads (tab-separated lines)."""
        lines = [f"package\t{p}" for p in self.packages]
        lines += [f"user\t{u}" for u in self.users]
        lines += [f"keys\t{user}\t{name}" for user, name, _ in self.keys]
        lines += [f"group\t{user}\t{group}" for user, group in self.groups]
        lines += [f"file\t{f.name}\t{f.target}\t{f.mode}\t{f.check}\t{f.action}" for f in self.files]
        lines += [f"jail\t{j}" for j in self.jails]
        lines += [f"expect\tsshd\t{e}" for e in self.expect_sshd]
        return "".join(f"{line}\n" for line in lines)

    def contents(self) -> dict[str, str]:
        """Every staged file by name: the files, the keys, ``manifest`` and ``apply.sh``."""
        out = {f.name: f.text for f in self.files}
        out.update({name: text for _, name, text in self.keys})
        out["manifest"] = self.manifest()
        out["apply.sh"] = SCRIPT
        return out


def _header(ctx: Context, comment: str = "#") -> str:
    return (f"{comment} Written by cloudorm's hardening of cluster {ctx.cluster!r}: replaced whole by every harden(),\n"
            f"{comment} so change the cluster's Hardening(...) rather than this file.\n")


# -------------------------------------------------------------------------------------------------------- the admin

def sudoers(hardening: Hardening, ctx: Context) -> NodeFile:
    """The admin's passwordless sudo (``visudo -c``)."""
    user = hardening.admin_user
    text = f"{_header(ctx)}{user} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    return NodeFile("sudoers", f"{SUDOERS_DIR}/cloudorm-{user}", "0440", "sudoers", "-", text)


ADMIN_GROUPS = ("docker",)
"""Groups the admin joins where the node has them: ``docker``, so containers on nodes work as the admin."""


def admin_stage(hardening: Hardening, ctx: Context) -> Stage:
    """The first run: sudo, the admin user, its sudoers file, the cluster's key in its authorized_keys, and the
    ``docker`` group where there is one."""
    key = ctx.public_key.strip().splitlines()[0] if ctx.public_key.strip() else ""
    user = hardening.admin_user
    return Stage(files=(sudoers(hardening, ctx),), packages=("sudo",), users=(user,),
                 keys=((user, "authorized_keys", f"{key}\n"),), groups=tuple((user, g) for g in ADMIN_GROUPS))


# -------------------------------------------------------------------------------------------------------- the system

def sysctl(hardening: Hardening, facts: NodeFacts, ctx: Context) -> NodeFile:
    """The network sysctl settings (each key must exist on the node: ``sysctl -n``)."""
    lines = [f"{key} = {value}" for key, value in sorted(hardening.sysctl.items())
             if facts.ipv6 or not key.startswith("net.ipv6.")]
    return NodeFile("sysctl.conf", SYSCTL_FILE, "0644", "sysctl", "sysctl", _header(ctx) + "\n".join(lines) + "\n")


def _networks(values: Iterable[str]) -> tuple[list[str], list[str]]:
    """IPv4 and IPv6 networks of ``values`` (addresses or CIDRs), merged and sorted; a single address unprefixed."""
    nets = [ipaddress.ip_network(v, strict=False) for v in values if v]
    out: tuple[list[str], list[str]] = ([], [])
    for version, bucket in ((4, out[0]), (6, out[1])):
        family = [n for n in nets if n.version == version]
        for net in ipaddress.collapse_addresses(family):  # type: ignore[type-var]
            bucket.append(str(net.network_address) if net.num_addresses == 1 else str(net))
    return out


def _set(name: str, kind: str, elements: list[str]) -> list[str]:
    return [f"\tset {name} {{", f"\t\ttype {kind}", "\t\tflags interval",
            f"\t\telements = {{ {', '.join(elements)} }}", "\t}", ""]


def firewall(hardening: Hardening, facts: NodeFacts, ctx: Context) -> NodeFile:
    """The nftables table ``inet cloudorm`` (``nft -c``): inbound dropped unless it answers traffic the node
    started, comes from loopback, a cluster node or ``allow_from``, is ICMP that keeps the network working, SSH
    (from ``ssh_from``) or an ``allow_ports`` port. Forwarded and outbound traffic are left alone."""
    v4, v6 = _networks([*ctx.peers, *hardening.allow_from])
    lines = ["#!/usr/sbin/nft -f", *_header(ctx).splitlines(),
             "# Only this table is replaced (declared, deleted and made again in one transaction).",
             "table inet cloudorm", "delete table inet cloudorm", "", "table inet cloudorm {"]
    if v4:
        lines += _set("trusted_v4", "ipv4_addr", v4)
    if v6:
        lines += _set("trusted_v6", "ipv6_addr", v6)
    lines += ["\tchain input {", "\t\ttype filter hook input priority filter; policy drop;",
              "\t\tct state established,related accept", "\t\tct state invalid drop", '\t\tiif "lo" accept']
    if v4:
        lines.append("\t\tip saddr @trusted_v4 accept")
    if v6:
        lines.append("\t\tip6 saddr @trusted_v6 accept")
    lines += ["\t\ticmp type { echo-request, destination-unreachable, time-exceeded, parameter-problem } accept",
              "\t\ticmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded, "
              "parameter-problem, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept",
              "\t\tip6 saddr fe80::/10 udp dport 546 accept"]
    port = facts.ssh_port
    if ctx.ssh_from is None:
        lines.append(f"\t\ttcp dport {port} accept")
    else:
        s4, s6 = _networks(ctx.ssh_from)
        if s4:
            lines.append(f"\t\tip saddr {{ {', '.join(s4)} }} tcp dport {port} accept")
        if s6:
            lines.append(f"\t\tip6 saddr {{ {', '.join(s6)} }} tcp dport {port} accept")
    for protocol in ("tcp", "udp"):
        ports = [f"{p.first}" if p.first == p.last else f"{p.first}-{p.last}"
                 for p in hardening.allow_ports if p.protocol == protocol]
        if ports:
            lines.append(f"\t\t{protocol} dport {{ {', '.join(ports)} }} accept")
    lines += ["\t}", "}", ""]
    return NodeFile("firewall.nft", FIREWALL_FILE, "0644", "nft", "firewall", "\n".join(lines))


def firewall_unit(ctx: Context) -> NodeFile:
    """The systemd unit that loads the firewall at boot, after Debian's own ``nftables.service``
    (``systemd-analyze verify``)."""
    text = f"""{_header(ctx)}[Unit]
Description=cloudorm node firewall (nftables table inet cloudorm)
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=local-fs.target nftables.service
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f {FIREWALL_FILE}

[Install]
WantedBy=sysinit.target
"""
    return NodeFile("cloudorm-firewall.service", UNIT_FILE, "0644", "unit", "unit", text)


def jails(hardening: Hardening, facts: NodeFacts, ctx: Context) -> NodeFile:
    """fail2ban's jails on SSH (``fail2ban-client -t``), banning with nftables and never banning the cluster's nodes,
    ``allow_from`` or loopback."""
    v4, v6 = _networks([*ctx.peers, *hardening.allow_from])
    ignore = " ".join(["127.0.0.1/8", "::1", *v4, *v6])
    if facts.systemd:
        source = ["backend = systemd"]
    else:
        source = ["backend = auto", f"logpath = {facts.sshd_log or '%(sshd_log)s'}"]
    lines = [_header(ctx).rstrip("\n")]
    for jail in hardening.jails:
        lines += ["", f"[{jail.name}]", "enabled = true", f"filter = sshd[mode={jail.mode}]",
                  f"port = {facts.ssh_port}", *source, "banaction = nftables-multiport",
                  "banaction_allports = nftables-allports", f"maxretry = {jail.max_retry}",
                  f"findtime = {jail.find_time}", f"bantime = {jail.ban_time}", f"ignoreip = {ignore}"]
    if "sshd" not in {j.name for j in hardening.jails}:  # the distribution's own sshd jail, off: it reads a log
        lines += ["", "[sshd]", "enabled = false"]         # file a journald-only node does not have
    return NodeFile("jail.local", JAIL_FILE, "0644", "fail2ban", "fail2ban", "\n".join(lines) + "\n")


SSHD_SETTINGS = ("PermitRootLogin no", "PasswordAuthentication no", "ChallengeResponseAuthentication no",
                 "PermitEmptyPasswords no", "PubkeyAuthentication yes", "AuthenticationMethods publickey",
                 "HostbasedAuthentication no", "IgnoreRhosts yes", "X11Forwarding no", "LoginGraceTime 30")
"""sshd's settings on a hardened node (with ``MaxAuthTries``). ``ChallengeResponseAuthentication`` is the name
every OpenSSH knows (8.7 and later read it as ``KbdInteractiveAuthentication``). TCP forwarding stays on:
``cluster.dask()`` and ``ssh -L`` tunnel through it."""


def sshd(hardening: Hardening, ctx: Context) -> tuple[NodeFile, tuple[str, ...]]:
    """The sshd drop-in (``sshd -t``) and the lines ``sshd -T`` must print once it is in place."""
    settings = [*SSHD_SETTINGS, f"MaxAuthTries {hardening.max_auth_tries}"]
    text = _header(ctx) + "\n".join(settings) + "\n"
    expect = ("permitrootlogin no", "passwordauthentication no", "pubkeyauthentication yes",
              f"maxauthtries {hardening.max_auth_tries}")
    return NodeFile("sshd.conf", SSHD_FILE, "0644", "sshd", "sshd", text), expect


def system_stage(hardening: Hardening, facts: NodeFacts, ctx: Context) -> Stage:
    """The second run (as the admin, with sudo): sysctl, firewall, fail2ban, and sshd last."""
    files = [sysctl(hardening, facts, ctx)]
    packages = ["procps-ng" if facts.packages == "dnf" else "procps"]
    if hardening.firewall:
        files.append(firewall(hardening, facts, ctx))
        packages.append("nftables")
        if facts.systemd:
            files.append(firewall_unit(ctx))
    if hardening.jails:
        files.append(jails(hardening, facts, ctx))
        packages.append("fail2ban")
        if facts.systemd:
            packages.append("python3-systemd")
    sshd_file, expect = sshd(hardening, ctx)
    files.append(sshd_file)
    return Stage(files=tuple(files), packages=tuple(packages), jails=tuple(j.name for j in hardening.jails),
                 expect_sshd=expect)


def render(hardening: Hardening, facts: NodeFacts, ctx: Context) -> Mapping[str, str]:
    """Every file a node gets, by its path on the node (the admin's key under ``~ADMIN/.ssh/authorized_keys``)."""
    admin = admin_stage(hardening, ctx)
    out = {f.target: f.text for f in admin.files}
    out.update({f"~{user}/.ssh/authorized_keys": text for user, _, text in admin.keys})
    out.update({f.target: f.text for f in system_stage(hardening, facts, ctx).files})
    return out


__all__ = ["PROBE", "Context", "NodeFacts", "NodeFile", "Stage", "admin_stage", "firewall", "firewall_unit", "jails",
           "render", "sshd", "sudoers", "sysctl", "system_stage"]
