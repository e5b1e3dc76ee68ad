"""SSH against real OpenSSH servers: KeyPair files and fingerprints (checked with ssh-keygen), KnownHosts, host key
pinning / trust on first use / refusal, retries while a node boots, commands, timeouts, SFTP, concurrency and the
sshd stand-ins themselves."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudorm.compute.keys import KeyPair
from cloudorm.compute.ssh import KnownHosts, SSHShell, cloud_config
from cloudorm.errors import AccessDenied, CloudError, HostKeyMismatch, InvalidInput, NotFound, Timeout
from cloudorm.testing.sshd import SshdHost, allocate_address, apply_user_data, sshd_unavailable

SSHD_REASON = sshd_unavailable()
needs_sshd = pytest.mark.skipif(SSHD_REASON is not None, reason=SSHD_REASON or "")


def keygen(*args: str) -> str:
    """ssh-keygen's output for ``args``."""
    return subprocess.run(["ssh-keygen", *args], capture_output=True, text=True, check=True).stdout


# ----------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def user_key() -> KeyPair:
    """The key the tests log in with."""
    return KeyPair.generate("tester")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, user_key: KeyPair) -> Iterator[SshdHost]:
    """A stand-in shared by the tests that do not change it."""
    if SSHD_REASON:
        pytest.skip(SSHD_REASON)
    with SshdHost(allocate_address(), tmp_path_factory.mktemp("shared"),
                  authorized_keys=[user_key.public_key]) as host:
        yield host


@pytest.fixture
def own_server(tmp_path: Path, user_key: KeyPair) -> Iterator[SshdHost]:
    """A stand-in for one test, which may restart or stop it."""
    if SSHD_REASON:
        pytest.skip(SSHD_REASON)
    with SshdHost(allocate_address(), tmp_path / "node", authorized_keys=[user_key.public_key]) as host:
        yield host


