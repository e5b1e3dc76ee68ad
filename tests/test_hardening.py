"""Node hardening: bad input refused before any request; every rendered file checked by its own tool on this
machine (``sshd -t``, ``visudo -c``, ``nft -c``, ``fail2ban-client -t``, ``sysctl -n``, ``ssh-keygen -l``,
``systemd-analyze verify``: checks only, nothing of this machine is changed); and the real thing on whole Debian
machines in Docker containers (``cloudorm.testing.machines``) that a fake DigitalOcean boots as droplets.

The tool tests skip where a tool is missing, unless ``CLOUDORM_REQUIRE_SSHD`` is set (CI installs sshd, sudo,
nftables and fail2ban together); the machine tests skip where Docker cannot run them."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.compute.hardening import DEFAULT_JAILS, DEFAULT_SYSCTL, Hardening, Jail
from cloudorm.compute.hardening_apply import context, probe, run_stage
from cloudorm.compute.hardening_render import (
    FIREWALL_FILE,
    SSHD_FILE,
    SYSCTL_FILE,
    UNIT_FILE,
    Context,
    NodeFacts,
    NodeFile,
    Stage,
    admin_stage,
    render,
    system_stage,
)
from cloudorm.compute.keys import KeyPair
from cloudorm.errors import AccessDenied, ClusterError, CommandFailed, InvalidInput, Unsupported

REQUIRE = bool(os.environ.get("CLOUDORM_REQUIRE_SSHD"))

H = Hardening(admin_user="ops", allow_ports=[8080, "53/udp", "9000-9010"], allow_from=["10.8.0.0/16"])
FACTS = NodeFacts(user="root", admin=True, ssh_port=22, client="203.0.113.50", systemd=True, ipv6=True)
KEY = KeyPair.generate("cloudorm-test")
CTX = Context("web", ("203.0.113.7", "10.0.0.5", "2001:db8::7"), None, KEY.public_key)


pytestmark = pytest.mark.usefixtures("state")  # cluster state in the test's directory (conftest)


# ------------------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize(("kwargs", "field"), [
    ({"admin_user": "root"}, "admin_user"),
    ({"admin_user": "Ops"}, "admin_user"),
    ({"admin_user": "ops.admin"}, "admin_user"),
    ({"admin_user": "a b"}, "admin_user"),
    ({"admin_user": "-x"}, "admin_user"),
    ({"admin_user": 5}, "admin_user"),
    ({"allow_ports": [0]}, "allow_ports"),
    ({"allow_ports": [70000]}, "allow_ports"),
    ({"allow_ports": ["80/icmp"]}, "allow_ports"),
    ({"allow_ports": ["90-80"]}, "allow_ports"),
    ({"allow_ports": [True]}, "allow_ports"),
    ({"allow_ports": ["80; flush ruleset"]}, "allow_ports"),
    ({"allow_from": ["10.0.0.300/8"]}, "allow_from"),
    ({"allow_from": [5]}, "allow_from"),
    ({"allow_from": ["10.0.0.0/8 } accept"]}, "allow_from"),
    ({"sysctl": {"kernel.kptr_restrict": 1}}, "sysctl"),
    ({"sysctl": {"net.ipv4.tcp_syncookies": "1\nnet.x = 2"}}, "sysctl"),
    ({"sysctl": {"net.ipv4.tcp_syncookies": True}}, "sysctl"),
    ({"sysctl": ["net.ipv4.tcp_syncookies"]}, "sysctl"),
    ({"max_auth_tries": 0}, "max_auth_tries"),
    ({"max_auth_tries": "3"}, "max_auth_tries"),
    ({"jails": [DEFAULT_JAILS[0], DEFAULT_JAILS[0]]}, "jails"),
    ({"jails": ["sshd"]}, "jails"),
    ({"firewall": "yes"}, "firewall"),
])
def test_bad_settings_are_refused(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        Hardening(**kwargs)
    assert e.value.field == field


@pytest.mark.parametrize("kwargs", [
    {"name": "SSH"}, {"name": "a" * 40}, {"max_retry": 0}, {"find_time": 0}, {"ban_time": True},
    {"mode": "paranoid"},
])
def test_bad_jails_are_refused(kwargs: dict[str, Any]) -> None:
    jail = {"name": "ssh", "max_retry": 3, "find_time": 60, "ban_time": 60, **kwargs}
    with pytest.raises(InvalidInput) as e:
        Jail(**jail)
    assert e.value.field == "jails"


def test_settings_are_normalised() -> None:
    h = Hardening(allow_ports=[443, "53/udp", 443, "8000-8100/tcp"], allow_from="10.1.2.3",
                  sysctl={"net.ipv4.tcp_rfc1337": None, "net.core.somaxconn": 4096})
    assert [str(p) for p in h.allow_ports] == ["443/tcp", "53/udp", "8000-8100/tcp"]
    assert h.allow_from == ("10.1.2.3/32",)
    assert "net.ipv4.tcp_rfc1337" not in h.sysctl and h.sysctl["net.core.somaxconn"] == 4096
    assert h.admin_user == "cloudorm" and h.jails == DEFAULT_JAILS and Hardening() == Hardening()
    assert [(j.name, j.max_retry, j.find_time, j.ban_time) for j in DEFAULT_JAILS] == [
        ("sshd", 2, 600, 6000), ("sshd-longterm", 4, 18000, 6_000_000)]  # the Cloud package's two jails


def test_cluster_refuses_bad_hardening_before_any_request() -> None:
    s = cloudorm.Session()
    with s.count_requests() as c:
        with pytest.raises(InvalidInput) as e:
            s.Cluster("hx", size=1, hardening={"admin_user": "ops"})
        assert e.value.field == "hardening"
        cluster = s.Cluster("hx-plain", size=1)
        with pytest.raises(InvalidInput) as e:
            cluster.harden()
        assert e.value.field == "hardening"
        with pytest.raises(InvalidInput) as e:
            cluster.harden("strict")
        assert e.value.field == "hardening"
    assert c.total == 0


def test_local_nodes_are_never_hardened() -> None:
    s = cloudorm.Session()
    name = f"hx-{uuid.uuid4().hex[:6]}"
    cluster = s.Cluster(name, size=1, hardening=Hardening(), runtime=None, progress=False)
    with s.count_requests() as c, pytest.raises(Unsupported) as e:
        cluster.save()
    assert c.total == 0 and "compute.harden" in str(e.value) and "this machine" in str(e.value)
    plain = s.Cluster(name, size=1, runtime=None, progress=False).save()
    try:
        with s.count_requests() as c:
            with pytest.raises(Unsupported):
                plain.harden(Hardening())
            assert plain.hardening is None
            with pytest.raises(Unsupported):
                plain.nodes[0].harden(Hardening())
            with pytest.raises(Unsupported):
                cluster.Node().save()
            with pytest.raises(Unsupported):
                cluster.add_node()
        assert c.total == 0
    finally:
        plain.delete()


# ------------------------------------------------------------------------------------------------------ rendering

def test_rendering_is_deterministic() -> None:
    first = render(H, FACTS, CTX)
    shuffled = Context("web", tuple(reversed(CTX.peers)), None, KEY.public_key)
    assert render(H, FACTS, shuffled) == first == render(H, FACTS, CTX)
    assert set(first) == {"/etc/sudoers.d/cloudorm-ops", "~ops/.ssh/authorized_keys", SYSCTL_FILE, FIREWALL_FILE,
                          UNIT_FILE, "/etc/fail2ban/jail.d/cloudorm.local", SSHD_FILE}
    assert first["/etc/sudoers.d/cloudorm-ops"].endswith("ops ALL=(ALL:ALL) NOPASSWD: ALL\n")
    sshd = first[SSHD_FILE]
    for line in ("PermitRootLogin no", "PasswordAuthentication no", "MaxAuthTries 3", "PubkeyAuthentication yes"):
        assert f"\n{line}\n" in sshd
    assert "AllowTcpForwarding no" not in sshd  # cluster.dask() tunnels through SSH


def test_firewall_rules() -> None:
    rules = render(H, FACTS, CTX)[FIREWALL_FILE]
    assert "flush ruleset" not in rules  # only the table inet cloudorm is replaced: Docker's and fail2ban's stay
    assert "policy drop;" in rules and "ct state established,related accept" in rules
    assert "elements = { 10.0.0.5, 10.8.0.0/16, 203.0.113.7 }" in rules  # the nodes and allow_from, merged
    assert "elements = { 2001:db8::7 }" in rules
    assert "\t\ttcp dport 22 accept" in rules  # SSH from anywhere: the cluster has no allow_ssh_from
    assert "tcp dport { 8080, 9000-9010 } accept" in rules and "udp dport { 53 } accept" in rules
    narrow = Context("web", ("10.0.0.5",), ("198.51.100.0/24", "2001:db8:1::/48"), KEY.public_key)
    facts = NodeFacts(user="root", admin=True, ssh_port=2222, systemd=True, ipv6=True)
    rules = render(Hardening(), facts, narrow)[FIREWALL_FILE]
    assert "ip saddr { 198.51.100.0/24 } tcp dport 2222 accept" in rules
    assert "ip6 saddr { 2001:db8:1::/48 } tcp dport 2222 accept" in rules
    assert "tcp dport 22 " not in rules and "trusted_v6" not in rules
    assert FIREWALL_FILE not in render(Hardening(firewall=False), facts, narrow)


def test_rendering_follows_the_node() -> None:
    bare = NodeFacts(user="admin", admin=True, systemd=False, ipv6=False, sshd_log="/var/log/secure")
    files = render(Hardening(jails=[Jail("ssh", 3, 60, 600)]), bare, CTX)
    assert UNIT_FILE not in files  # no systemd: nothing loads it at boot
    assert "net.ipv6" not in files[SYSCTL_FILE] and "net.ipv4.tcp_syncookies = 1" in files[SYSCTL_FILE]
    jail = files["/etc/fail2ban/jail.d/cloudorm.local"]
    assert "[ssh]" in jail and "logpath = /var/log/secure" in jail and "backend = auto" in jail
    assert "ignoreip = 127.0.0.1/8 ::1 10.0.0.5 203.0.113.7 2001:db8::7" in jail
    assert "banaction = nftables-multiport" in jail
    assert "jail" not in system_stage(Hardening(jails=[]), bare, CTX).manifest()
    stage = system_stage(H, FACTS, CTX)
    assert stage.packages == ("procps", "nftables", "fail2ban", "python3-systemd")
    assert "expect\tsshd\tpermitrootlogin no\n" in stage.manifest()
    assert NodeFacts.parse("client=1.2.3.4\nssh_port=2200\nuser=ubuntu\nuid=1000\nadmin=1\nsystemd=1\nipv6=0\n"
                           "packages=apt\n") == NodeFacts(user="ubuntu", admin=True, ssh_port=2200, client="1.2.3.4",
                                                          systemd=True, ipv6=False, packages="apt")


# ------------------------------------------------------------------------------------------ the real tools, checks only

def tool(name: str) -> str:
    """The path of ``name``; skip (fail under CLOUDORM_REQUIRE_SSHD) when it is not installed."""
    path = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if path is None:
        if REQUIRE:
            pytest.fail(f"{name} is not installed (CI installs openssh-server, sudo, nftables and fail2ban)")
        pytest.skip(f"{name} is not installed (Debian: apt-get install openssh-server sudo nftables fail2ban)")
    return path


def checked(kind: str, text: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run the tool that checks a ``kind`` file on ``text``: a check, never an application."""
    path = tmp / f"candidate-{uuid.uuid4().hex[:6]}.service"
    path.write_text(text)
    if kind == "sshd":
        key = tmp / "host_key"
        if not key.exists():
            KeyPair.generate("test-host").save(key)
        wrapper = tmp / "sshd-check.conf"
        wrapper.write_text(f"HostKey {key}\nInclude {path}\n")
        argv = [tool("sshd"), "-t", "-f", str(wrapper)]
    elif kind == "sudoers":
        argv = [tool("visudo"), "-c", "-q", "-f", str(path)]
    elif kind == "nft":
        argv = [tool("nft"), "-c", "-f", str(path)]
    elif kind == "fail2ban":
        client = tool("fail2ban-client")
        config = tmp / f"fail2ban-{uuid.uuid4().hex[:6]}"
        shutil.copytree("/etc/fail2ban", config)
        (config / "jail.d" / "cloudorm.local").write_text(text)
        argv = [client, "-c", str(config), "-t"]
    elif kind == "keys":
        argv = [tool("ssh-keygen"), "-l", "-f", str(path)]
    elif kind == "unit":
        argv = [tool("systemd-analyze"), "verify", str(path)]
    else:
        raise AssertionError(kind)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


