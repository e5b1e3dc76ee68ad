"""Local clusters live in the local cloud's server: every process and Session talking to it sees the same nodes;
each mutating call has a defined outcome when its answer is lost; the part's state survives dump/load."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from werkzeug.serving import make_server

import cloudorm
from cloudorm.compute.keys import KeyPair
from cloudorm.errors import AlreadyExists, CloudError, InvalidInput, NotFound
from cloudorm.providers.contract import Options
from cloudorm.providers.local.app import local_cloud
from cloudorm.providers.local.compute import LocalComputeService, node_home
from cloudorm.providers.local.nodes import LocalNodes
from cloudorm.providers.local.nodes_api import PREFIX
from cloudorm.testing import ServeProcess
from tests.test_lost_responses_deletes import LoseFirst

MUTATING = ("CreateNodes", "ImportKey", "CreateFirewall", "RebootNode", "ResizeNode", "DeleteNodes",
            "DeleteClusterNodes", "DeleteFirewall", "DeleteKey")


pytestmark = pytest.mark.usefixtures("state")  # cluster state in the test's directory (conftest)


def unique(prefix: str) -> str:
    """A cluster name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def service(s: cloudorm.Session) -> LocalComputeService:
    svc = s.compute
    assert isinstance(svc, LocalComputeService)
    return svc


# ------------------------------------------------------------------------------------------------ shared clusters


def test_two_sessions_of_a_process_share_nodes() -> None:
    a, b = cloudorm.Session(), cloudorm.Session()
    name = unique("shared")
    made = a.Cluster(name, size=2, runtime=None, progress=False).save()
    made.run("echo from-a > marker")
    assert name in [c.name for c in b.clusters()]
    seen = b.Cluster(name).refresh()
    assert [n.name for n in seen.nodes] == [f"{name}-1", f"{name}-2"]
    assert [r.stdout for r in seen.run("cat marker")] == ["from-a\n"] * 2
    homes = [node_home(n._co_record or {}) for n in seen.nodes]
    seen.delete()
    assert name not in [c.name for c in a.clusters()] and not any(h.exists() for h in homes)
    with pytest.raises(NotFound):
        made.nodes[0].refresh()


CREATE_IN_ANOTHER_PROCESS = textwrap.dedent("""
    import sys, cloudorm
    s = cloudorm.Session("local", endpoint_url=sys.argv[1])
    cluster = s.Cluster(sys.argv[2], size=2, runtime=None, allow_ssh_from=["10.0.0.0/8"], progress=False).save()
    cluster.run('echo "made by $CLOUDORM_NODE" > marker')
    print(sorted(n.id for n in cluster.nodes))
""")