def pinned_shell(host: SshdHost, key: KeyPair, **kwargs: object) -> SSHShell:
    """A shell to ``host`` whose host key is pinned in memory."""
    known = KnownHosts(None)
    known.pin(host.address, host.host_key.public_key, host.port)
    return SSHShell(host.address, user="root", key=key, known_hosts=known, port=host.port, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shell(server: SshdHost, user_key: KeyPair) -> Iterator[SSHShell]:
    """One pinned shell to the shared stand-in."""
    sh = pinned_shell(server, user_key)
    yield sh
    sh.close()


# ----------------------------------------------------------------------------------------------- KeyPair

def test_generated_key_saved_0600_and_fingerprints_match_ssh_keygen(tmp_path: Path) -> None:
    key = KeyPair.generate("me@laptop")
    assert key.public_key.startswith("ssh-ed25519 AAAA") and key.public_key.endswith(" me@laptop")
    old = os.umask(0)  # even a permissive umask must not widen the private file
    try:
        key.save(tmp_path / "keys" / "id_ed25519")
    finally:
        os.umask(old)
    private = tmp_path / "keys" / "id_ed25519"
    assert private.stat().st_mode & 0o777 == 0o600
    assert key.path == private
    assert (tmp_path / "keys" / "id_ed25519.pub").read_text().strip() == key.public_key
    assert keygen("-lf", str(private)).split()[1] == key.fingerprint
    assert keygen("-E", "md5", "-lf", f"{private}.pub").split()[1] == "MD5:" + key.md5_fingerprint
    # ssh-keygen derives the same public key from the private file we wrote
    assert keygen("-y", "-f", str(private)).split()[:2] == key.public_key.split()[:2]

    loaded = KeyPair.load(private)
    assert loaded == key and loaded.comment == "me@laptop" and loaded.path == private
    assert KeyPair.from_private(loaded.private_openssh()) == key


def test_save_narrows_an_existing_world_readable_file(tmp_path: Path) -> None:
    target = tmp_path / "id"
    target.write_text("old contents that are much longer than nothing " * 40)
    target.chmod(0o644)
    KeyPair.generate().save(target)
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "old contents" not in target.read_text()


def test_load_other_key_types_and_passwords(tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "s3cret", "-C", "rsa-key",
                    "-f", str(tmp_path / "rsa")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-m", "PEM", "-N", "", "-f", str(tmp_path / "ec")],
                   check=True)
    with pytest.raises(InvalidInput, match="needs a password"):
        KeyPair.load(tmp_path / "rsa")
    with pytest.raises(InvalidInput, match="could not be decrypted") as wrong:
        KeyPair.load(tmp_path / "rsa", password="wrong")
    assert "PRIVATE KEY" not in str(wrong.value)
    rsa = KeyPair.load(tmp_path / "rsa", password="s3cret")
    assert rsa.key_type == "ssh-rsa" and rsa.comment == "rsa-key"
    assert keygen("-lf", str(tmp_path / "rsa.pub")).split()[1] == rsa.fingerprint
    ec = KeyPair.load(tmp_path / "ec")
    assert ec.public_key.split()[:2] == (tmp_path / "ec.pub").read_text().split()[:2]
    with pytest.raises(InvalidInput, match="no key file"):
        KeyPair.load(tmp_path / "missing")
    with pytest.raises(InvalidInput, match="not a private key"):
        KeyPair.from_private("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAsecretish\n-----END OPENSSH PRIVATE KEY-----")


def test_repr_and_pickle_never_show_the_private_key(tmp_path: Path) -> None:
    key = KeyPair.generate().save(tmp_path / "id")
    body = "".join(key.private_openssh().splitlines()[1:-1])
    assert repr(key) == f"KeyPair({key.fingerprint}, path={str(tmp_path / 'id')!r})"
    assert body[:40] not in repr(key) and body[:40] not in str(key)
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(key)


# ----------------------------------------------------------------------------------------------- KnownHosts

def test_known_hosts_pin_replace_forget_ports_and_ssh_keygen_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "known_hosts"
    known = KnownHosts(path)
    first, second, other = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    known.pin("10.0.0.5", first.public_key)
    known.pin("10.0.0.6", other.public_key, port=2222)
    known.pin("10.0.0.5", second.public_key)  # the address reused by a new node: one entry, the new key
    assert known.lookup("10.0.0.5") == [" ".join(second.public_key.split()[:2])]
    assert known.lookup("10.0.0.6") == []
    assert known.lookup("10.0.0.6", port=2222) == [" ".join(other.public_key.split()[:2])]
    assert "[10.0.0.6]:2222 ssh-ed25519" in path.read_text()
    # OpenSSH finds the entries in the file we wrote, by name and by [host]:port
    assert second.public_key.split()[1] in keygen("-F", "10.0.0.5", "-f", str(path))
    assert other.public_key.split()[1] in keygen("-F", "[10.0.0.6]:2222", "-f", str(path))
    # a file hashed by ssh-keygen -H is still read
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(path)], check=True, capture_output=True)
    assert "10.0.0.5" not in path.read_text()
    assert KnownHosts(path).lookup("10.0.0.5") == [" ".join(second.public_key.split()[:2])]
    known.forget("10.0.0.5")
    assert known.lookup("10.0.0.5") == [] and known.lookup("10.0.0.6", 2222)
    with pytest.raises(InvalidInput, match="public_key"):
        known.pin("10.0.0.7", "ssh-ed25519 not-base64!")
    for host in ("10.0.0.8 10.0.0.9", "a,b", "*", ""):  # would write a pattern or a broken line
        with pytest.raises(InvalidInput, match="host"):
            known.pin(host, first.public_key)
    assert KnownHosts(path).lookup("10.0.0.6", 2222)


# ----------------------------------------------------------------------------------------------- host keys

