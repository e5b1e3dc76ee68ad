"""DigitalOcean compute: real pydo over HTTP against FakeDigitalOcean, whose droplets are real sshd stand-ins."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

import cloudorm
from cloudorm import errors as ce
from cloudorm.compute.keys import KeyPair
from cloudorm.providers.digitalocean.compute import DigitalOceanComputeService
from cloudorm.testing.digitalocean import DEFAULT_SIZES, FakeDigitalOcean
from cloudorm.testing.sshd import sshd_unavailable
from cloudorm.waiting import wait_until

SPEC = {"size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64", "region": "nyc3", "key_id": None, "user_data": None}


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDigitalOcean]:
    """One fake API for the module; droplets boot in 0.1 s."""
    with FakeDigitalOcean(root=tmp_path_factory.mktemp("do"), boot_delay=0.1, reboot_delay=0.1) as do:
        yield do


@pytest.fixture
def s(fake: FakeDigitalOcean) -> cloudorm.Session:
    """A DigitalOcean session on the fake; the fake's request log starts empty."""
    fake.reset_requests()
    return cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)


def do(s: cloudorm.Session) -> DigitalOceanComputeService:
    """The session's compute service as what it is (for the calls beyond ``ComputeService``)."""
    svc = s.compute
    assert isinstance(svc, DigitalOceanComputeService)
    return svc


@pytest.fixture
def cluster() -> str:
    """A unique cluster name."""
    return f"c{uuid.uuid4().hex[:10]}"


def sent(fake: FakeDigitalOcean, method: str, path: str) -> list[dict[str, str]]:
    """The query parameters of each request the fake received for ``method path``."""
    return [q for m, p, q in fake.requests if m == method and p == path]


@contextmanager
def slow(fake: FakeDigitalOcean, seconds: float = 1.0) -> Iterator[None]:
    """Droplets created inside take ``seconds`` to boot and to reboot (so a test sees them in between)."""
    fake.boot_delay = fake.reboot_delay = seconds
    try:
        yield
    finally:
        fake.boot_delay = fake.reboot_delay = 0.1


def wait_active(s: cloudorm.Session, cluster: str, count: int) -> list[dict[str, Any]]:
    """The cluster's node records once ``count`` of them are active with an address."""
    def ready() -> list[dict[str, Any]] | None:
        nodes = s.compute.list_nodes(cluster)
        done = len(nodes) == count and all(n["status"] == "active" and n["address"] for n in nodes)
        return nodes if done else None
    return wait_until(ready, timeout=20, what=f"{count} active nodes of {cluster}")


# ------------------------------------------------------------------------------------------------------ sizes


def test_sizes_every_page_read(s: cloudorm.Session, fake: FakeDigitalOcean) -> None:
    fake.max_per_page = 2
    try:
        with s.count_requests() as c:
            sizes = s.compute.list_sizes()
    finally:
        fake.max_per_page = 200
    assert [x["slug"] for x in sizes] == [x["slug"] for x in DEFAULT_SIZES]
    assert c["GET /v2/sizes"] == 5 == len(sent(fake, "GET", "/v2/sizes"))
    assert [q["page"] for q in sent(fake, "GET", "/v2/sizes")] == ["1", "2", "3", "4", "5"]
    basic = next(x for x in sizes if x["slug"] == "s-1vcpu-1gb")
    assert basic == {"slug": "s-1vcpu-1gb", "price_monthly": 6.0, "vcpus": 1, "memory_mb": 1024, "disk_gb": 25,
                     "regions": basic["regions"], "available": True}
    assert "nyc3" in basic["regions"]
    svc = s.compute
    assert (svc.default_image, svc.default_size, svc.capabilities.accepts_host_keys) == (
        "ubuntu-24-04-x64", "s-1vcpu-1gb", True)
    assert svc.default_user("ubuntu-24-04-x64") == "root" and svc.shell({"id": "1"}) is None


# ------------------------------------------------------------------------------------------------------ droplets


