"""Cluster and Node: the whole flow on local nodes (working directories, real subprocesses) and on the fake
DigitalOcean API whose droplets are real sshd stand-ins reached over real SSH."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import threading
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.cache import cache_dir, state_dir
from cloudorm.compute.bootstrap import ENV_FILE, Bootstrap, runtime_script
from cloudorm.compute.names import MAX_CLUSTER_NAME, MAX_NODES, check_cluster_name, next_names, node_number
from cloudorm.compute.sizes import size_for_price
from cloudorm.errors import AlreadyExists, ClusterError, CommandFailed, HostKeyMismatch, InvalidInput, NotFound
from cloudorm.providers.local.app import local_cloud
from cloudorm.providers.local.compute import LocalComputeService, node_home
from cloudorm.providers.local.nodes import LocalNodes
from tests.conftest import assert_refused_before_any_request, running

pytestmark = pytest.mark.usefixtures("state")  # cluster state in the test's directory (conftest)


@pytest.fixture
def s() -> cloudorm.Session:
    """A local session."""
    return cloudorm.Session()


def unique(prefix: str) -> str:
    """A cluster name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def make_wheel(directory: Path) -> Path:
    """A tiny pure-Python wheel (module ``cloudorm_tiny``, ``VALUE = "tiny-42"``), so installing requirements
    needs no index."""
    dist = "cloudorm_tiny-1.0.dist-info"
    files = {"cloudorm_tiny/__init__.py": "VALUE = 'tiny-42'\n",
             f"{dist}/METADATA": "Metadata-Version: 2.1\nName: cloudorm-tiny\nVersion: 1.0\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    path = directory / "cloudorm_tiny-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny wheel, shared by the module's tests."""
    return make_wheel(tmp_path_factory.mktemp("wheel"))


def local_nodes() -> LocalNodes:
    """The clusters of this process's local cloud (the embedded server's)."""
    part = local_cloud().part("compute")
    assert isinstance(part, LocalNodes)
    return part


def local_service(s: cloudorm.Session) -> LocalComputeService:
    svc = s.compute
    assert isinstance(svc, LocalComputeService)
    return svc


# ------------------------------------------------------------------------------------------------ local: the flow


def test_local_cluster_flow(s: cloudorm.Session, tmp_path: Path, wheel: Path, state: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("payload\n")
    tree = tmp_path / "conf"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.ini").write_text("a=1\n")
    name = unique("flow")
    cluster = s.Cluster(name, size=2, files=[data, (tree, "etc/conf")],
                        requirements=[f"cloudorm-tiny @ {wheel.as_uri()}"],
                        setup=["python -c 'import cloudorm_tiny; print(cloudorm_tiny.VALUE)' > marker",
                               "cat data.txt etc/conf/sub/a.ini >> marker"],
                        allow_ssh_from=["203.0.113.0/24"], progress=False)
    with s.count_requests() as c:
        assert cluster.save() is cluster
    assert c["compute.CreateNodes"] == 1 and c["compute.ImportKey"] == 1 and c["compute.CreateFirewall"] == 1
    assert [n.name for n in cluster.nodes] == [f"{name}-1", f"{name}-2"]
    assert len(cluster) == 2 and list(cluster) == cluster.nodes
    node = cluster.nodes[0]
    assert node.status == "active" and node.address == "127.0.0.1" and node.size == "s-1vcpu-1gb"
    assert [r.command for r in node.bootstrap_log][-2:] == list(cluster.bootstrap.setup)

    # run: one result per node, in node order; the venv and the node's environment are there
    results = cluster.run('cat marker; echo "$CLOUDORM_NODE"; command -v python')
    assert [r.node.name for r in results] == [f"{name}-1", f"{name}-2"]
    for r, n in zip(results, cluster.nodes, strict=True):
        assert r.ok and r.exit_code == 0 and r.duration >= 0
        lines = r.stdout.splitlines()
        assert lines[:3] == ["tiny-42", "payload", "a=1"]
        assert lines[3] == n.name
        assert lines[4] == str(node_home(n._co_record) / ".cloudorm" / "venv" / "bin" / "python")
    assert results.by_node()[f"{name}-2"].node is cluster.nodes[1]

    # failures: every one reported, check=True raises with all of them
    one = cluster.run(f'test "$CLOUDORM_NODE" != {name}-2', check=False)
    assert [r.ok for r in one] == [True, False] and one.failures[0].node.name == f"{name}-2"
    with pytest.raises(CommandFailed) as err:
        cluster.run("echo oops >&2; exit 7", check=True)
    assert [f.node.name for f in err.value.failures] == [f"{name}-1", f"{name}-2"]
    assert all(f.exit_code == 7 and f.stderr == "oops\n" for f in err.value.failures)
    assert "exited 7" in str(err.value)
    env = cluster.run('printf %s "$GREETING"', environment={"GREETING": "it's $HOME; `x`"}, nodes=[1])
    assert [r.stdout for r in env] == ["it's $HOME; `x`"]

    # files both ways
    upload = tmp_path / "up.bin"
    upload.write_bytes(os.urandom(5000))
    assert cluster.put_file(upload, "in/up.bin", nodes=[f"{name}-1", cluster.nodes[1]]) == "in/up.bin"
    got = cluster.get_file("in/up.bin", tmp_path / "down")
    assert got == {n.name: tmp_path / "down" / n.name / "up.bin" for n in cluster.nodes}
    assert all(p.read_bytes() == upload.read_bytes() for p in got.values())

    # add_node bootstraps the new node like the others; remove_node; the freed number is used again
    added = cluster.add_node()
    assert [n.name for n in added] == [f"{name}-3"]
    assert added[0].run("cat marker").stdout.splitlines()[0] == "tiny-42"
    cluster.remove_node(f"{name}-2")
    assert [n.name for n in cluster.nodes] == [f"{name}-1", f"{name}-3"]

    # re-saving a complete cluster creates nothing
    cluster.size = 2
    with s.count_requests() as c:
        cluster.save()
    assert c["compute.CreateNodes"] == 0

    # listed and re-attached from another session
    listed = next(c for c in s.clusters() if c.name == name)
    assert cloudorm.state(listed) == "saved" and listed.size == 2
    again = cloudorm.Session().Cluster(name).refresh()
    assert [n.id for n in again.nodes] == [n.id for n in cluster.nodes]
    assert again.key.fingerprint == cluster.key.fingerprint
    assert again.run("cat data.txt", nodes=0, check=True)[0].stdout == "payload\n"
    assert "PRIVATE" not in repr(again) + repr(again.nodes) + repr(again.key)

    # delete: nodes, firewall, key and the state files go
    homes = [node_home(n._co_record) for n in cluster.nodes]
    key_id = cluster._files.state()["key_id"]
    assert (cluster.state_path / "id_ed25519").stat().st_mode & 0o777 == 0o600
    again.delete()
    assert not any(h.exists() for h in homes)
    assert not cluster.exists() and name not in [c.name for c in s.clusters()]
    assert s.compute.find_firewall(name) is None
    with pytest.raises(NotFound):
        s.compute.delete_key(key_id)
    assert not (state / "clusters" / "local").exists() or not any((state / "clusters" / "local").rglob(name))
    with pytest.raises(NotFound):
        again.delete()
    again.delete(missing_ok=True)
    with pytest.raises(NotFound):
        s.Cluster(name).refresh()


def test_local_node(s: cloudorm.Session, tmp_path: Path) -> None:
    cluster = s.Cluster(unique("node"), size=1, runtime=None, progress=False).save()
    node = cluster[0]
    assert repr(node).startswith(f"Node({node.name!r}, id={node.id!r}, address='127.0.0.1'")
    assert node.run("pwd; echo $HOME").stdout.split() == [str(node_home(node._co_record))] * 2
    assert not (node_home(node._co_record) / ENV_FILE).read_text().count("venv")  # runtime=None: no venv

    # a timeout stops the command's whole process group
    start = time.monotonic()
    result = node.run("sleep 30 & echo $! > child; wait", timeout=0.5)
    assert result.timed_out and result.exit_code is None and time.monotonic() - start < 5
    child = int((node_home(node._co_record) / "child").read_text())
    time.sleep(0.1)
    assert not running(child)
    with pytest.raises(CommandFailed):
        node.run("exit 3", check=True)

    # put / get with hostile names
    odd = tmp_path / "a b;rm -rf x"
    odd.write_text("odd")
    odd.chmod(0o751)
    assert node.put(odd) == "a b;rm -rf x"
    assert (node_home(node._co_record) / "a b;rm -rf x").stat().st_mode & 0o777 == 0o751
    assert node.put(odd, "~/deep/er/copy") == "~/deep/er/copy"
    assert node.get("deep/er/copy", tmp_path).read_text() == "odd"
    assert node.get("deep/er/copy", tmp_path / "x" / "renamed").read_text() == "odd"

    # numbers freed by removed nodes are used again; a re-run with a larger size adopts the cluster and makes up
    # what is missing
    cluster.add_node(2)
    cluster.remove_node(cluster[1])
    assert cluster.size == 2 and cloudorm.state(cluster) == "saved"
    rerun = s.Cluster(cluster.name, size=3, runtime=None, progress=False)
    with s.count_requests() as c:
        assert rerun.save() is rerun and rerun == cluster
    assert c["compute.CreateNodes"] == 1 and c["compute.ListNodes"] == 2  # (adopted: one listing, one boot poll)
    assert [n.name for n in cluster.refresh().nodes] == [f"{cluster.name}-{i}" for i in (1, 2, 3)]
    with pytest.raises(AlreadyExists):
        cluster.Node(f"{cluster.name}-2").save(exists_ok=False)
    for extra in cluster.nodes[1:]:
        extra.delete()

    # reboot is a recorded no-op; refresh; delete
    node.reboot()
    assert local_service(s).reboots(node.id) == 1
    assert node.refresh().status == "active"
    home = node_home(node._co_record)
    node.delete()
    assert cluster.nodes == [] and not home.exists() and cloudorm.state(node) == "deleted"
    with pytest.raises(NotFound):
        node.refresh()
    with pytest.raises(NotFound):
        node.delete()
    node.delete(missing_ok=True)
    cluster.delete(missing_ok=True)


# ------------------------------------------------------------------------------------------------ local: failures


def test_failing_setup_destroys_what_save_made(s: cloudorm.Session) -> None:
    name = unique("fail")
    cluster = s.Cluster(name, size=3, runtime=None, allow_ssh_from=["10.0.0.0/8"], progress=False,
                        setup=["echo step-one",
                               f'if [ "$CLOUDORM_NODE" = {name}-2 ]; then echo broken >&2; exit 4; fi'])
    with pytest.raises(ClusterError) as err:
        cluster.save()
    assert list(err.value.causes) == [f"{name}-2"]
    cause = err.value.causes[f"{name}-2"]
    assert isinstance(cause, CommandFailed) and "setup[1]" in str(cause) and cause.failures[0].exit_code == 4
    assert cause.failures[0].stderr == "broken\n"
    assert f"{name}-2" in str(err.value) and "destroyed" in str(err.value)
    svc = local_service(s)
    assert svc.list_nodes(name) == [] and cluster.nodes == []
    assert svc.find_firewall(name) is None and name not in svc.list_clusters()
    assert "key_id" not in cluster._files.state() and svc.find_key(f"cloudorm-{name}") is None
    assert list(cluster.state_path.iterdir()) == []  # a cluster that never came to be leaves no private key behind


def test_delete_from_another_machine_removes_the_registered_key(s: cloudorm.Session, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique("away")
    s.Cluster(name, size=1, runtime=None, progress=False).save()
    assert s.compute.find_key(f"cloudorm-{name}") is not None
    monkeypatch.setenv("CLOUDORM_STATE_DIR", str(tmp_path / "elsewhere"))  # no key id on record here
    s.Cluster(name).delete()
    assert s.compute.find_key(f"cloudorm-{name}") is None and s.compute.list_nodes(name) == []


def test_local_nodes_install_no_system_packages(s: cloudorm.Session) -> None:
    name = unique("rt")
    with pytest.raises(ClusterError) as err:
        s.Cluster(name, size=1, runtime="python3.99", progress=False).save()
    cause = err.value.causes[f"{name}-1"]
    assert isinstance(cause, CommandFailed) and "'runtime'" in str(cause)
    assert "python3.99 (with venv) is not installed on this machine" in cause.failures[0].stderr
    assert s.compute.list_nodes(name) == []


def test_runtime_script_installs_a_missing_interpreter_with_the_package_manager(tmp_path: Path) -> None:
    """The install branch, run by a real shell against a stand-in apt-get that "installs" by linking python3."""
    import shutil
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python is not None
    for tool in ("sh", "env", "id", "cat", "ln", "dirname"):
        found = shutil.which(tool, path="/usr/bin:/bin")
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    apt = bin_dir / "apt-get"
    apt.write_text(f"""#!/bin/sh
echo "apt-get $*" >> {tmp_path}/calls
[ "$DEBIAN_FRONTEND" = noninteractive ] || exit 9
case "$*" in *install*) ln -s {python} {bin_dir}/python3.99 ;; esac
""")
    apt.chmod(0o755)
    script = runtime_script("python3.99", with_pip=False)
    done = subprocess.run(["/bin/sh", "-c", script], env={"PATH": str(bin_dir)}, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Python 3")
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0].endswith(" update")
    assert calls[1].endswith("install python3.99 python3.99-venv")
    again = subprocess.run(["/bin/sh", "-c", script], env={"PATH": str(bin_dir)}, capture_output=True, text=True,
                           check=False)
    assert again.returncode == 0 and len((tmp_path / "calls").read_text().splitlines()) == 2  # present: no apt


def test_keep_on_failure_keeps_the_nodes(s: cloudorm.Session) -> None:
    name = unique("keep")
    cluster = s.Cluster(name, size=2, runtime=None, setup=["exit 9"], progress=False)
    with pytest.raises(ClusterError) as err:
        cluster.save(keep_on_failure=True)
    assert sorted(err.value.causes) == [f"{name}-1", f"{name}-2"] and "kept" in str(err.value)
    assert len(cluster.nodes) == 2 and len(s.compute.list_nodes(name)) == 2
    assert all(n.bootstrap_log[-1].command == "exit 9" and n.bootstrap_log[-1].exit_code == 9 for n in cluster.nodes)
    cluster.delete()


def test_ctrl_c_during_save_destroys_what_it_made(s: cloudorm.Session, tmp_path: Path) -> None:
    name = unique("intr")
    started = tmp_path / "started"
    cluster = s.Cluster(name, size=2, runtime=None, allow_ssh_from=["10.0.0.0/8"], progress=False,
                        setup=[f"touch {started}; sleep 5"])

    def interrupt() -> None:  # Ctrl-C once a node's setup runs (the main thread waits on the bootstrap)
        if wait_for(started.exists, 10):
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends

    threading.Thread(target=interrupt, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        cluster.save()
    assert time.monotonic() - start < 4  # not waiting for the setup commands still running
    svc = local_service(s)
    assert svc.list_nodes(name) == [] and cluster.nodes == []
    assert svc.find_firewall(name) is None and "key_id" not in cluster._files.state()


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_bad_image_registers_nothing(moto_url: str) -> None:
    from tests.conftest import FAKE_CREDS

    aws = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    for image, error in (("not-an-image", InvalidInput), ("ami-0123456789abcdef0", NotFound)):
        with aws.count_requests() as c, pytest.raises(error) as err:
            aws.Cluster(unique("img"), size=1, image=image, runtime=None, allow_ssh_from=["10.0.0.0/8"]).save()
        assert image in str(err.value)
        assert set(c.by_operation) <= {"ec2.DescribeInstances", "ec2.DescribeImages"}  # no key, group or instance


def test_bootstrap_still_running_at_boot_timeout_fails(s: cloudorm.Session) -> None:
    name = unique("slow")
    start = time.monotonic()
    with pytest.raises(ClusterError) as err:
        s.Cluster(name, size=1, runtime=None, setup=["sleep 30"], boot_timeout=1.5, progress=False).save()
    assert time.monotonic() - start < 10
    cause = err.value.causes[f"{name}-1"]
    assert isinstance(cause, CommandFailed) and cause.failures[0].timed_out and "timed out" in str(cause)
    assert s.compute.list_nodes(name) == []


def test_run_on_an_unreachable_node_reports_it(s: cloudorm.Session) -> None:
    cluster = s.Cluster(unique("gone"), size=2, runtime=None, progress=False).save()
    home = node_home(cluster[1]._co_record)
    os.rename(home, f"{home}.moved")
    try:
        with pytest.raises(ClusterError) as err:
            cluster.run("echo hi")
        assert list(err.value.causes) == [cluster[1].name] and isinstance(err.value.causes[cluster[1].name], NotFound)
        assert [r.stdout for r in err.value.results] == ["hi\n"]
    finally:
        os.rename(f"{home}.moved", home)
    cluster.delete()


# ------------------------------------------------------------------------------------------------ input and sizes


BAD: list[tuple[dict[str, Any], str]] = [
    ({"name": "Bad_Name"}, "name"), ({"name": "1abc"}, "name"), ({"name": "x" * 58}, "name"), ({"name": ""}, "name"),
    ({"size": 0}, "size"), ({"size": True}, "size"), ({"size": "3"}, "size"),
    ({"node_size": "s-1vcpu-1gb", "price_per_node": 10}, "node_size"), ({"price_per_node": 0}, "price_per_node"),
    ({"price_per_node": "cheap"}, "price_per_node"), ({"node_size": ""}, "node_size"), ({"image": 5}, "image"),
    ({"region": ""}, "region"), ({"region": "../.."}, "region"), ({"region": "a/b"}, "region"),
    ({"region": "nyc3\0"}, "region"), ({"region": ".."}, "region"), ({"ssh_key": "/nonexistent/key"}, "ssh_key"),
    ({"ssh_key": 42}, "ssh_key"),
    ({"user": "root; rm -rf /"}, "user"), ({"runtime": "python2"}, "runtime"), ({"runtime": "ruby"}, "runtime"),
    ({"requirements": ["six", "not a requirement!!"]}, "requirements"), ({"requirements": [3]}, "requirements"),
    ({"requirements": "/nonexistent/requirements.txt"}, "requirements"),
    ({"requirements": ["six"], "runtime": None}, "requirements"),
    ({"files": ["/nonexistent/file"]}, "files"), ({"files": [("a", "b", "c")]}, "files"), ({"files": 3}, "files"),
    ({"setup": [""]}, "setup"), ({"setup": [["ls"]]}, "setup"), ({"allow_ssh_from": ["300.1.2.3/8"]}, "allow_ssh_from"),
    ({"allow_ssh_from": []}, "allow_ssh_from"), ({"host_keys": "trust"}, "host_keys"),
    ({"ssh_config": "/nonexistent/ssh_config"}, "ssh_config"), ({"max_parallel": 0}, "max_parallel"),
    ({"boot_timeout": 0}, "boot_timeout"), ({"boot_timeout": -1.0}, "boot_timeout"), ({"progress": "yes"}, "progress"),
    ({"monitoring": "yes"}, "monitoring"), ({"boot_timeout": float("inf")}, "boot_timeout"),
    ({"boot_timeout": float("nan")}, "boot_timeout"), ({"size": 1001}, "size"), ({"size": 10**6}, "size"),
    ({"max_nodes": 0}, "max_nodes"), ({"max_nodes": 10**6}, "max_nodes"), ({"size": 3, "max_nodes": 2}, "size"),
    ({"image": "ubuntu\udc80"}, "image"), ({"setup": ["echo \udc80"]}, "setup"), ({"name": "web\udc80"}, "name"),
    ({"node_size": "s-1vcpu\udc80"}, "node_size"), ({"files": [(__file__, "x\udc80")]}, "files"),
]


@pytest.mark.parametrize(("kwargs", "field"), BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_input_is_refused_before_any_request(s: cloudorm.Session, kwargs: dict[str, Any], field: str) -> None:
    kwargs = {"name": "good", "size": 1, **kwargs}
    with s.count_requests() as c, pytest.raises(InvalidInput) as err:
        s.Cluster(kwargs.pop("name"), **kwargs).save()
    assert err.value.field == field
    assert c.total == 0


def test_bad_calls_are_refused_before_any_request(s: cloudorm.Session, tmp_path: Path) -> None:
    cluster = s.Cluster(unique("calls"), size=1, runtime=None, progress=False).save()
    calls: list[tuple[Callable[[], Any], str]] = [
        (lambda: s.Cluster("x").save(), "size"),
        (lambda: cluster.run(""), "cmd"),
        (lambda: cluster.run("ls", timeout=0), "timeout"),
        (lambda: cluster.run("ls", environment={"A B": "x"}), "environment"),
        (lambda: cluster.run("ls", environment={"A": 1}), "environment"),  # type: ignore[dict-item]
        (lambda: cluster.run("ls", nodes=["nope"]), "nodes"),
        (lambda: cluster.run("ls", nodes=[5]), "nodes"),
        (lambda: cluster.put_file(tmp_path / "missing"), "path"),
        (lambda: cluster.get_file("", tmp_path), "remote"),
        (lambda: cluster.get_file("dir/", tmp_path), "remote"),
        (lambda: cluster.add_node(0), "n"),
        (lambda: cluster.remove_node("nope"), "node"),
        (lambda: cluster[0].put(tmp_path), "local"),
        (lambda: cluster.run("echo \udc80"), "cmd"),
        (lambda: cluster.run("ls", timeout=float("inf")), "timeout"),
        (lambda: cluster.run("ls", timeout=-1), "timeout"),
        (lambda: cluster.run("ls", environment={"A": "x\udc80"}), "environment['A']"),
        (lambda: cluster.put_file(tmp_path / "f.txt", "x\udc80"), "remote"),
        (lambda: cluster[0].run("ls", timeout=float("nan")), "timeout"),
        (lambda: cluster[0].reboot(wait="yes"), "wait"),  # type: ignore[arg-type]
        (lambda: cluster[0].reboot(timeout=-5), "timeout"),
        (lambda: cluster[0].wait_ready(-1), "timeout"),
        (lambda: cluster.run("ls", check="no"), "check"),  # type: ignore[arg-type]
        (lambda: cluster[0].run("ls", check=1), "check"),  # type: ignore[arg-type]
        (lambda: cluster.add_node(1, keep_on_failure="yes"), "keep_on_failure"),  # type: ignore[arg-type]
        (lambda: s.Cluster(unique("x"), size=1).save(keep_on_failure=None), "keep_on_failure"),  # type: ignore[arg-type]
        (lambda: s.Cluster(unique("x")).delete(missing_ok="yes"), "missing_ok"),  # type: ignore[arg-type]
        (lambda: cluster.Node("other-1"), "name"),
        (lambda: cluster.Node(f"{cluster.name}-0"), "name"),
        (lambda: cluster.Node(size=""), "size"),
        (lambda: cluster.Node().save(keep_on_failure=1), "keep_on_failure"),  # type: ignore[arg-type]
    ]
    (tmp_path / "f.txt").write_text("x")
    assert_refused_before_any_request(s, calls)
    cluster.delete()


def test_size_is_capped_before_any_request_or_directory(s: cloudorm.Session, state: Path) -> None:
    root = local_nodes().root()  # where local nodes' directories are made
    made = set(root.iterdir())
    with s.count_requests() as c:
        for size in (10**6, MAX_NODES + 1):
            with pytest.raises(InvalidInput) as err:
                s.Cluster(unique("big"), size=size, runtime=None, progress=False).save()
            assert err.value.field == "size" and "max_nodes=1000" in str(err.value)
        cluster = s.Cluster(unique("big"), size=1, runtime=None, progress=False)
        cluster.size = 10**6  # changed after construction: save() checks it again
        with pytest.raises(InvalidInput) as err:
            cluster.save()
        assert err.value.field == "size"
        with pytest.raises(InvalidInput) as err:
            cluster.add_node(10**6)
        assert err.value.field == "n"
    assert c.total == 0
    assert set(root.iterdir()) == made and not state.exists()
    raised = s.Cluster(unique("big"), size=MAX_NODES + 1, max_nodes=MAX_NODES + 1)  # the explicit way up
    assert raised.size == MAX_NODES + 1 and raised.max_nodes == MAX_NODES + 1


def test_add_node_stays_within_max_nodes(s: cloudorm.Session) -> None:
    cluster = s.Cluster(unique("cap"), size=1, runtime=None, progress=False, max_nodes=2).save()
    with s.count_requests() as c, pytest.raises(InvalidInput) as err:
        cluster.add_node(2)
    assert err.value.field == "n" and "max_nodes=2" in str(err.value)
    assert c["compute.CreateNodes"] == 0 and c["compute.ImportKey"] == 0
    assert len(cluster.add_node(1)) == 1 and len(cluster) == 2
    cluster.delete()


def test_region_never_leaves_the_state_directory(s: cloudorm.Session, state: Path) -> None:
    for region in ("../..", "..", "a/b", "", "nyc3\0", "x\udc80", "/etc"):
        with pytest.raises(InvalidInput) as err:
            s.Cluster("web", size=1, region=region)
        assert err.value.field == "region"
    assert not state.exists()
    for parts in (("..",), ("clusters", ".."), ("a/b",), ("",), ("x\0",), (".hidden",), ("x\udc80",)):
        with pytest.raises(InvalidInput) as err:
            state_dir(*parts)
        assert err.value.field == "path"
        with pytest.raises(InvalidInput):
            cache_dir(*parts)
    assert not state.exists()
    assert s.Cluster("web", size=1, region="nyc3").state_path == state / "clusters" / "local" / "nyc3" / "web"


def test_price_per_node_picks_the_largest_size_that_fits(s: cloudorm.Session) -> None:
    cluster = s.Cluster(unique("price"), size=1, price_per_node=20, runtime=None, progress=False).save()
    assert cluster[0].size == "s-2vcpu-2gb"  # 2 GB like s-1vcpu-2gb ($12) but 2 vCPUs, for $18
    cluster.delete()
    with pytest.raises(InvalidInput) as err:
        s.Cluster(unique("price"), size=1, price_per_node=3).save()
    assert err.value.field == "price_per_node" and "s-1vcpu-512mb-10gb" in str(err.value)


def test_size_for_price_honours_region_and_availability() -> None:
    sizes = [{"slug": "big", "price_monthly": 10, "memory_mb": 4096, "vcpus": 2, "regions": ["fra1"]},
             {"slug": "gone", "price_monthly": 10, "memory_mb": 8192, "vcpus": 4, "regions": [], "available": False},
             {"slug": "small", "price_monthly": 5, "memory_mb": 1024, "vcpus": 1, "regions": ["nyc3", "fra1"]},
             {"slug": "fast", "price_monthly": 9, "memory_mb": 1024, "vcpus": 2, "regions": []}]
    assert size_for_price(sizes, 10, "fra1") == "big"
    assert size_for_price(sizes, 10, "nyc3") == "fast"
    assert size_for_price(sizes, 8, "nyc3") == "small"
    with pytest.raises(InvalidInput, match="cheapest is small at 5"):
        size_for_price(sizes, 4, "nyc3")


def test_names() -> None:
    assert next_names("web", ["web-1", "web-3", "other"], 3) == ["web-2", "web-4", "web-5"]
    assert node_number("web", "web-12") == 12 and node_number("web", "web-01") is None
    assert node_number("web", "webx-1") is None
    longest = "a" * MAX_CLUSTER_NAME  # its node names stay valid host names (<= 63 characters)
    assert check_cluster_name(longest) == longest and len(f"{longest}-99999") == 63


def test_bootstrap_settings(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("six\n")
    b = Bootstrap.of("python3.12", req, [tmp_path], (c for c in ["echo hi"]))  # (a generator is read once)
    assert b.requirements_file == req and b.files == ((tmp_path, tmp_path.name),) and b.has_requirements
    assert b.setup == ("echo hi",)
    env = b.environment("c", "c-1; x")
    assert "export CLOUDORM_NODE='c-1; x'" in env and '.cloudorm/venv/bin:$PATH' in env


# ------------------------------------------------------------------------------------------------ DigitalOcean


@pytest.fixture(scope="module")
def fake() -> Iterator[Any]:
    """The fake DigitalOcean API; its droplets are sshd stand-ins."""
    from cloudorm.testing.sshd import sshd_unavailable

    reason = sshd_unavailable()
    if reason:
        pytest.skip(f"no sshd stand-ins: {reason}")
    from cloudorm.testing.digitalocean import FakeDigitalOcean

    with FakeDigitalOcean(boot_delay=0.2) as do:
        yield do


@pytest.fixture
def do(fake: Any) -> cloudorm.Session:
    """A DigitalOcean session on the fake API."""
    return cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)


def droplets_of(fake: Any, name: str) -> list[Any]:
    """The fake's droplets tagged for cluster ``name``."""
    return [d for d in fake.droplets.values() if f"cloudorm:{name}" in d.data["tags"]]


def test_digitalocean_cluster_flow(fake: Any, do: cloudorm.Session, tmp_path: Path, state: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data.txt"
    data.write_text("over ssh\n")
    name = unique("do")
    # (requirements are installed by the same bootstrap code over any shell; the local flow covers them, since a
    # venv with pip costs seconds per node)
    cluster = do.Cluster(name, size=3, files=[data], setup=["cat data.txt > marker", "command -v python >> marker"],
                         allow_ssh_from=["127.0.0.0/8"], progress=False, boot_timeout=60)
    fake.reset_requests()
    cluster.save()
    creates = fake.create_requests
    assert len(creates) == 1 and sorted(creates[0]["names"]) == [f"{name}-{i}" for i in (1, 2, 3)]
    assert creates[0]["user_data"].startswith("#cloud-config") and creates[0]["monitoring"] is False
    assert len(droplets_of(fake, name)) == 3

    # host keys were pinned before the first connection: known_hosts holds the key handed over by user data
    from cloudorm.compute.ssh import KnownHosts

    known = KnownHosts(cluster.state_path / "known_hosts")
    for node in cluster.nodes:
        host_key = fake.droplets[int(node.id)].host.host_key
        assert [line.split()[:2] for line in known.lookup(str(node.address))] == [host_key.public_key.split()[:2]]

    results = cluster.run("cat marker; echo $CLOUDORM_NODE; id -un", check=True)
    for r, node in zip(results, cluster.nodes, strict=True):
        lines = r.stdout.splitlines()
        # the environment file is sourced over SSH too: the runtime's venv comes first on PATH (this machine has no
        # other `python`)
        assert lines == ["over ssh", "/root/.cloudorm/venv/bin/python", node.name, "root"]
    homes = {n.name: fake.droplets[int(n.id)].host.home for n in cluster.nodes}
    assert all((home / "marker").exists() for home in homes.values())  # each stand-in its own /root

    upload = tmp_path / "up.bin"
    upload.write_bytes(os.urandom(100_000))
    cluster.put_file(upload, "files/up.bin")
    got = cluster.get_file("files/up.bin", tmp_path / "down", nodes=[0, 2])
    assert sorted(got) == [cluster[0].name, cluster[2].name]
    assert all(p.read_bytes() == upload.read_bytes() for p in got.values())

    added = cluster.add_node()
    assert [n.name for n in added] == [f"{name}-4"]
    assert added[0].run("cat marker", check=True).stdout.startswith("over ssh")
    removed = cluster[1]
    address, droplet = str(removed.address), int(str(removed.id))
    cluster.remove_node(removed)
    assert known.lookup(address) == [] and droplet not in fake.droplets and removed.id is None
    assert [n.name for n in cluster.nodes] == [f"{name}-1", f"{name}-3", f"{name}-4"]
    assert name in [c.name for c in do.clusters()]

    # another machine (no state directory): listing works, connecting asks for the key instead of making one up
    monkeypatch.setenv("CLOUDORM_STATE_DIR", str(tmp_path / "elsewhere"))
    stranger = do.Cluster(name).refresh()
    assert [n.name for n in stranger.nodes] == [n.name for n in cluster.nodes]
    with do.count_requests() as c, pytest.raises(InvalidInput) as no_key:
        stranger.run("touch ran")
    assert no_key.value.field == "ssh_key" and "pass ssh_key=" in str(no_key.value) and c.total == 0
    with pytest.raises(InvalidInput):
        stranger.add_node()
    assert not (stranger.state_path / "id_ed25519").exists() and len(droplets_of(fake, name)) == 3
    with_key = do.Cluster(name, ssh_key=cluster.key).refresh()  # the key given: its host keys recorded on first use
    assert with_key.run("id -un", nodes=0, check=True)[0].stdout == "root\n"
    monkeypatch.setenv("CLOUDORM_STATE_DIR", str(state))

    attached = cloudorm.Session("digitalocean", creds={"access_token": fake.token},
                                endpoint_url=fake.url).Cluster(name).refresh()
    assert attached.run("cat data.txt", nodes=[f"{name}-4"], check=True)[0].stdout == "over ssh\n"

    attached.delete()
    assert droplets_of(fake, name) == []
    assert not any(k["name"] == f"cloudorm-{name}" for k in fake.keys.values())
    assert not any(f["name"] == f"cloudorm-{name}" for f in fake.firewalls.values())
    assert name not in [c.name for c in do.clusters()]


def test_digitalocean_changed_host_key_is_refused(fake: Any, do: cloudorm.Session) -> None:
    cluster = do.Cluster(unique("hk"), size=1, runtime=None, progress=False, boot_timeout=60).save()
    node = cluster[0]
    assert node.run("echo before", check=True).stdout == "before\n"
    node.reboot()  # the same host key after a reboot: the connection is made again and verified
    assert node.status == "active" and node.run("echo after", check=True).stdout == "after\n"
    fake.change_host_key(int(node.id))
    with pytest.raises(ClusterError) as err:
        cluster.run("touch ran")
    assert isinstance(err.value.causes[node.name], HostKeyMismatch)
    with pytest.raises(HostKeyMismatch) as mismatch:
        node.run("touch ran")
    assert mismatch.value.host == node.address
    assert not (fake.droplets[int(node.id)].host.home / "ran").exists()
    cluster.delete()


def test_digitalocean_failing_bootstrap_destroys_what_it_created(fake: Any, do: cloudorm.Session) -> None:
    name = unique("dofail")
    keys_before = set(fake.keys)
    cluster = do.Cluster(name, size=2, runtime=None, setup=["echo no >&2; false"], allow_ssh_from=["127.0.0.1/32"],
                         progress=False, boot_timeout=60)
    with pytest.raises(ClusterError) as err:
        cluster.save()
    assert sorted(err.value.causes) == [f"{name}-1", f"{name}-2"]
    assert all(isinstance(e, CommandFailed) for e in err.value.causes.values())
    assert droplets_of(fake, name) == [] and set(fake.keys) == keys_before
    assert not any(f["name"] == f"cloudorm-{name}" for f in fake.firewalls.values())


class _OnCount(Counter[str]):
    """A request counter that calls ``action`` when ``operation`` is about to be sent for the ``nth`` time."""

    def __init__(self, operation: str, nth: int, action: Callable[[], None]) -> None:
        super().__init__()
        self.trigger = (operation, nth, action)

    def __setitem__(self, key: str, value: int) -> None:
        super().__setitem__(key, value)
        operation, nth, action = self.trigger
        if key == operation and value == nth:
            action()


def test_digitalocean_creation_failing_half_way_destroys_the_first_batch(fake: Any, do: cloudorm.Session) -> None:
    name = unique("half")
    cluster = do.Cluster(name, size=12, runtime=None, progress=False, boot_timeout=60)
    with do.count_requests() as c:
        c.by_operation = _OnCount("POST /v2/droplets", 2,
                                  lambda: fake.fail_next("POST", "/v2/droplets", 500, "boom in batch two"))
        with pytest.raises(ClusterError) as err:
            cluster.save()
    assert c["POST /v2/droplets"] == 2
    assert c["DELETE /v2/droplets/{id}"] == 10  # the first batch was made, then found by tag and destroyed
    assert sorted(err.value.causes, key=lambda n: int(n.rsplit("-", 1)[1])) == [f"{name}-{i}" for i in range(1, 13)]
    assert "boom in batch two" in str(err.value)
    assert droplets_of(fake, name) == []
    assert not any(k["name"] == f"cloudorm-{name}" for k in fake.keys.values())


def test_digitalocean_bad_input_sends_nothing(fake: Any, do: cloudorm.Session) -> None:
    sent = len(fake.requests)
    with do.count_requests() as c:
        for kwargs, field in BAD[::3]:
            kwargs = {"name": "good", "size": 1, **kwargs}
            with pytest.raises(InvalidInput) as err:
                do.Cluster(kwargs.pop("name"), **kwargs).save()
            assert err.value.field == field
    assert c.total == 0 and len(fake.requests) == sent


def test_digitalocean_size_is_capped_before_any_request(fake: Any, do: cloudorm.Session) -> None:
    sent, droplets = len(fake.requests), len(fake.droplets)
    with do.count_requests() as c:
        with pytest.raises(InvalidInput) as err:
            do.Cluster(unique("big"), size=100000, runtime=None, progress=False).save()
        assert err.value.field == "size"
        with pytest.raises(InvalidInput) as err:
            do.Cluster(unique("big"), size=1, region="us-east-1", runtime=None, progress=False).save()
        assert err.value.field == "region" and "nyc3" in str(err.value)  # DigitalOcean's form of a region
    assert c.total == 0 and len(fake.requests) == sent and len(fake.droplets) == droplets


def test_digitalocean_droplet_limit_is_checked_before_anything_is_made(fake: Any, do: cloudorm.Session) -> None:
    name = unique("limit")
    limit = fake.droplet_limit
    fake.droplet_limit = len(fake.droplets) + 2  # the account may have 2 more droplets
    try:
        fake.reset_requests()
        with do.count_requests() as c, pytest.raises(InvalidInput) as err:
            do.Cluster(name, size=3, runtime=None, progress=False, boot_timeout=60).save()
        assert err.value.field == "size" and "only 2 more" in str(err.value)
        assert set(c.by_operation) == {"GET /v2/droplets", "GET /v2/account"}  # reads only: nothing made
        assert fake.create_requests == [] and droplets_of(fake, name) == []
        assert not any(k["name"] == f"cloudorm-{name}" for k in fake.keys.values())

        cluster = do.Cluster(name, size=2, runtime=None, progress=False, boot_timeout=60).save()
        with do.count_requests() as c, pytest.raises(InvalidInput) as err:
            cluster.add_node(1)
        assert err.value.field == "n" and c["POST /v2/droplets"] == 0 and len(droplets_of(fake, name)) == 2
        cluster.delete()
    finally:
        fake.droplet_limit = limit


def test_digitalocean_host_keys_ignore_is_the_explicit_opt_out(fake: Any, do: cloudorm.Session) -> None:
    name = unique("ign")
    fake.reset_requests()
    cluster = do.Cluster(name, size=1, runtime=None, host_keys="ignore", progress=False, boot_timeout=60,
                         monitoring=True).save()
    assert "user_data" not in fake.create_requests[0]  # no host key handed over, none pinned or recorded
    assert fake.create_requests[0]["monitoring"] is True
    assert cluster.run("echo hi", check=True)[0].stdout == "hi\n"
    assert not (cluster.state_path / "known_hosts").exists()
    fake.change_host_key(int(cluster[0].id))
    cluster[0].close()
    assert cluster.run("echo still", check=True)[0].stdout == "still\n"
    cluster.delete()


def test_digitalocean_node_that_never_answers_is_reported_and_destroyed(fake: Any, do: cloudorm.Session) -> None:
    from cloudorm.errors import Timeout

    name = unique("mute")
    fake.boot_fails(f"{name}-2")
    cluster = do.Cluster(name, size=2, runtime=None, progress=False, boot_timeout=3)
    start = time.monotonic()
    with pytest.raises(ClusterError) as err:
        cluster.save()
    assert time.monotonic() - start < 15
    assert list(err.value.causes) == [f"{name}-2"] and isinstance(err.value.causes[f"{name}-2"], Timeout)
    assert droplets_of(fake, name) == [] and cluster.nodes == []


def test_progress_bar_only_when_asked(s: cloudorm.Session, capsys: pytest.CaptureFixture[str]) -> None:
    name = unique("bar")
    s.Cluster(name, size=2, runtime=None, progress=True).save().delete()
    err = capsys.readouterr().err
    assert f"{name}: bootstrap:   0%|" in err and "0/2" in err
    s.Cluster(name, size=2, runtime=None, progress=False).save().delete()
    assert "bootstrap" not in capsys.readouterr().err


def test_requirements_file_is_uploaded_and_installed(s: cloudorm.Session, tmp_path: Path, wheel: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text(f"# pinned\ncloudorm-tiny @ {wheel.as_uri()}\n")
    cluster = s.Cluster(unique("reqf"), size=1, requirements=str(req), progress=False).save()
    out = cluster.run("python -c 'import cloudorm_tiny; print(cloudorm_tiny.VALUE)'; cat .cloudorm/requirements.txt",
                      check=True)
    assert out[0].stdout == f"tiny-42\n{req.read_text()}"
    cluster.delete()