FACT_VARIANTS = [
    FACTS,
    NodeFacts(user="ubuntu", admin=True, ssh_port=2222, systemd=False, ipv6=False, sshd_log="LOG"),
]


@pytest.mark.parametrize("facts", FACT_VARIANTS, ids=["systemd", "no-systemd"])
@pytest.mark.parametrize("hardening", [H, Hardening(max_auth_tries=5, jails=[Jail("ssh-slow", 9, 3600, 86400)])],
                         ids=["ops", "custom-jail"])
def test_every_rendered_file_passes_its_own_tool(hardening: Hardening, facts: NodeFacts, tmp_path: Path) -> None:
    if facts.sshd_log == "LOG":
        log = tmp_path / "auth.log"
        log.touch()
        facts = NodeFacts(user=facts.user, admin=True, ssh_port=facts.ssh_port, systemd=False, ipv6=False,
                          sshd_log=str(log))
    ctx = Context("web", CTX.peers, ("198.51.100.0/24",), KEY.public_key)
    stages = [admin_stage(hardening, ctx), system_stage(hardening, facts, ctx)]
    files: list[NodeFile] = [f for stage in stages for f in stage.files]
    assert {f.check for f in files} >= {"sudoers", "sysctl", "nft", "fail2ban", "sshd"}
    for f in files:
        if f.check == "sysctl":
            sysctl = tool("sysctl")
            for line in f.text.splitlines():
                if line and not line.startswith("#"):
                    key = line.split("=")[0].strip()
                    read = subprocess.run([sysctl, "-n", key], capture_output=True, text=True, check=False)
                    assert read.returncode == 0, (key, read.stderr)  # (read only: nothing is set here)
            continue
        done = checked(f.check, f.text, tmp_path)
        assert done.returncode == 0, (f.target, done.stdout, done.stderr)
    for _, _, text in stages[0].keys:
        assert checked("keys", text, tmp_path).returncode == 0