def test_create_in_batches_of_ten_list_by_tag_and_delete(s: cloudorm.Session, fake: FakeDigitalOcean,
                                                         cluster: str) -> None:
    names = [f"{cluster}-{n}" for n in range(1, 24)]
    with s.count_requests() as c:
        records = s.compute.create_nodes(cluster, names, SPEC)
    assert c.total == 3
    bodies = fake.create_requests
    assert [len(b["names"]) for b in bodies] == [10, 10, 3]
    assert [n for b in bodies for n in b["names"]] == names
    for body in bodies:
        assert body["tags"] == [f"cloudorm:{cluster}"]
        assert (body["size"], body["image"], body["region"]) == ("s-1vcpu-1gb", "ubuntu-24-04-x64", "nyc3")
        assert body["monitoring"] is False and body["ipv6"] is False and "user_data" not in body
    assert [r["name"] for r in records] == names
    assert {r["status"] for r in records} == {"pending"} and {r["address"] for r in records} == {None}
    assert {r["cluster"] for r in records} == {cluster}

    fake.max_per_page = 5
    try:
        fake.reset_requests()
        nodes = wait_active(s, cluster, 23)
        pages = sent(fake, "GET", "/v2/droplets")[-5:]
    finally:
        fake.max_per_page = 200
    assert [q["page"] for q in pages] == ["1", "2", "3", "4", "5"]
    assert {q["tag_name"] for q in pages} == {f"cloudorm:{cluster}"}
    assert sorted(n["name"] for n in nodes) == sorted(names)
    assert len({n["address"] for n in nodes}) == 23
    assert all(n["region"] == "nyc3" and n["size"] == "s-1vcpu-1gb" and n["created"] for n in nodes)
    assert cluster in s.compute.list_clusters()

    one = nodes[0]
    assert s.compute.get_node(one["id"]) == one
    ids = [n["id"] for n in nodes]
    s.compute.delete_nodes(ids[:20])
    with s.count_requests() as c:
        s.compute.delete_nodes(ids[:2])  # already gone: no error
    assert c["DELETE /v2/droplets/{id}"] == 2
    with pytest.raises(ce.NotFound):
        s.compute.get_node(ids[0])
    assert len(s.compute.list_nodes(cluster)) == 3
    do(s).delete_cluster_nodes(cluster)
    assert sent(fake, "DELETE", "/v2/droplets")[-1] == {"tag_name": f"cloudorm:{cluster}"}
    assert s.compute.list_nodes(cluster) == []
    assert cluster not in s.compute.list_clusters()  # the tag is left, with no resources


def test_create_actions_complete_when_droplets_are_active(s: cloudorm.Session, fake: FakeDigitalOcean,
                                                          cluster: str) -> None:
    client = do(s).client  # pydo itself, against the fake's action endpoints
    with slow(fake):
        body = client.droplets.create({"names": [f"{cluster}-1"], "region": "nyc3", "size": "s-1vcpu-1gb",
                                       "image": "ubuntu-24-04-x64", "tags": [f"cloudorm:{cluster}"],
                                       "monitoring": True}, enforce_https=False)
    action_id = body["links"]["actions"][0]["id"]
    assert client.actions.get(action_id, enforce_https=False)["action"]["status"] == "in-progress"
    assert body["droplets"][0]["features"] == ["monitoring"]
    wait_active(s, cluster, 1)
    action = client.actions.get(action_id, enforce_https=False)["action"]
    assert (action["status"], action["type"], action["resource_id"]) == ("completed", "create",
                                                                          body["droplets"][0]["id"])
    s.compute.delete_nodes([str(body["droplets"][0]["id"])])