def test_a_cluster_made_by_another_process_is_listed_driven_and_deleted_here(tmp_path: Path) -> None:
    name = unique("serve")
    with ServeProcess() as server:
        env = {**os.environ, "CLOUDORM_STATE_DIR": str(tmp_path / "other-machine"),
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
        made = subprocess.run([sys.executable, "-c", CREATE_IN_ANOTHER_PROCESS, server.url, name], env=env,
                              capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        ids = json.loads(made.stdout.replace("'", '"'))
        s = cloudorm.Session("local", endpoint_url=server.url)
        assert [c.name for c in s.clusters()] == [name]
        cluster = s.Cluster(name).refresh()
        assert sorted(str(n.id) for n in cluster.nodes) == ids
        results = cluster.run("cat marker; pwd")
        assert [r.stdout.splitlines()[0] for r in results] == [f"made by {name}-1", f"made by {name}-2"]
        homes = [Path(r.stdout.splitlines()[1]) for r in results]
        assert all(h.is_dir() and str(h) != str(tmp_path) for h in homes)
        assert s.compute.find_firewall(name) is not None and s.compute.find_key(f"cloudorm-{name}") is not None
        cluster.delete()
        assert list(s.clusters()) == [] and not any(h.exists() for h in homes)
        assert s.compute.find_firewall(name) is None and s.compute.find_key(f"cloudorm-{name}") is None


# ------------------------------------------------------------------------------------------------ lost answers


@pytest.mark.parametrize("operation", MUTATING)
def test_a_compute_call_whose_answer_is_lost_is_applied_once(operation: str) -> None:
    direct = cloudorm.Session()
    name = unique("lost")
    with LoseFirst(str(direct.endpoint_url)) as proxy:
        proxy.matches = lambda method, path, target, body: path == PREFIX + operation
        s = cloudorm.Session("local", endpoint_url=proxy.url)
        with s.count_requests() as c:
            cluster = s.Cluster(name, size=2, runtime=None, allow_ssh_from=["10.0.0.0/8"], progress=False).save()
            assert [n["name"] for n in direct.compute.list_nodes(name)] == [f"{name}-1", f"{name}-2"]
            key = direct.compute.find_key(f"cloudorm-{name}")
            assert key is not None and direct.compute.find_firewall(name) is not None
            node = cluster[0].reboot()
            assert service(direct).reboots(str(node.id)) == 1
            node.size = "s-1vcpu-2gb"
            assert node.save().size == "s-1vcpu-2gb"
            cluster[1].delete()
            assert [n["name"] for n in direct.compute.list_nodes(name)] == [f"{name}-1"]
            cluster.delete()
        assert proxy.lost == 1 and c[f"compute.{operation}"] == 2  # its answer lost once, sent again once
    assert direct.compute.list_nodes(name) == [] and name not in direct.compute.list_clusters()
    assert direct.compute.find_key(f"cloudorm-{name}") is None and direct.compute.find_firewall(name) is None


def test_a_retried_request_is_answered_as_the_first_time_without_a_second_effect() -> None:
    s = cloudorm.Session()
    name = unique("token")
    pool = urllib3.PoolManager()
    body = json.dumps({"cluster": name, "names": [f"{name}-1"], "size": "s-1vcpu-1gb", "token": uuid.uuid4().hex})
    first, again = (pool.request("POST", f"{s.endpoint_url}{PREFIX}CreateNodes", body=body) for _ in range(2))
    assert first.status == again.status == 200 and first.data == again.data
    assert [n["name"] for n in s.compute.list_nodes(name)] == [f"{name}-1"]
    fresh = json.dumps({**json.loads(body), "token": uuid.uuid4().hex})  # another request: the name is taken
    taken = pool.request("POST", f"{s.endpoint_url}{PREFIX}CreateNodes", body=fresh)
    assert taken.status == 409 and json.loads(taken.data)["error"]["type"] == "AlreadyExists"
    with pytest.raises(AlreadyExists, match=f"{name}-1"):
        s.compute.create_nodes(name, [f"{name}-1"], {"size": "s-1vcpu-1gb"})
    s.compute.delete_cluster_nodes(name)


# ------------------------------------------------------------------------------------------------ the API's errors


def test_errors_come_back_as_cloudorms_with_their_message() -> None:
    s = cloudorm.Session()
    with pytest.raises(NotFound, match="node 'nope' does not exist") as missing:
        s.compute.get_node("nope")
    assert missing.value.provider == "local" and missing.value.operation == "GetNode"
    with pytest.raises(NotFound, match="key 'nope'"):
        s.compute.delete_key("nope")
    with pytest.raises(InvalidInput) as bad:
        s.compute.create_nodes(unique("bad"), ["a-1", "a-1"], {"size": "s-1vcpu-1gb"})
    assert bad.value.field == "names"
    pool, url = urllib3.PoolManager(), f"{s.endpoint_url}{PREFIX}"
    for method, path, body, status, field in [("POST", "GetNode", b"[1]", 400, "body"),
                                              ("POST", "GetNode", b"{", 400, "body"),
                                              ("POST", "GetNode", b"{}", 400, "node_id"),
                                              ("GET", "ListClusters", None, 400, "method"),
                                              ("POST", "Nothing", b"{}", 404, None)]:
        answer = pool.request(method, url + path, body=body)
        error = json.loads(answer.data)["error"]
        assert (answer.status, error["field"]) == (status, field), error
        assert error["type"] == ("NotFound" if status == 404 else "InvalidInput") and error["message"]


def test_a_server_without_the_compute_api_or_none_at_all_is_a_clear_error() -> None:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        bare = LocalComputeService("local", f"http://{host}:{port}")
        with pytest.raises(CloudError, match="not cloudorm's compute API"):
            bare.list_clusters()
    finally:
        moto.stop()
    s = cloudorm.Session("local", endpoint_url=f"http://{host}:{port}", max_attempts=2)  # (nothing listens now)
    with s.count_requests() as c, pytest.raises(CloudError, match=r"no answer from the local cloud .* 2 attempt"):
        s.compute.list_clusters()
    assert c["compute.ListClusters"] == 2


# ------------------------------------------------------------------------------------------------ persistence


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LocalNodes, LocalComputeService]]:
    """A compute part of its own with its directories under ``tmp_path / "homes"``, on a real HTTP server."""
    part = LocalNodes(local_cloud())
    part.home_root = tmp_path / "homes"

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        handler = part.route(str(environ["REQUEST_METHOD"]), str(environ["PATH_INFO"]))
        assert handler is not None
        return handler(environ, start_response)

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield part, LocalComputeService("local", f"http://127.0.0.1:{httpd.server_port}", options=Options())
    finally:
        httpd.shutdown()
        httpd.server_close()
        part.reset()


def test_dump_and_load_keep_clusters_and_reset_removes_them(served: tuple[LocalNodes, LocalComputeService],
                                                             tmp_path: Path) -> None:
    part, svc = served
    nodes = svc.create_nodes("kept", ["kept-1", "kept-2"], {"size": "s-1vcpu-2gb", "region": "nyc3"})
    homes = [node_home(n) for n in nodes]
    assert all(h.parent == tmp_path / "homes" and h.is_dir() for h in homes)
    svc.shell(dict(nodes[0])).run("echo kept > file")
    key = svc.import_key("cloudorm-kept", KeyPair.generate().public_key)
    firewall = svc.create_firewall("kept", ["10.0.0.0/8"])
    svc.reboot_node(nodes[0]["id"])
    saved = pickle.dumps(part.dump())
    homes[1].rmdir()  # (lost while the server was down: made again, empty, on load)

    restarted = LocalNodes(local_cloud())
    restarted.home_root = tmp_path / "homes"
    restarted.load(pickle.loads(saved))
    part.load(pickle.loads(saved))  # (what the served part answers from now: the loaded state)
    assert svc.list_clusters() == ["kept"] and restarted.list_clusters({}, []) == ["kept"]
    assert [n["id"] for n in svc.list_nodes("kept")] == [n["id"] for n in nodes]
    assert svc.get_node(nodes[0]["id"])["created"] == nodes[0]["created"]
    assert svc.reboots(nodes[0]["id"]) == 1 and svc.find_firewall("kept") == firewall
    assert svc.find_key("cloudorm-kept") == {**key, "created": False}
    assert svc.shell(dict(nodes[0])).run("cat file")[1] == "kept\n" and homes[1].is_dir()

    part.reset()
    assert svc.list_clusters() == [] and svc.find_key("cloudorm-kept") is None
    assert not any(h.exists() for h in homes)
    assert svc.node_quota() == 1000