@pytest.mark.parametrize(("kind", "text"), [
    ("sshd", "MaxAuthTries three\n"),
    ("sudoers", "ops ALL=(ALL NOPASSWD: ALL\n"),
    ("nft", "table inet cloudorm {\n\tchain input {\n\t\ttcp dport 22 acept\n\t}\n}\n"),
    ("fail2ban", "[sshd\nenabled = true\n"),
    ("keys", "ssh-ed25519 AAAAnot-a-key\n"),
])
def test_the_tools_refuse_broken_files(kind: str, text: str, tmp_path: Path) -> None:
    assert checked(kind, text, tmp_path).returncode != 0


# ------------------------------------------------------------------------------------------ whole machines in Docker

@pytest.fixture(scope="module")
def machines() -> Iterator[Any]:
    """Docker machines the fake DigitalOcean boots as droplets."""
    from cloudorm.testing.machines import DockerMachines, docker_unavailable

    reason = docker_unavailable()
    if reason:
        pytest.skip(f"no Docker machines: {reason}")
    made = DockerMachines()
    yield made
    made.stop()


@pytest.fixture(scope="module")
def fake(machines: Any) -> Iterator[Any]:
    """The fake DigitalOcean API whose droplets are Docker machines."""
    from cloudorm.testing.digitalocean import FakeDigitalOcean

    with FakeDigitalOcean(boot_delay=0.1, machines=machines) as do:
        yield do