def test_fake_tags_images_and_the_create_limit(s: cloudorm.Session, fake: FakeDigitalOcean, cluster: str) -> None:
    client, http = do(s).client, {"enforce_https": False}
    assert client.images.get("ubuntu-24-04-x64", **http)["image"]["distribution"] == "Ubuntu"
    with pytest.raises(HttpResponseError) as e:  # the fake refuses what DigitalOcean refuses
        client.droplets.create({**SPEC, "names": [f"{cluster}-{n}" for n in range(11)]}, **http)
    assert e.value.status_code == 422
    with pytest.raises(HttpResponseError):  # a tag DigitalOcean would not take
        client.droplets.create({**SPEC, "names": [f"{cluster}-1"], "tags": ["cloudorm/x"]}, **http)
    assert not [d for d in fake.droplets.values() if d.data["name"].startswith(cluster)]
    tag = f"cloudorm:{cluster}"
    assert client.tags.create({"name": tag}, **http)["tag"]["resources"]["count"] == 0
    node = s.compute.create_nodes(cluster, [f"{cluster}-1"], SPEC)[0]
    assert client.tags.get(tag, **http)["tag"]["resources"]["droplets"]["count"] == 1
    foreign = client.droplets.create({**SPEC, "name": "theirs", "tags": [f"cloudorm:Not_{cluster}"]}, **http)
    assert cluster in s.compute.list_clusters()
    assert not [c for c in s.compute.list_clusters() if c.startswith("Not_")]  # no valid cluster name: left out
    s.compute.delete_nodes([str(foreign["droplet"]["id"])])
    s.compute.delete_nodes([node["id"]])
    assert client.tags.get(tag, **http)["tag"]["resources"]["count"] == 0
    client.tags.delete(tag, **http)
    assert client.tags.get(tag, **http)["id"] == "not_found"  # pydo returns a 404's body


def test_monitoring_is_asked_for_when_the_spec_says_so(s: cloudorm.Session, fake: FakeDigitalOcean,
                                                        cluster: str) -> None:
    node = s.compute.create_nodes(cluster, [f"{cluster}-1"], {**SPEC, "monitoring": True})[0]
    assert fake.create_requests[-1]["monitoring"] is True
    assert fake.droplets[int(node["id"])].data["features"] == ["monitoring"]
    s.compute.delete_nodes([node["id"]])


def test_reboot_action(s: cloudorm.Session, fake: FakeDigitalOcean, cluster: str) -> None:
    with slow(fake):
        node = s.compute.create_nodes(cluster, [f"{cluster}-1"], SPEC)[0]
        with pytest.raises(ce.ConflictError, match="cannot be rebooted now: Droplet already has a pending event"
                           ) as e:
            s.compute.reboot_node(node["id"])  # still booting: DigitalOcean refuses another action (422)
        assert e.value.status == 422 and e.value.code == "unprocessable_entity" and e.value.request_id
        wait_active(s, cluster, 1)
        s.compute.reboot_node(node["id"])
        assert sent(fake, "POST", f"/v2/droplets/{node['id']}/actions")
        assert s.compute.get_node(node["id"])["status"] == "off"
    wait_until(lambda: s.compute.get_node(node["id"])["status"] == "active", timeout=10, what="reboot")
    with pytest.raises(ce.NotFound):
        s.compute.reboot_node("999999999")
    with s.count_requests() as c, pytest.raises(ce.Unsupported, match="resizing a node"):  # (node.size = ...)
        s.compute.resize_node(node["id"], "s-2vcpu-2gb")  # type: ignore[attr-defined]
    assert c.total == 0
    s.compute.delete_nodes([node["id"]])


# ------------------------------------------------------------------------------------------------------ keys


def test_import_key_twice_gives_the_same_key(s: cloudorm.Session, fake: FakeDigitalOcean) -> None:
    key = KeyPair.generate()
    first = s.compute.import_key("cloudorm-a", key.public_key)
    assert first["created"] is True and first["fingerprint"] == key.md5_fingerprint
    with s.count_requests() as c:
        again = s.compute.import_key("cloudorm-b", key.public_key)
    assert again == {**first, "created": False}
    assert dict(c.by_operation) == {"POST /v2/account/keys": 1, "GET /v2/account/keys/{id}": 1}
    assert fake.keys[int(first["id"])]["public_key"] == key.public_key
    s.compute.delete_key(first["id"])
    assert int(first["id"]) not in fake.keys
    with pytest.raises(ce.NotFound):
        s.compute.delete_key(first["id"])