@needs_sshd
def test_pinned_first_connection_and_trust_on_first_use(server: SshdHost, user_key: KeyPair,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    pinned = KnownHosts(path)
    pinned.pin(server.address, server.host_key.public_key)
    with SSHShell(server.address, user="root", key=user_key, known_hosts=pinned) as sh:
        assert sh.run("echo pinned") == (0, "pinned\n", "")
    assert pinned.lookup(server.address) == [" ".join(server.host_key.public_key.split()[:2])]

    tofu = KnownHosts(tmp_path / "tofu_known_hosts")
    assert tofu.lookup(server.address) == []
    with SSHShell(server.address, user="root", key=user_key, known_hosts=tofu) as sh:
        sh.wait_ready(5)
    assert tofu.lookup(server.address) == [" ".join(server.host_key.public_key.split()[:2])]
    with SSHShell(server.address, user="root", key=user_key, known_hosts=KnownHosts(tofu.path)) as again:
        assert again.run("echo verified")[1] == "verified\n"


@needs_sshd
def test_changed_host_key_is_refused_and_nothing_runs(own_server: SshdHost, user_key: KeyPair,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    known = KnownHosts(path)
    known.pin("10.9.9.9", KeyPair.generate().public_key)  # another node's line first
    sh = SSHShell(own_server.address, user="root", key=user_key, known_hosts=known)
    assert sh.run("echo first")[0] == 0  # recorded on first use
    old_fingerprint = own_server.host_key.fingerprint
    own_server.restart()  # a new host key: a rebuilt node, or someone in between
    new_fingerprint = own_server.host_key.fingerprint
    for attempt in (sh, SSHShell(own_server.address, user="root", key=user_key, known_hosts=known)):
        with pytest.raises(HostKeyMismatch) as refused:
            attempt.run("touch ~/ran")
        error = refused.value
        assert error.expected == old_fingerprint and error.actual == new_fingerprint
        assert error.host == own_server.address
        message = str(error)
        assert f"expected {old_fingerprint}, got {new_fingerprint}" in message and "rebuilt" in message
        assert f"remove line 2 of {path} (ssh-keygen -R {own_server.address} -f {path})" in message
        assert "intercepting" in message and "nothing was run" in message
    assert not (own_server.home / "ran").exists()
    # the fix the message gives works: ssh-keygen removes that line only, and the next connection records the new key
    subprocess.run(["ssh-keygen", "-R", own_server.address, "-f", str(path)], check=True, capture_output=True)
    assert known.lookup(own_server.address) == [] and known.lookup("10.9.9.9")
    assert sh.run("echo again") == (0, "again\n", "")
    assert known.lookup(own_server.address) == [" ".join(own_server.host_key.public_key.split()[:2])]
    sh.close()
    sh.close()  # idempotent


@needs_sshd
def test_pinned_key_type_the_server_lacks_is_a_mismatch(server: SshdHost, user_key: KeyPair) -> None:
    known = KnownHosts(None)
    rsa_line = "ssh-rsa " + KeyPair.from_private(subprocess.run(
        ["sh", "-c", "d=$(mktemp -d) && ssh-keygen -q -t rsa -b 1024 -N '' -f $d/k && cat $d/k && rm -r $d"],
        capture_output=True, text=True, check=True).stdout).public_key.split()[1]
    known.pin(server.address, rsa_line)
    with pytest.raises(HostKeyMismatch, match="no key of the pinned type") as refused:
        SSHShell(server.address, user="root", key=user_key, known_hosts=known).wait_ready(5)
    assert f"call known_hosts.forget({server.address!r}, 22)" in str(refused.value)  # an in-memory KnownHosts


@needs_sshd
def test_opt_out_accepts_any_key_records_nothing_and_warns_once(
        own_server: SshdHost, user_key: KeyPair, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cloudorm.compute.ssh")
    sh = SSHShell(own_server.address, user="root", key=user_key, known_hosts=None)
    assert sh.run("true")[0] == 0
    own_server.restart()
    assert sh.run("echo still")[1] == "still\n"
    warnings = [r for r in caplog.records if "host key checking is off" in r.getMessage()]
    assert len(warnings) == 1 and own_server.address in warnings[0].getMessage()


# ----------------------------------------------------------------------------------------------- connecting

@needs_sshd
def test_authentication_failure_is_immediate(server: SshdHost) -> None:
    stranger = KeyPair.generate()
    sh = pinned_shell(server, stranger)
    started = time.monotonic()
    with pytest.raises(AccessDenied) as denied:
        sh.wait_ready(30)
    assert time.monotonic() - started < 10  # at once: not retried until the 30 s deadline
    assert stranger.fingerprint in str(denied.value) and "'root'" in str(denied.value)


@needs_sshd
def test_retries_until_the_node_answers(tmp_path: Path, user_key: KeyPair) -> None:
    host = SshdHost(allocate_address(), tmp_path / "late", authorized_keys=[user_key.public_key])
    sh = pinned_shell(host, user_key)
    timer = threading.Timer(1.0, host.start)
    started = time.monotonic()
    timer.start()
    try:
        sh.wait_ready(15)
        assert 0.9 < time.monotonic() - started < 8
        assert sh.run("echo up")[1] == "up\n"
    finally:
        timer.join()
        sh.close()
        host.stop()


@needs_sshd
def test_timeout_names_the_host_and_last_error(user_key: KeyPair) -> None:
    address = allocate_address()  # nobody listens there
    sh = SSHShell(address, user="root", key=user_key, known_hosts=KnownHosts(None), connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(Timeout) as late:
        sh.wait_ready(1.0)
    assert time.monotonic() - started < 5  # the deadline holds
    assert address in str(late.value) and "refused" in str(late.value).lower()
    assert isinstance(late.value.last_error, ConnectionRefusedError)


@needs_sshd
def test_reconnects_after_a_reboot_with_the_same_key(own_server: SshdHost, user_key: KeyPair) -> None:
    sh = pinned_shell(own_server, user_key)
    assert sh.run("echo before")[1] == "before\n"
    own_server.restart(host_key=own_server.host_key)
    assert sh.run("echo after")[1] == "after\n"
    (own_server.home / "kept").write_text("home survives a reboot")
    own_server.restart(host_key=own_server.host_key)
    assert sh.run("cat ~/kept")[1] == "home survives a reboot"
    sh.close()


@needs_sshd
def test_lost_connection_during_a_command_is_an_error(own_server: SshdHost, user_key: KeyPair) -> None:
    sh = pinned_shell(own_server, user_key)
    sh.wait_ready(5)
    marker = own_server.home / "running"

    def power_off() -> None:  # once the command runs on the node
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        own_server.stop()

    stopper = threading.Thread(target=power_off)
    stopper.start()
    started = time.monotonic()
    try:
        with pytest.raises(CloudError, match="lost") as lost:
            sh.run("touch ~/running; sleep 20")
    finally:
        stopper.join()
    assert time.monotonic() - started < 10 and "sleep" not in str(lost.value)
    own_server.start()
    assert sh.run("echo back")[1] == "back\n"
    sh.close()


@needs_sshd
def test_ssh_config_proxy_command_through_a_jump_host(server: SshdHost, own_server: SshdHost, user_key: KeyPair,
                                                      tmp_path: Path) -> None:
    identity = user_key.save(tmp_path / "id_ed25519").path
    config = tmp_path / "ssh_config"
    config.write_text(f"Host inner\n  HostName {server.address}\n  User root\n"
                      f"  ProxyCommand ssh -i {identity} -o BatchMode=yes -o StrictHostKeyChecking=no "
                      f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -W %h:%p root@{own_server.address}\n")
    known = KnownHosts(None)
    known.pin("inner", server.host_key.public_key)
    with SSHShell("inner", default_user="nobody", key=user_key, known_hosts=known, ssh_config=config) as sh:
        assert sh.run("echo through; cat /root/which 2>/dev/null; true")[1].startswith("through")
        sh.put(identity, "~/jumped")  # type: ignore[arg-type]
    assert (server.home / "jumped").exists() and not (own_server.home / "jumped").exists()


@needs_sshd
def test_ssh_config_routes_an_alias_and_known_hosts_keeps_the_node_address(
        server: SshdHost, user_key: KeyPair, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 203.0.113.*\n  HostName {server.address}\n  Port {server.port}\n  User root\n")
    known = KnownHosts(tmp_path / "known_hosts")
    sh = SSHShell("203.0.113.7", default_user="ubuntu", key=user_key, known_hosts=known, ssh_config=config)
    assert sh.user == "root" and repr(sh) == "SSHShell(root@203.0.113.7)"  # the config's User over the default
    assert sh.run("whoami")[1] == "root\n"
    assert known.lookup("203.0.113.7") == [" ".join(server.host_key.public_key.split()[:2])]
    assert known.lookup(server.address) == []
    sh.close()


@needs_sshd
def test_an_explicit_user_wins_over_ssh_config_which_wins_over_the_default(
        server: SshdHost, user_key: KeyPair, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host with-user\n  HostName {server.address}\n  User nosuchuser\n"
                      f"Host without-user\n  HostName {server.address}\n")
    known = KnownHosts(None)
    for alias in ("with-user", "without-user"):
        known.pin(alias, server.host_key.public_key)

    def login(alias: str, **users: str) -> SSHShell:
        return SSHShell(alias, key=user_key, known_hosts=known, ssh_config=config, **users)  # type: ignore[arg-type]

    with login("with-user", user="root", default_user="nosuchuser") as sh:  # as ssh -l root: -l wins
        assert sh.user == "root" and sh.run("whoami")[1] == "root\n"
    with pytest.raises(AccessDenied, match="'nosuchuser'"):  # no -l: the config's User, not the default
        login("with-user", default_user="root").wait_ready(5)
    with login("without-user") as sh:  # neither: default_user, root unless given
        assert sh.user == "root" and sh.run("whoami")[1] == "root\n"
    with pytest.raises(AccessDenied, match="'nosuchuser'"):
        login("without-user", default_user="nosuchuser").wait_ready(5)
    assert SSHShell(server.address, key=user_key, known_hosts=None, default_user="ubuntu").user == "ubuntu"
    for bad in ({"user": ""}, {"user": "a b"}, {"default_user": "x\ny"}, {"default_user": ""}):
        with pytest.raises(InvalidInput, match=next(iter(bad))):
            SSHShell(server.address, key=user_key, known_hosts=None, **bad)  # type: ignore[arg-type]


@needs_sshd
def test_non_default_port_is_recorded_as_host_port(tmp_path: Path, user_key: KeyPair) -> None:
    with SshdHost(allocate_address(2222), tmp_path / "p", authorized_keys=[user_key.public_key], port=2222) as host:
        known = KnownHosts(tmp_path / "known_hosts")
        with SSHShell(host.address, user="root", key=user_key, known_hosts=known, port=2222) as sh:
            assert sh.run("echo on 2222")[0] == 0
        assert (tmp_path / "known_hosts").read_text().startswith(f"[{host.address}]:2222 ssh-ed25519 ")
        assert known.lookup(host.address) == []


# ----------------------------------------------------------------------------------------------- commands

@needs_sshd
def test_run_exit_codes_output_and_decoding(shell: SSHShell) -> None:
    assert shell.run("echo out; echo err >&2; exit 3") == (3, "out\n", "err\n")
    assert shell.run("true") == (0, "", "")
    code, out, _ = shell.run("printf 'caf\\303\\251 \\377'")
    assert code == 0 and out == "café \ufffd"
    assert shell.run("exit 124", timeout=10)[0] == 124  # a command's own 124 is not a timeout
    assert shell.run("cat; read line; echo read $?", timeout=5) == (0, "read 1\n", "")  # stdin is at its end


@needs_sshd
def test_large_output_on_both_streams(shell: SSHShell) -> None:
    code, out, err = shell.run("head -c 1048576 /dev/zero | tr '\\0' o; head -c 1048576 /dev/zero | tr '\\0' e >&2")
    assert code == 0 and out == "o" * 1048576 and err == "e" * 1048576


@needs_sshd
def test_environment_values_are_quoted(shell: SSHShell) -> None:
    env = {"PLAIN": "x", "SPACES": "a  b", "QUOTES": "it's \"q\"", "DOLLAR": "$HOME `id` $(id)", "NL": "l1\nl2"}
    code, out, _ = shell.run('printf "%s|%s|%s|%s|%s" "$PLAIN" "$SPACES" "$QUOTES" "$DOLLAR" "$NL"',
                             environment=env)
    assert (code, out) == (0, "x|a  b|it's \"q\"|$HOME `id` $(id)|l1\nl2")
    assert shell.run("echo $WITH_TIMEOUT", timeout=5, environment={"WITH_TIMEOUT": "a;b"})[1] == "a;b\n"


def test_bad_input_is_refused_before_connecting(user_key: KeyPair) -> None:
    sh = SSHShell("192.0.2.1", user="root", key=user_key, known_hosts=None, connect_timeout=0.1)
    for env in ({"1BAD": "x"}, {"A-B": "x"}, {"A": "nul\0"}, {"A B": "x"}):
        with pytest.raises(InvalidInput, match="environment"):
            sh.run("true", environment=env)
    with pytest.raises(InvalidInput, match="timeout"):
        sh.run("true", timeout=0)
    with pytest.raises(InvalidInput, match="command"):
        sh.run("  ")
    with pytest.raises(InvalidInput, match="remote"):
        sh.get("~other/x", Path("/tmp/never"))
    with pytest.raises(InvalidInput, match="timeout"):
        sh.wait_ready(float("nan"))
    with pytest.raises(InvalidInput, match="port"):
        SSHShell("h", user="root", key=user_key, known_hosts=None, port=0)
    with pytest.raises(InvalidInput, match="host"):
        SSHShell("10.0.0.1 -oProxyCommand=x", user="root", key=user_key, known_hosts=None)
    with pytest.raises(InvalidInput, match="connect_timeout"):
        SSHShell("h", user="root", key=user_key, known_hosts=None, connect_timeout="10")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="known_hosts"):  # a path where a KnownHosts belongs
        SSHShell("h", user="root", key=user_key, known_hosts=Path("~/.ssh/known_hosts"))  # type: ignore[arg-type]
    assert sh._transport is None  # nothing was opened


@needs_sshd
def test_timeout_stops_the_command_on_the_node(shell: SSHShell) -> None:
    seconds = f"31.{os.getpid()}"  # a command line no other test run on this machine has
    started = time.monotonic()
    code, out, _ = shell.run(f"echo started; sleep {seconds}", timeout=1)
    assert code is None and out == "started\n"
    assert time.monotonic() - started < 4  # killed by timeout on the node, not abandoned at 1 + 5 + 2 s
    time.sleep(0.2)
    assert shell.run(f"pgrep -f '^sleep {seconds}'")[0] == 1  # nothing left on the node
    assert shell.run("sleep 0.1; echo done", timeout=5) == (0, "done\n", "")


@needs_sshd
def test_concurrent_runs_share_one_connection(shell: SSHShell) -> None:
    shell.run("true")
    transport = shell._transport
    results: dict[int, tuple[int | None, str, str]] = {}

    def one(i: int) -> None:
        results[i] = shell.run(f"sleep 1; echo {i}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started < 5  # in parallel: 8 runs of 1 s one after another take 8 s
    assert results == {i: (0, f"{i}\n", "") for i in range(8)}
    assert shell._transport is transport


@needs_sshd
def test_more_concurrent_runs_than_the_server_allows_sessions_wait(tmp_path: Path, user_key: KeyPair) -> None:
    with SshdHost(allocate_address(), tmp_path / "n", authorized_keys=[user_key.public_key],
                  options={"MaxSessions": "3"}) as host:
        sh = pinned_shell(host, user_key, max_sessions=3)
        results: list[tuple[int | None, str, str]] = []

        def one(i: int) -> None:
            results.append(sh.run(f"sleep 0.2; echo {i}"))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r[1] for r in results) == sorted(f"{i}\n" for i in range(10))
        sh.close()


@needs_sshd
def test_the_pinned_key_type_is_the_one_negotiated(tmp_path: Path, user_key: KeyPair) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    ecdsa = KeyPair(ec.generate_private_key(ec.SECP256R1())).save(tmp_path / "ssh_host_ecdsa_key")
    with SshdHost(allocate_address(), tmp_path / "n", authorized_keys=[user_key.public_key],
                  options={"HostKey": str(ecdsa.path)}) as host:  # two host keys: ecdsa and ed25519
        for pinned in (ecdsa, host.host_key):
            known = KnownHosts(None)
            known.pin(host.address, pinned.public_key)
            with SSHShell(host.address, user="root", key=user_key, known_hosts=known) as sh:
                assert sh.run("true")[0] == 0
        tofu = KnownHosts(None)  # first use records one key, and later connections ask for that type
        with SSHShell(host.address, user="root", key=user_key, known_hosts=tofu) as sh:
            sh.wait_ready(5)
        recorded = tofu.lookup(host.address)
        assert len(recorded) == 1 and recorded[0].split()[1] in (ecdsa.public_key.split()[1],
                                                                 host.host_key.public_key.split()[1])
        with SSHShell(host.address, user="root", key=user_key, known_hosts=tofu) as sh:
            assert sh.run("true")[0] == 0


@needs_sshd
def test_many_shells_connect_in_parallel_threads(server: SshdHost, user_key: KeyPair, tmp_path: Path) -> None:
    known = KnownHosts(tmp_path / "known_hosts")  # one file shared by every shell, as in a cluster
    shells = [SSHShell(server.address, user="root", key=user_key, known_hosts=known) for _ in range(6)]
    outputs: list[str] = []
    lock = threading.Lock()

    def one(sh: SSHShell) -> None:
        out = sh.run("echo $$")[1]
        with lock:
            outputs.append(out)

    threads = [threading.Thread(target=one, args=(sh,)) for sh in shells]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outputs) == 6 and len(set(outputs)) == 6
    assert len(known.lookup(server.address)) == 1
    for sh in shells:
        sh.close()


# ----------------------------------------------------------------------------------------------- files

@needs_sshd
def test_put_get_round_trip_modes_parents_and_home(shell: SSHShell, server: SshdHost, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024))
    big.chmod(0o751)
    shell.put(big, "~/deep/er/big.bin")
    remote = server.home / "deep" / "er" / "big.bin"
    assert remote.stat().st_mode & 0o7777 == 0o751
    back = tmp_path / "fetched" / "again" / "big.bin"
    shell.get("deep/er/big.bin", back)  # relative: the login home too
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()

    secret = tmp_path / "secret"
    secret.write_text("s")
    secret.chmod(0o600)
    shell.put(secret, str(server.home / "abs" / "secret"))  # an absolute path (the home, seen from the node)
    assert (server.home / "abs" / "secret").stat().st_mode & 0o777 == 0o600
    with pytest.raises(NotFound):
        shell.get("~/no/such/file", tmp_path / "x")
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))  # no partial file left
    with pytest.raises(NotFound):
        shell.put(tmp_path / "missing", "~/x")


@needs_sshd
def test_directories_as_targets_and_modes_on_get(shell: SSHShell, server: SshdHost, tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o700)
    shell.put(script, "~/bin/")  # a trailing slash: into that directory, under the file's name
    assert shell.run("~/bin/run.sh") == (0, "ran\n", "")
    shell.put(script, "bin")  # an existing directory: into it too
    assert (server.home / "bin" / "run.sh").read_text() == script.read_text()
    (tmp_path / "down").mkdir()
    shell.get("~/bin/run.sh", tmp_path / "down")
    fetched = tmp_path / "down" / "run.sh"
    assert fetched.read_text() == script.read_text() and fetched.stat().st_mode & 0o777 == 0o700


@needs_sshd
def test_hostile_file_names_are_never_run(shell: SSHShell, server: SshdHost, tmp_path: Path) -> None:
    (server.home / "x").write_text("canary")
    name = "a b;rm -rf x $(touch pwned)'\""
    source = tmp_path / name
    source.write_text("payload")
    shell.put(source, f"~/{name}")
    assert (server.home / name).read_text() == "payload"
    shell.get(name, tmp_path / "out" / name)
    assert (tmp_path / "out" / name).read_text() == "payload"
    assert (server.home / "x").read_text() == "canary" and not (server.home / "pwned").exists()


# ----------------------------------------------------------------------------------------------- stand-ins

@needs_sshd
def test_each_stand_in_has_its_own_root_home(server: SshdHost, own_server: SshdHost, user_key: KeyPair) -> None:
    one, two = pinned_shell(server, user_key), pinned_shell(own_server, user_key)
    assert one.run("echo one > /root/which; cat ~/which")[1] == "one\n"
    assert two.run("cat /root/which")[0] != 0
    assert (server.home / "which").read_text() == "one\n" and not (own_server.home / "which").exists()
    assert not Path("/root/which").exists()
    one.close()
    two.close()


@needs_sshd
def test_stop_ends_every_session_and_a_taken_address_fails_clearly(own_server: SshdHost, user_key: KeyPair,
                                                                  tmp_path: Path) -> None:
    sh = pinned_shell(own_server, user_key)
    code, out, _ = sh.run("sleep 41 >/dev/null 2>&1 & echo $!")  # left behind by a session that ended
    assert code == 0
    left = Path(f"/proc/{int(out)}")  # the stand-in shares this machine's pids
    deadline = time.monotonic() + 5
    while "sleep" not in (left / "cmdline").read_text():  # until it exec'd
        assert time.monotonic() < deadline
        time.sleep(0.02)
    own_server.stop()
    assert not own_server.running
    assert not left.exists() or (left / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # gone
    own_server.start()
    with pytest.raises(RuntimeError, match="exited") as taken:
        SshdHost(own_server.address, tmp_path / "twin").start()
    assert "Address already in use" in str(taken.value) or "Bind" in str(taken.value)
    sh.close()
    assert len({allocate_address() for _ in range(3)} | {own_server.address}) == 4


@needs_sshd
def test_stopping_a_stand_in_never_touches_another(tmp_path: Path, user_key: KeyPair) -> None:
    other = SshdHost(allocate_address(), tmp_path / "other", authorized_keys=[user_key.public_key]).start()
    assert other._process is not None
    pid = other._process.pid
    with pinned_shell(other, user_key) as sh:
        assert sh.run("echo alive") == (0, "alive\n", "")  # a session open on the other stand-in throughout
        transport = sh._transport
        for i in range(4):
            one = SshdHost(allocate_address(), tmp_path / f"one{i}")
            one.start()
            if i % 2:  # its sshd dies on its own: the kernel frees its namespace and may give its number to the next
                assert one._process is not None
                dead = one._process.pid
                os.kill(dead, signal.SIGKILL)
                while Path(f"/proc/{dead}/ns/mnt").exists():
                    time.sleep(0.005)
                newer = SshdHost(allocate_address(), tmp_path / f"newer{i}").start()  # would have that number
                one.stop()
                assert newer.running
                newer.stop()
            else:
                one.stop()
            one.start()  # restarted on the same address
            one.stop()
            assert not one.running
            assert other.running and other._process is not None and other._process.pid == pid
            assert sh.run(f"echo {i}") == (0, f"{i}\n", "") and sh._transport is transport
    other.stop()


def test_a_bad_sshd_config_fails_with_sshds_words(tmp_path: Path) -> None:
    if SSHD_REASON:
        pytest.skip(SSHD_REASON)
    host = SshdHost(allocate_address(), tmp_path / "bad", options={"NoSuchOption": "yes"})
    with pytest.raises(RuntimeError, match="NoSuchOption") as failed:
        host.start()
    assert "Bad configuration option" in str(failed.value) and not host.running


def test_keys_and_ssh_import_without_paramiko_or_cryptography() -> None:
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('paramiko', 'cryptography'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import cloudorm, cloudorm.compute.ssh, cloudorm.testing.sshd\n"
        "from cloudorm.compute import KeyPair\n"
        "from cloudorm.compute.ssh import SSHShell\n"
        "for attempt in (KeyPair.generate, lambda: SSHShell('h', user='u', key=None, known_hosts=None)):\n"
        "    try:\n"
        "        attempt()\n"
        "    except ImportError as e:\n"
        "        print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "SSH keys and connections need the cryptography package: pip install 'cloudorm[ssh]'",
        "SSH keys and connections need the paramiko package: pip install 'cloudorm[ssh]'"]


def test_cloud_config_round_trips_and_keeps_the_key_out_of_logs(caplog: pytest.LogCaptureFixture) -> None:
    import yaml  # type: ignore[import-untyped]

    host_key, login = KeyPair.generate(), KeyPair.generate("user")
    text = cloud_config(host_key, [login.public_key])
    doc = yaml.safe_load(text)
    assert text.startswith("#cloud-config\n")
    assert doc["ssh_deletekeys"] is True and doc["ssh_genkeytypes"] == []
    assert doc["ssh_keys"]["ed25519_public"] == host_key.public_key
    assert KeyPair.from_private(doc["ssh_keys"]["ed25519_private"]) == host_key
    parsed, authorized = apply_user_data(text)
    assert parsed == host_key and authorized == [login.public_key]
    assert apply_user_data("#!/bin/sh\necho hi\n") == (None, []) and apply_user_data(None) == (None, [])

    body_line = host_key.private_openssh().splitlines()[1]
    caplog.set_level(logging.DEBUG)
    logging.getLogger("cloudorm.compute.ssh").debug("user data: %s", text)
    logging.getLogger("paramiko.transport").debug("line %s", body_line)
    assert caplog.records and all(body_line not in r.getMessage() for r in caplog.records)
    with pytest.raises(InvalidInput, match="public_key"):
        cloud_config(host_key, ["not a key"])
    with pytest.raises(InvalidInput, match="ed25519"):
        cloud_config(KeyPair.from_private(subprocess.run(
            ["sh", "-c", "d=$(mktemp -d) && ssh-keygen -q -t ecdsa -N '' -f $d/k && cat $d/k && rm -r $d"],
            capture_output=True, text=True, check=True).stdout))


@needs_sshd
def test_a_connection_logs_no_key_material(server: SshdHost, user_key: KeyPair,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pinned_shell(server, user_key) as sh:
        sh.run("true")
    secret_lines = user_key.private_openssh().splitlines()[1:-1]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert all(line not in text for line in secret_lines)