def session(fake: Any) -> cloudorm.Session:
    return cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)


def reachable(address: str, port: int, timeout: float = 1.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def serve(machine: Any, *ports: int) -> None:
    """Listen on ``ports`` in ``machine`` (python's http.server, in the background)."""
    for port in ports:
        machine.exec(f"setsid python3 -m http.server {port} >/dev/null 2>&1 < /dev/null &")
    deadline = time.monotonic() + 10
    while not all(machine.exec(f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {p}), 1)\"")
                  .returncode == 0 for p in ports):
        assert time.monotonic() < deadline, "http.server did not start"
        time.sleep(0.1)


def host_sysctl() -> list[str]:
    """This machine's values of the sysctl keys hardening sets."""
    keys = sorted(DEFAULT_SYSCTL)
    return [Path("/proc/sys", *k.split(".")).read_text().strip() if Path("/proc/sys", *k.split(".")).exists()
            else "-" for k in keys]


def trusts(machine: Any, address: str) -> bool:
    """True when ``machine``'s firewall lets everything in from ``address`` (its set ``trusted_v4``)."""
    listed = json.loads(machine.exec("nft -j list set inet cloudorm trusted_v4").stdout)
    elements = next(e["set"] for e in listed["nftables"] if "set" in e).get("elem", [])
    wanted = ipaddress.ip_address(address)
    for element in elements:
        if isinstance(element, str):
            if ipaddress.ip_address(element) == wanted:
                return True
        elif "prefix" in element:
            if wanted in ipaddress.ip_network(f"{element['prefix']['addr']}/{element['prefix']['len']}"):
                return True
        elif "range" in element:
            low, high = (ipaddress.ip_address(a) for a in element["range"])
            if low <= wanted <= high:
                return True
    return False