def test_a_refused_key_keeps_dos_message(s: cloudorm.Session, fake: FakeDigitalOcean) -> None:
    key = KeyPair.generate()
    fake.fail_next("POST", "/v2/account/keys", 422, "name is too exotic")
    with pytest.raises(ce.InvalidInput, match="name is too exotic") as e:
        s.compute.import_key("cloudorm-c", key.public_key)  # a 422 not for a duplicate: the lookup finds nothing
    assert e.value.status == 422 and e.value.request_id


# ------------------------------------------------------------------------------------------------------ firewalls


def test_firewall_create_find_delete(s: cloudorm.Session, fake: FakeDigitalOcean, cluster: str) -> None:
    assert s.compute.find_firewall(cluster) is None
    firewall_id = s.compute.create_firewall(cluster, ["203.0.113.0/24", "2001:db8::/32"])
    made = fake.firewalls[firewall_id]
    assert made["name"] == f"cloudorm-{cluster}" and made["tags"] == [f"cloudorm:{cluster}"]
    assert made["inbound_rules"] == [{"protocol": "tcp", "ports": "22",
                                      "sources": {"addresses": ["203.0.113.0/24", "2001:db8::/32"]}},
                                     {"protocol": "tcp", "ports": "0", "sources": {"tags": [f"cloudorm:{cluster}"]}}]
    assert {r["protocol"] for r in made["outbound_rules"]} == {"tcp", "udp", "icmp"}
    assert all(r["destinations"]["addresses"] == ["0.0.0.0/0", "::/0"] for r in made["outbound_rules"])
    assert s.compute.find_firewall(cluster) == firewall_id
    assert cluster in s.compute.list_clusters()  # a cluster with a firewall and no droplets yet
    s.compute.delete_firewall(firewall_id)
    assert s.compute.find_firewall(cluster) is None
    assert cluster not in s.compute.list_clusters()
    with pytest.raises(ce.NotFound):
        s.compute.delete_firewall(firewall_id)


def test_an_error_body_pydo_returns_is_raised(s: cloudorm.Session, fake: FakeDigitalOcean, cluster: str) -> None:
    # pydo returns a firewall create's 400 body instead of raising
    fake.fail_next("POST", "/v2/firewalls", 400, "inbound_rules: invalid", code="bad_request")
    with pytest.raises(ce.InvalidInput, match="inbound_rules: invalid") as e:
        s.compute.create_firewall(cluster, ["10.0.0.0/8"])
    assert e.value.code == "bad_request" and e.value.status == 400


# ------------------------------------------------------------------------------------------------------ errors


def test_not_found_keeps_message_and_request_id(s: cloudorm.Session, fake: FakeDigitalOcean) -> None:
    with pytest.raises(ce.NotFound) as e:
        s.compute.get_node("123456")
    assert e.value.message == "The resource you were accessing could not be found."
    assert e.value.code == "not_found" and e.value.status == 404
    assert e.value.request_id and e.value.request_id in str(e.value)
    assert e.value.operation == "GET /v2/droplets/{id}"


def test_unprocessable_create_is_invalid_input(s: cloudorm.Session, fake: FakeDigitalOcean, cluster: str) -> None:
    with pytest.raises(ce.InvalidInput, match="invalid size") as e:
        s.compute.create_nodes(cluster, [f"{cluster}-1"], {**SPEC, "size": "s-99vcpu-1tb"})
    assert e.value.field is None and e.value.status == 422 and e.value.request_id
    assert s.compute.list_nodes(cluster) == []


def test_wrong_token_is_access_denied_and_never_shown(fake: FakeDigitalOcean,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    token = "dop_v1_" + uuid.uuid4().hex * 2
    s = cloudorm.Session("digitalocean", creds={"access_token": token}, endpoint_url=fake.url)
    caplog.set_level(logging.DEBUG)
    fake.fail_next("GET", "/v2/sizes", 404, "kept for an authenticated request")
    with pytest.raises(ce.AccessDenied) as e:
        s.compute.list_sizes()
    assert e.value.status == 401 and e.value.message == "Unable to authenticate you"
    assert token not in str(e.value) and token not in repr(e.value) and token not in repr(s)
    assert token not in caplog.text
    good = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)
    with pytest.raises(ce.NotFound, match="kept for an authenticated request"):
        good.compute.list_sizes()


def test_throttled_request_is_retried_after_retry_after(s: cloudorm.Session, fake: FakeDigitalOcean) -> None:
    fake.fail_next("GET", "/v2/sizes", 429, "API Rate limit exceeded.", headers={"Retry-After": "1"})
    started = time.monotonic()
    with s.count_requests() as c:
        assert len(s.compute.list_sizes()) == len(DEFAULT_SIZES)
    assert time.monotonic() - started >= 1.0
    assert c["GET /v2/sizes"] == 2


def test_throttled_create_waits_for_ratelimit_reset(s: cloudorm.Session, fake: FakeDigitalOcean,
                                                    cluster: str) -> None:
    # a 429 means nothing was created: even a POST is sent again, after DigitalOcean's ratelimit-reset
    reset = int(time.time()) + 2  # an epoch second, as DigitalOcean sends it: 1 to 2 s from now
    fake.fail_next("POST", "/v2/droplets", 429, "API Rate limit exceeded.",
                   headers={"ratelimit-reset": str(reset), "ratelimit-remaining": "0"})
    with s.count_requests() as c:
        records = s.compute.create_nodes(cluster, [f"{cluster}-1"], SPEC)
    assert time.time() >= reset - 0.05  # waited for the reset (not the first retry's zero backoff)
    assert c["POST /v2/droplets"] == 2 and len(records) == 1
    s.compute.delete_nodes([records[0]["id"]])


def test_throttling_that_lasts_is_throttled(fake: FakeDigitalOcean) -> None:
    s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url, max_attempts=2)
    for _ in range(2):
        fake.fail_next("GET", "/v2/sizes", 429, "API Rate limit exceeded.", headers={"Retry-After": "0.05"})
    with s.count_requests() as c, pytest.raises(ce.Throttled, match="Rate limit"):
        s.compute.list_sizes()
    assert c.total == 2


def test_server_errors_retried_except_a_create(s: cloudorm.Session, fake: FakeDigitalOcean, cluster: str) -> None:
    fake.fail_next("GET", "/v2/droplets", 503, "busy")
    with s.count_requests() as c:
        assert s.compute.list_nodes(cluster) == []
    assert c.total == 2
    fake.fail_next("POST", "/v2/droplets", 500, "Server Error")
    with s.count_requests() as c, pytest.raises(ce.CloudError, match="Server Error") as e:
        s.compute.create_nodes(cluster, [f"{cluster}-1"], SPEC)
    assert c.total == 1 and type(e.value) is ce.CloudError  # a create that may have happened is not re-sent


def test_plain_http_only_on_this_machine() -> None:
    s = cloudorm.Session("digitalocean", creds={"access_token": "dop_v1_plain0000"},
                         endpoint_url="http://api.digitalocean.com")
    with s.count_requests() as c, pytest.raises(ce.InvalidInput, match="unencrypted") as e:
        s.compute.list_sizes()
    assert e.value.field == "endpoint_url" and c.total == 0
    for url in ("http://localhost:9", "http://[::1]:9", "https://api.digitalocean.com"):
        other = cloudorm.Session("digitalocean", creds={"access_token": "dop_v1_plain0000"}, endpoint_url=url)
        assert isinstance(other.compute, DigitalOceanComputeService)


def test_an_error_page_that_is_not_json_says_the_status() -> None:
    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = b"<html><body>" + b"upstream unavailable " * 20 + b"</body></html>"
            self.send_response(502)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Proxy) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        s = cloudorm.Session("digitalocean", creds={"access_token": "dop_v1_proxied00"}, max_attempts=1,
                             endpoint_url=f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(ce.CloudError) as e:
            s.compute.list_sizes()
        server.shutdown()
    assert e.value.message == "DigitalOcean answered HTTP 502 Bad Gateway" and e.value.status == 502


def test_unreachable_endpoint(fake: FakeDigitalOcean) -> None:
    s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url="http://127.0.0.1:9",
                         max_attempts=1, connect_timeout=1)
    with pytest.raises(ce.CloudError, match="could not reach DigitalOcean"):
        s.compute.list_sizes()