HANG_UP = """rm -rf /tmp/tmp.*
sh /stage/apply.sh /stage >/dev/null 2>&1 & pid=$!
n=0
until ls -d /tmp/tmp.* >/dev/null 2>&1 || [ $n -ge 500 ]; do n=$((n + 1)); sleep 0.005; done
while kill -HUP $pid 2>/dev/null; do echo hung up; sleep 0.01; done | sort -u
wait $pid
"""
"""Run the staged apply script in a machine and hang it up (SIGHUP, as sshd does when a connection drops) again and
again from the moment it made its work directory until it exits; its exit status."""

MARKER = "192.0.2.1"
"""An address added to a machine's live firewall by hand: a reload of the firewall drops it."""


def look(machine: Any) -> dict[str, str]:
    """What shows whether anything was reloaded: the hand-made element of the live firewall, sshd's and fail2ban's
    logs, the installed files' times."""
    return {"nft": str(trusts(machine, MARKER)),
            "sighup": machine.exec("grep -c 'Received SIGHUP' /var/log/auth.log").stdout,
            "fail2ban": machine.exec("grep -c -i 'reload\\|starting fail2ban' /var/log/fail2ban.log").stdout,
            "files": machine.exec("stat -c '%n %Y' /etc/sudoers.d/* /etc/sysctl.d/60-* /etc/cloudorm/* "
                                  "/etc/fail2ban/jail.d/cloudorm.local /etc/ssh/sshd_config.d/*").stdout}