def test_read_timeout_is_timeout_after_every_attempt() -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections (the kernel's backlog), never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        s = cloudorm.Session("digitalocean", creds={"access_token": "dop_v1_silent0000"}, endpoint_url=url,
                             read_timeout=0.3, max_attempts=2)
        with s.count_requests() as c, pytest.raises(ce.Timeout, match="timed out") as e:
            s.compute.list_sizes()
        assert c.total == 2 and e.value.operation == "GET /v2/sizes"
    finally:
        silent.close()


# ------------------------------------------------------------------------------------------------------ input


@pytest.mark.parametrize("call, field", [
    (lambda c: c.create_nodes("ok", ["a b"], SPEC), "names"),
    (lambda c: c.create_nodes("ok", [], SPEC), "names"),
    (lambda c: c.create_nodes("ok", ["n-1", "n-1"], SPEC), "names"),
    (lambda c: c.create_nodes("ok", ["n-1"], {**SPEC, "region": "New York"}), "region"),
    (lambda c: c.create_nodes("ok", ["n-1"], {**SPEC, "size": "S 1"}), "size"),
    (lambda c: c.create_nodes("ok", ["n-1"], {**SPEC, "image": "../x"}), "image"),
    (lambda c: c.create_nodes("ok", ["n-1"], {**SPEC, "key_id": "abc"}), "key_id"),
    (lambda c: c.create_nodes("ok", ["n-1"], {**SPEC, "user_data": "x" * 70000}), "user_data"),
    (lambda c: c.create_nodes("bad name", ["n-1"], SPEC), "name"),
    (lambda c: c.list_nodes("a/b"), "name"),
    (lambda c: c.find_firewall("Web"), "name"),
    (lambda c: c.find_firewall(5), "name"),
    (lambda c: c.create_firewall("ok", [10]), "allow_ssh_from"),
    (lambda c: c.create_firewall("ok", ["10.0.0.0/99"]), "allow_ssh_from"),
    (lambda c: c.get_node("droplet-1"), "node_id"),
    (lambda c: c.delete_nodes(["1", "x"]), "node_id"),
    (lambda c: c.reboot_node("0"), "node_id"),
    (lambda c: c.import_key("k", "not a key"), "public_key"),
    (lambda c: c.import_key("", KeyPair.generate().public_key), "name"),
    (lambda c: c.delete_key("k1"), "key_id"),
    (lambda c: c.create_firewall("ok", []), "allow_ssh_from"),
    (lambda c: c.create_firewall("ok", ["everywhere"]), "allow_ssh_from"),
    (lambda c: c.delete_firewall("fw-1"), "firewall_id"),
])
def test_bad_input_sends_nothing(s: cloudorm.Session, call: Any, field: str) -> None:
    compute = s.compute
    with s.count_requests() as c, pytest.raises(ce.InvalidInput) as e:
        call(compute)
    assert e.value.field == field
    assert c.total == 0


# ------------------------------------------------------------------------------------------------------ SSH


needs_sshd = pytest.mark.skipif(sshd_unavailable() is not None, reason=f"no sshd stand-ins: {sshd_unavailable()}")


@needs_sshd
def test_droplet_answers_ssh_with_the_host_key_of_its_user_data(s: cloudorm.Session, fake: FakeDigitalOcean,
                                                                 cluster: str, tmp_path: Path) -> None:
    from cloudorm.compute.ssh import KnownHosts, SSHShell, cloud_config

    user, host_key = KeyPair.generate(), KeyPair.generate()
    user_data = cloud_config(host_key)
    key = s.compute.import_key(f"cloudorm-{cluster}", user.public_key)
    node = s.compute.create_nodes(cluster, [f"{cluster}-1"], {**SPEC, "key_id": key["id"], "user_data": user_data})[0]
    assert fake.create_requests[-1]["user_data"] == user_data
    assert fake.create_requests[-1]["ssh_keys"] == [int(key["id"])]
    address = wait_active(s, cluster, 1)[0]["address"]
    assert fake.droplets[int(node["id"])].user_data == user_data
    assert "PRIVATE KEY" not in repr(fake.droplets[int(node["id"])])

    known = KnownHosts(tmp_path / "known_hosts")
    known.pin(address, host_key.public_key)
    shell = SSHShell(address, user=s.compute.default_user("ubuntu-24-04-x64"), key=user, known_hosts=known)
    try:
        shell.wait_ready(10)
        assert shell.run("echo hello; echo oops >&2; exit 3") == (3, "hello\n", "oops\n")
    finally:
        shell.close()

    fake.change_host_key(int(node["id"]))  # a different server now answers at that address
    other = SSHShell(address, user="root", key=user, known_hosts=known)
    try:
        with pytest.raises(ce.HostKeyMismatch):
            other.run("true")
    finally:
        other.close()
    s.compute.delete_nodes([node["id"]])
    s.compute.delete_key(key["id"])
    wait_until(lambda: fake.droplets.get(int(node["id"])) is None, timeout=5, what="delete")


@needs_sshd
def test_reboot_restarts_sshd_with_the_same_key(s: cloudorm.Session, cluster: str) -> None:
    from cloudorm.compute.ssh import KnownHosts, SSHShell, cloud_config

    user, host_key = KeyPair.generate(), KeyPair.generate()
    key = s.compute.import_key(f"cloudorm-{cluster}", user.public_key)
    node = s.compute.create_nodes(cluster, [f"{cluster}-1"],
                                  {**SPEC, "key_id": key["id"], "user_data": cloud_config(host_key)})[0]
    address = wait_active(s, cluster, 1)[0]["address"]
    known = KnownHosts(None)
    known.pin(address, host_key.public_key)
    shell = SSHShell(address, user="root", key=user, known_hosts=known)
    try:
        shell.wait_ready(10)
        assert shell.run("echo before")[0] == 0
        s.compute.reboot_node(node["id"])
        wait_until(lambda: s.compute.get_node(node["id"])["status"] == "active", timeout=10, what="reboot")
        shell.wait_ready(10)
        assert shell.run("echo after") == (0, "after\n", "")
    finally:
        shell.close()
        s.compute.delete_nodes([node["id"]])
        s.compute.delete_key(key["id"])


@needs_sshd
def test_a_boot_that_fails_leaves_no_sshd(s: cloudorm.Session, fake: FakeDigitalOcean, cluster: str) -> None:
    from cloudorm.compute.ssh import SSHShell

    fake.boot_fails(f"{cluster}-1")
    node = s.compute.create_nodes(cluster, [f"{cluster}-1"], SPEC)[0]
    address = wait_active(s, cluster, 1)[0]["address"]
    assert fake.droplets[int(node["id"])].host is None
    shell = SSHShell(address, user="root", key=KeyPair.generate(), known_hosts=None, connect_timeout=0.5)
    try:
        with pytest.raises(ce.Timeout):
            shell.wait_ready(1)
    finally:
        shell.close()
    s.compute.delete_nodes([node["id"]])


@needs_sshd
def test_stop_ends_every_sshd_even_of_a_delete_under_way(tmp_path: Path) -> None:
    with FakeDigitalOcean(root=tmp_path, boot_delay=0.05) as fake:
        s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)
        s.compute.create_nodes("stopping", ["stopping-1", "stopping-2"], SPEC)
        wait_active(s, "stopping", 2)
        droplets = list(fake.droplets.values())
        hosts = [d.host for d in droplets]
        s.compute.delete_nodes([str(droplets[0].id)])  # its sshd is stopped by a thread of the fake
    assert all(h is not None and not h.running for h in hosts)
    assert all(d.host is None for d in droplets) and fake.droplets == {}