def test_hardening_whole_machines(fake: Any, machines: Any, tmp_path: Path, state: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("uploaded\n")
    name = f"hx-{uuid.uuid4().hex[:6]}"
    s = session(fake)
    cluster = s.Cluster(name, size=2, runtime=None, files=[data], setup=["id -un >> setup-ran"], progress=False,
                        boot_timeout=240).save()
    one, two = cluster.nodes
    host_before = host_sysctl()
    m1, m2 = machines.by_address(one.address), machines.by_address(two.address)
    assert one.login_user == "root"
    serve(m1, 8080, 8081, 9999)
    assert reachable(one.address, 9999) and reachable(one.address, 8080) and reachable(one.address, 8081)

    # a cluster made without hardening, hardened afterwards: root -> ops, the bootstrap follows (not the setup)
    reports = cluster.harden(Hardening(admin_user="ops", allow_ports=[8080]))
    assert cluster.hardening is not None and cluster.hardening.admin_user == "ops"
    assert [r.target for r in reports] == [one.name, two.name]
    for r in reports:
        assert (r.user, r.previous_user, r.created_user) == ("ops", "root", True)
        assert {"sudo", "nftables", "fail2ban"} <= set(r.packages)
        assert {SSHD_FILE, FIREWALL_FILE, SYSCTL_FILE, "/etc/sudoers.d/cloudorm-ops",
                "/home/ops/.ssh/authorized_keys", "group docker"} <= set(r.changed)
        assert {"sysctl", "firewall", "sshd"} <= set(r.reloaded) and not r.unchanged
    assert one.login_user == "ops" and one.run("id -un").stdout.strip() == "ops"
    assert one.run("sudo -n id -un", check=True).stdout.strip() == "root"
    assert "docker" in one.run("id -nG").stdout.split()  # (the machines have a docker group, as Docker nodes do)
    assert one.run("cat data.txt").stdout == "uploaded\n"  # uploaded again into the admin's home
    assert m1.exec("cat /home/ops/setup-ran").returncode != 0  # setup commands ran once, as root
    assert m1.exec("cat /root/setup-ran").stdout.strip() == "root"

    # root may not log in any more; sshd applies the settings; the sudoers file is 0440 root's
    from cloudorm.compute.ssh import SSHShell

    with pytest.raises(AccessDenied), SSHShell(one.address, user="root", key=cluster.key, known_hosts=None) as sh:
        sh.run("true")
    effective = m1.exec("sshd -T").stdout
    for line in ("permitrootlogin no", "passwordauthentication no", "maxauthtries 3", "allowtcpforwarding yes"):
        assert line in effective.splitlines()
    assert m1.exec("stat -c '%a %U' /etc/sudoers.d/cloudorm-ops").stdout.strip() == "440 root"
    assert m1.exec("sysctl -n net.ipv4.conf.all.rp_filter net.ipv4.conf.all.accept_redirects").stdout.split() == \
        ["1", "0"]
    assert host_sysctl() == host_before  # the machines' settings are their own network namespace's

    # fail2ban: the two jails, with their settings, banning through nftables
    assert m1.exec("fail2ban-client get sshd maxretry").stdout.strip() == "2"
    assert m1.exec("fail2ban-client get sshd-longterm bantime").stdout.strip() == "6000000"
    ignored = [line.split("- ")[-1] for line in m1.exec("fail2ban-client get sshd ignoreip").stdout.splitlines()[1:]]
    assert all(any(ipaddress.ip_address(n.address) in ipaddress.ip_network(i) for i in ignored) for n in (one, two))
    assert m1.exec("fail2ban-client set sshd banip 198.51.100.9").returncode == 0
    assert "198.51.100.9" in m1.exec("nft list ruleset").stdout
    m1.exec("fail2ban-client set sshd unbanip 198.51.100.9")

    # the firewall: SSH and 8080 from anywhere, everything from the other node, nothing else
    assert reachable(one.address, 22) and reachable(one.address, 8080)
    assert not reachable(one.address, 9999) and not reachable(one.address, 8081)
    connect = f"python3 -c \"import socket; socket.create_connection(('{one.address}', 9999), 3)\""
    assert m2.exec(connect).returncode == 0

    # applying twice changes nothing and restarts nothing
    m1.exec(f"nft add element inet cloudorm trusted_v4 {{ {MARKER} }}")
    before = look(m1)
    assert before["nft"] == "True" and int(before["sighup"]) >= 1
    again = cluster.harden()
    assert all(r.unchanged and r.user == "ops" == r.previous_user for r in again), again
    assert look(m1) == before

    # another machine (no state here): the root login is refused, the admin's is found and kept
    other = tmp_path / "other-state"
    os.environ["CLOUDORM_STATE_DIR"] = str(other)
    try:
        attached = session(fake).Cluster(name, ssh_key=cluster.key, host_keys="ignore").refresh()
        assert [r.unchanged for r in attached.harden(Hardening(admin_user="ops", allow_ports=[8080]))] == [True] * 2
        assert attached.nodes[0].login_user == "ops"
    finally:
        os.environ["CLOUDORM_STATE_DIR"] = str(state)

    # a node added later is hardened before its bootstrap (which then runs as the admin), and the others let it in
    three = cluster.add_node()[0]
    m3 = machines.by_address(three.address)
    assert three.login_user == "ops" and m3.exec("cat /home/ops/setup-ran").stdout.strip() == "ops"
    address = str(three.address)
    assert trusts(m1, address) and trusts(m2, address) and trusts(m3, one.address)
    assert m3.exec(connect).returncode == 0
    cluster.remove_node(three)
    assert not trusts(m1, address) and not trusts(m2, address) and trusts(m1, two.address)
    assert cluster.harden()[0].unchanged

    # a file its tool refuses: that run installs nothing, and the error names the file and the tool
    broken = Stage(files=(
        NodeFile("sysctl.conf", SYSCTL_FILE, "0644", "sysctl", "sysctl", "net.ipv4.tcp_rfc1337 = 0\n"),
        NodeFile("sshd.conf", SSHD_FILE, "0644", "sshd", "sshd", "MaxAuthTries three\n")))
    facts = NodeFacts(user="ops", admin=True)
    m1.exec(f"nft add element inet cloudorm trusted_v4 {{ {MARKER} }}")
    before = look(m1)
    with pytest.raises(CommandFailed) as e:
        run_stage(one, broken, facts, "system", time.monotonic() + 60)
    assert SSHD_FILE in str(e.value) and "sshd -t" in str(e.value)
    assert look(m1) == before and m1.exec(f"grep -c rfc1337 {SYSCTL_FILE}").stdout.strip() == "1"
    assert m1.exec("sysctl -n net.ipv4.tcp_rfc1337").stdout.strip() == "1"

    # a lost answer: the connection drops while the script runs (a hang-up); it finishes all the same, and
    # harden() afterwards finds nothing left to do there
    wider = Hardening(admin_user="ops", allow_ports=[8080, 8081],  # (fail2ban's check and reload: a long run)
                      jails=[Jail("sshd", max_retry=3, find_time=600, ban_time=6000), DEFAULT_JAILS[1]])
    stage = system_stage(wider, probe(one, wider, time.monotonic() + 60), context(cluster))
    staged = tmp_path / "stage"
    staged.mkdir()
    for file_name, text in stage.contents().items():
        (staged / file_name).write_text(text)
    subprocess.run(["docker", "cp", str(staged), f"{m1.container}:/stage"], check=True, capture_output=True)
    hung_up = m1.exec(HANG_UP)
    assert hung_up.returncode == 0 and "hung up" in hung_up.stdout, hung_up
    assert m1.exec("fail2ban-client get sshd maxretry").stdout.strip() == "3"
    assert [r.unchanged for r in cluster.harden(wider)] == [True, False]
    assert reachable(one.address, 8081)
    m1.exec(f"nft add element inet cloudorm trusted_v4 {{ {MARKER} }}")
    before = look(m1)

    # a firewall that would lock this machine out is refused before anything is installed
    cluster.allow_ssh_from = ("198.51.100.0/24",)
    with pytest.raises(ClusterError) as e:
        cluster.harden()
    assert all(isinstance(c, InvalidInput) and c.field == "allow_ssh_from" for c in e.value.causes.values())
    assert look(m1) == before
    cluster.delete()
