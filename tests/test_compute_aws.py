"""EC2 compute through the aws provider against the moto server over HTTP: key pairs, the cluster's security group,
instances tagged per cluster, image resolution, error mapping, request counts, user data kept out of logs; then a
whole Cluster over real SSH to sshd stand-ins that play the moto instances."""

from __future__ import annotations

import base64
import http.client
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import boto3
import moto.settings
import pytest

import cloudorm
from cloudorm import errors as ce
from cloudorm.compute.keys import KeyPair
from cloudorm.compute.ssh import cloud_config
from cloudorm.testing.sshd import SshdHost, allocate_address, apply_user_data, sshd_unavailable
from tests.conftest import FAKE_CREDS

UBUNTU_1604 = "ami-785db401"
"""An official Canonical image in moto's default AMI list (moto has no Ubuntu 24.04)."""


@pytest.fixture(scope="module")
def s(moto_url: str) -> cloudorm.Session:
    """A session through the aws provider on the moto server."""
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)


@pytest.fixture
def ec2(s: cloudorm.Session) -> Any:
    """The raw botocore EC2 client, to look at what the service made."""
    return s._provider.clients.client("ec2")  # type: ignore[attr-defined]


@pytest.fixture
def cluster() -> str:
    """A fresh cluster name (the moto server is shared by the whole test session)."""
    return f"c{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def key() -> KeyPair:
    """A user key for the nodes."""
    return KeyPair.generate("tester")


def registered(s: cloudorm.Session, cluster: str, key: KeyPair) -> str:
    """Import ``key`` as the cluster's key pair; its id."""
    return str(s.compute.import_key(f"cloudorm-{cluster}", key.public_key)["id"])


def tags(raw: dict[str, Any]) -> dict[str, str]:
    """The tags of an EC2 resource, as a dict."""
    return {t["Key"]: t["Value"] for t in raw.get("Tags") or []}


def instances(ec2: Any, ids: list[str]) -> list[dict[str, Any]]:
    """The EC2 Instances of ``ids``, in that order."""
    pages = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return sorted((i for r in pages for i in r["Instances"]), key=lambda i: ids.index(i["InstanceId"]))


# ---------------------------------------------------------------------------------------------------------- keys

def test_import_key_again_and_conflict(s: cloudorm.Session, cluster: str, key: KeyPair) -> None:
    name = f"cloudorm-{cluster}"
    with s.count_requests() as c:
        first = s.compute.import_key(name, key.public_key)
    assert first["created"] is True and first["name"] == name and first["id"].startswith("key-")
    assert c.by_operation == {"ec2.ImportKeyPair": 1}

    again = s.compute.import_key(name, key.public_key)
    assert again["created"] is False and again["id"] == first["id"]

    other = KeyPair.generate()
    with pytest.raises(ce.AlreadyExists) as err:
        s.compute.import_key(name, other.public_key)
    assert name in str(err.value) and "different public key" in str(err.value)

    # a fresh session (no memory of the import) deletes by id
    fresh = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=s._provider.endpoint_url)
    fresh.compute.delete_key(first["id"])
    with pytest.raises(ce.NotFound):
        s.compute.delete_key(first["id"])
    assert s.compute.import_key(name, other.public_key)["created"] is True


def test_bad_public_key_is_refused_before_any_request(s: cloudorm.Session, cluster: str) -> None:
    with s.count_requests() as c, pytest.raises(ce.InvalidInput) as err:
        s.compute.import_key(f"cloudorm-{cluster}", "not-a-key")
    assert err.value.field == "public_key" and c.total == 0
    with pytest.raises(ce.InvalidInput):  # EC2's own check, mapped
        s.compute.import_key(f"cloudorm-{cluster}", "ssh-ed25519 AAAAnotbase64 x")


# ---------------------------------------------------------------------------------------------------------- firewall

def test_security_group_with_cidrs(s: cloudorm.Session, ec2: Any, cluster: str) -> None:
    group_id = s.compute.create_firewall(cluster, ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"])
    assert s.compute.find_firewall(cluster) == group_id
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert group["GroupName"] == f"cloudorm-{cluster}" and tags(group) == {"cloudorm:cluster": cluster}
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    assert group["VpcId"] == default_vpc
    [ssh] = [p for p in group["IpPermissions"] if p.get("FromPort") == 22]
    assert (ssh["IpProtocol"], ssh["ToPort"]) == ("tcp", 22)
    assert sorted(r["CidrIp"] for r in ssh["IpRanges"]) == ["198.51.100.7/32", "203.0.113.0/24"]
    assert [r["CidrIpv6"] for r in ssh["Ipv6Ranges"]] == ["2001:db8::/32"]
    assert cluster in s.compute.list_clusters()  # a cluster with only a security group is listed

    # again with one more range: the same group, only the missing range is added
    with s.count_requests() as c:
        assert s.compute.create_firewall(cluster, ["203.0.113.0/24", "192.0.2.0/24"]) == group_id
    assert c["ec2.CreateSecurityGroup"] == 0 and c["ec2.AuthorizeSecurityGroupIngress"] == 1
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    cidrs = sorted(r["CidrIp"] for p in group["IpPermissions"] for r in p.get("IpRanges") or [])
    assert cidrs == ["192.0.2.0/24", "198.51.100.7/32", "203.0.113.0/24"]

    # a range an all-traffic rule already lets in is not added again
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}])
    with s.count_requests() as c:
        s.compute.create_firewall(cluster, ["10.9.0.0/16"])
    assert c["ec2.AuthorizeSecurityGroupIngress"] == 0

    s.compute.delete_firewall(group_id)
    assert s.compute.find_firewall(cluster) is None
    assert cluster not in s.compute.list_clusters()
    with pytest.raises(ce.NotFound) as err:
        s.compute.delete_firewall(group_id)
    assert err.value.code == "InvalidGroup.NotFound" and err.value.request_id


@pytest.mark.parametrize("cidrs", [["10.0.0.0/33"], ["not-an-address"], [], "10.0.0.0/8"])
def test_bad_cidrs_are_refused_before_any_request(s: cloudorm.Session, cluster: str, cidrs: Any) -> None:
    with s.count_requests() as c, pytest.raises(ce.InvalidInput) as err:
        s.compute.create_firewall(cluster, cidrs)
    assert err.value.field == "allow_ssh_from" and c.total == 0


# ---------------------------------------------------------------------------------------------------------- nodes

def test_nodes_lifecycle(s: cloudorm.Session, ec2: Any, cluster: str, key: KeyPair) -> None:
    key_id = registered(s, cluster, key)
    group_id = s.compute.create_firewall(cluster, ["192.0.2.0/24"])
    user_data = "#cloud-config\nruncmd: [[touch, /tmp/booted]]\n"
    spec = {"size": "t3.micro", "image": UBUNTU_1604, "key_id": key_id, "user_data": user_data,
            "firewall_id": group_id, "monitoring": True}
    names = [f"{cluster}-1", f"{cluster}-2", f"{cluster}-3"]
    with s.count_requests() as c:
        made = s.compute.create_nodes(cluster, names, spec)
    assert c.by_operation == {"ec2.RunInstances": 1, "ec2.CreateTags": 3}
    assert [n["name"] for n in made] == names
    assert {n["cluster"] for n in made} == {cluster} and {n["size"] for n in made} == {"t3.micro"}
    assert all(n["id"].startswith("i-") and n["address"] and n["private_address"] for n in made)

    ids = [n["id"] for n in made]
    raws = instances(ec2, ids)
    assert [tags(r) for r in raws] == [{"cloudorm:cluster": cluster, "Name": n} for n in names]
    assert {r["KeyName"] for r in raws} == {f"cloudorm-{cluster}"} and {r["ImageId"] for r in raws} == {UBUNTU_1604}
    assert all([g["GroupId"] for g in r["SecurityGroups"]] == [group_id] for r in raws)
    assert {r["Monitoring"]["State"] for r in raws} == {"enabled"}
    assert len({r["ClientToken"] for r in raws}) == 1 and raws[0]["ClientToken"].startswith("cloudorm-")
    sent = ec2.describe_instance_attribute(InstanceId=ids[0], Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(sent).decode() == user_data
    volumes = ec2.describe_volumes(Filters=[{"Name": "tag:cloudorm:cluster", "Values": [cluster]}])["Volumes"]
    assert len(volumes) == 3

    # another cluster's nodes are not this one's
    other = f"{cluster}x"
    s.compute.create_nodes(other, [f"{other}-1"], {**spec, "user_data": None})

    listed = s.compute.list_nodes(cluster)
    assert [n["name"] for n in listed] == names and {n["status"] for n in listed} == {"active"}
    assert {cluster, other} <= set(s.compute.list_clusters())
    got = s.compute.get_node(ids[1])
    assert (got["name"], got["status"], got["address"]) == (names[1], "active", made[1]["address"])
    assert got["image"] == UBUNTU_1604 and got["region"] == "us-east-1" and got["created"] is not None

    with s.count_requests() as c:
        s.compute.reboot_node(ids[0])
    assert c.by_operation == {"ec2.RebootInstances": 1}

    # a missing id among the ones to delete is no error
    s.compute.delete_nodes([ids[0], "i-0123456789abcdef0"])
    assert [n["name"] for n in s.compute.list_nodes(cluster)] == names[1:]
    assert s.compute.get_node(ids[0])["status"] == "deleted"
    with s.count_requests() as c:
        s.compute.delete_nodes([])
    assert c.total == 0

    s.compute.delete_nodes(ids[1:])
    s.compute.delete_nodes([n["id"] for n in s.compute.list_nodes(other)])
    assert s.compute.list_nodes(cluster) == []
    s.compute.delete_firewall(group_id)
    s.compute.delete_key(key_id)
    assert cluster not in s.compute.list_clusters() and other not in s.compute.list_clusters()


def test_without_firewall_the_cluster_group_is_made_open_on_22(s: cloudorm.Session, ec2: Any, cluster: str,
                                                                key: KeyPair) -> None:
    spec = {"image": UBUNTU_1604, "key_id": registered(s, cluster, key), "firewall_id": None}
    [node] = s.compute.create_nodes(cluster, [f"{cluster}-1"], spec)
    group_id = s.compute.find_firewall(cluster)
    assert group_id is not None
    [raw] = instances(ec2, [node["id"]])
    assert [g["GroupId"] for g in raw["SecurityGroups"]] == [group_id]
    assert raw["InstanceType"] == s.compute.default_size
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert sorted((p["FromPort"], [r["CidrIp"] for r in p["IpRanges"]]) for p in group["IpPermissions"]) == [
        (0, []), (22, ["0.0.0.0/0"])]
    [peers] = [p for p in group["IpPermissions"] if p["FromPort"] == 0]  # its nodes reach each other on every port
    assert (peers["ToPort"], [g["GroupId"] for g in peers["UserIdGroupPairs"]]) == (65535, [group_id])

    # a second create reuses the group
    with s.count_requests() as c:
        s.compute.create_nodes(cluster, [f"{cluster}-2"], spec)
    assert c["ec2.CreateSecurityGroup"] == 0 and c["ec2.DescribeSecurityGroups"] == 1
    s.compute.delete_nodes([n["id"] for n in s.compute.list_nodes(cluster)])
    s.compute.delete_firewall(group_id)


Answer = Callable[[str, bytes], "tuple[str, str] | None"]
"""Given the EC2 action and the request body: ``(error code, message)`` to answer with instead, or None to forward."""


Rewrite = Callable[[str, bytes], bytes]
"""Given the EC2 action and moto's answer: the answer to give instead."""


class Intercepting(ThreadingHTTPServer):
    """A real HTTP proxy in front of the moto server that answers some EC2 requests with an error of its choosing
    (``answer``), forwards the others and may change moto's answers (``rewrite``); ``actions`` counts the requests
    per action."""

    def __init__(self, upstream: str, answer: Answer, rewrite: Rewrite | None = None) -> None:
        self.upstream = urlsplit(upstream)
        self.answer = answer
        self.rewrite = rewrite
        self.actions: Counter[str] = Counter()
        super().__init__(("127.0.0.1", 0), _InterceptingHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The proxy's endpoint URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        """Stop serving."""
        self.shutdown()
        self.server_close()


class _InterceptingHandler(BaseHTTPRequestHandler):
    server: Intercepting

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, data: bytes, headers: Sequence[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        action = (parse_qs(body.decode()).get("Action") or [""])[0]
        self.server.actions[action] += 1
        error = self.server.answer(action, body)
        if error is not None:
            code, message = (escape(part) for part in error)
            self._send(400, (f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
                             f"<Message>{message}</Message></Error></Errors><RequestID>proxy-1</RequestID>"
                             "</Response>").encode())
            return
        conn = http.client.HTTPConnection(self.server.upstream.hostname or "127.0.0.1", self.server.upstream.port,
                                          timeout=30)
        conn.request("POST", self.path, body, {k: v for k, v in self.headers.items() if k.lower() != "host"})
        answer = conn.getresponse()
        data = answer.read()
        if self.server.rewrite is not None:
            data = self.server.rewrite(action, data)
        self._send(answer.status, data, answer.getheaders())
        conn.close()


def test_delete_firewall_waits_out_dependency_violation(moto_url: str, cluster: str) -> None:
    refusals = [1]

    def refuse(action: str, body: bytes) -> tuple[str, str] | None:
        if action == "DeleteSecurityGroup" and refusals[0] > 0:
            refusals[0] -= 1
            return "DependencyViolation", "resource has a dependent object"
        return None

    proxy = Intercepting(moto_url, refuse)
    try:
        compute: Any = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url).compute
        group_id = compute.create_firewall(cluster, ["192.0.2.0/24"])
        compute.delete_firewall(group_id)  # refused once, then deleted
        assert proxy.actions["DeleteSecurityGroup"] == 2 and compute.find_firewall(cluster) is None

        group_id = compute.create_firewall(cluster, ["192.0.2.0/24"])
        refusals[0], proxy.actions["DeleteSecurityGroup"] = 100, 0
        compute.firewall_delete_timeout = 0.0
        with pytest.raises(ce.ConflictError) as err:
            compute.delete_firewall(group_id)
        assert err.value.code == "DependencyViolation" and err.value.request_id == "proxy-1"
        assert proxy.actions["DeleteSecurityGroup"] == 1
        refusals[0] = 0
        compute.delete_firewall(group_id)
    finally:
        proxy.close()


def test_delete_firewall_waits_for_the_instances_holding_it(moto_url: str, cluster: str, key: KeyPair) -> None:
    refusals, terminating = [0], [0]  # (moto neither refuses to delete a used group nor shows shutting-down)

    def refuse(action: str, body: bytes) -> tuple[str, str] | None:
        if action == "DeleteSecurityGroup" and refusals[0] > 0:
            refusals[0] -= 1
            return "DependencyViolation", "resource has a dependent object"
        return None

    def slow_termination(action: str, data: bytes) -> bytes:
        if action == "DescribeInstances" and terminating[0] > 0:
            terminating[0] -= 1
            return data.replace(b"<name>terminated</name>", b"<name>shutting-down</name>")
        return data

    proxy = Intercepting(moto_url, refuse, slow_termination)
    try:
        compute: Any = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url).compute
        compute.firewall_poll_interval = 0.05
        spec = {"image": UBUNTU_1604, "key_id": compute.import_key(f"cloudorm-{cluster}", key.public_key)["id"],
                "firewall_id": compute.create_firewall(cluster, ["192.0.2.0/24"])}
        [node] = compute.create_nodes(cluster, [f"{cluster}-1"], spec)

        # the instance is still running: after the deadline, the error names it
        refusals[0], compute.firewall_delete_timeout = 100, 0.2  # (past it, the waiter still looks once)
        with pytest.raises(ce.ConflictError) as err:
            compute.delete_firewall(spec["firewall_id"])
        assert f"{node['id']} (running)" in str(err.value) and err.value.code == "DependencyViolation"
        assert err.value.request_id == "proxy-1"

        # terminating: the waiter looks until it is terminated, then the delete goes through
        compute.delete_nodes([node["id"]])
        refusals[0], terminating[0], compute.firewall_delete_timeout = 1, 2, 30.0
        proxy.actions.clear()
        compute.delete_firewall(spec["firewall_id"])
        assert proxy.actions["DescribeInstances"] == 3  # the group's instances, then the waiter twice
        assert proxy.actions["DeleteSecurityGroup"] == 2 and compute.find_firewall(cluster) is None
        compute.delete_key(spec["key_id"])
    finally:
        proxy.close()


def test_eventual_consistency_and_credentials_through_a_refusing_proxy(moto_url: str, cluster: str,
                                                                      key: KeyPair) -> None:
    refusals: dict[str, list[tuple[str, str]]] = {
        "CreateTags": [("InvalidInstanceID.NotFound", "The instance ID does not exist")],  # a new id, not yet known
        "DescribeKeyPairs": [("AuthFailure", "AWS was not able to validate the provided access credentials")]}

    def refuse(action: str, body: bytes) -> tuple[str, str] | None:
        queue = refusals.get(action)
        return queue.pop(0) if queue else None

    proxy = Intercepting(moto_url, refuse)
    try:
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url)
        key_id = registered(s, cluster, key)
        with pytest.raises(ce.AccessDenied) as denied:
            s.compute.delete_key(key_id)
        assert denied.value.code == "AuthFailure" and "credentials" in str(denied.value)

        spec = {"image": UBUNTU_1604, "key_id": key_id,
                "firewall_id": s.compute.create_firewall(cluster, ["192.0.2.0/24"])}
        [node] = s.compute.create_nodes(cluster, [f"{cluster}-1"], spec)
        assert proxy.actions["CreateTags"] == 2 and node["name"] == f"{cluster}-1"
        assert s.compute.get_node(node["id"])["name"] == f"{cluster}-1"

        refusals["CreateTags"] = [("InvalidInstanceID.NotFound", "The instance ID does not exist")] * 100
        s.compute.tag_timeout = 0.0  # type: ignore[attr-defined]
        with pytest.raises(ce.NotFound) as err:
            s.compute.create_nodes(cluster, [f"{cluster}-2"], spec)
        assert err.value.code == "InvalidInstanceID.NotFound" and err.value.operation == "CreateTags"
        s.compute.delete_nodes([n["id"] for n in s.compute.list_nodes(cluster)])
        s.compute.delete_firewall(spec["firewall_id"])
        s.compute.delete_key(key_id)
    finally:
        proxy.close()


def test_an_error_echoing_the_user_data_does_not_show_it(moto_url: str, cluster: str, key: KeyPair) -> None:
    def echo(action: str, body: bytes) -> tuple[str, str] | None:
        if action != "RunInstances":
            return None
        sent = parse_qs(body.decode())["UserData"][0]
        return "InvalidParameterValue", f"bad user data {sent} (decoded: {base64.b64decode(sent).decode()})"

    proxy = Intercepting(moto_url, echo)
    try:
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url)
        host_key = KeyPair.generate("host")
        user_data = cloud_config(host_key)
        spec = {"image": UBUNTU_1604, "key_id": registered(s, cluster, key), "user_data": user_data,
                "firewall_id": s.compute.create_firewall(cluster, ["192.0.2.0/24"])}
        with pytest.raises(ce.InvalidInput) as err:
            s.compute.create_nodes(cluster, [f"{cluster}-1"], spec)
        text = str(err.value)
        assert text.startswith("bad user data ***") and err.value.request_id == "proxy-1"
        secret_lines = [ln for ln in host_key.private_openssh().splitlines() if ln and not ln.startswith("-----")]
        assert not any(ln in text for ln in secret_lines)
        assert base64.b64encode(user_data.encode()).decode() not in text
        s.compute.delete_firewall(spec["firewall_id"])
    finally:
        proxy.close()


# ---------------------------------------------------------------------------------------------------------- images

def test_named_images_are_resolved_per_architecture(s: cloudorm.Session) -> None:
    compute: Any = s.compute
    assert compute.resolve_image("ubuntu-16.04", "t3.micro") == UBUNTU_1604
    assert compute.resolve_image("ami-0123456789abcdef0", "t3.micro") == "ami-0123456789abcdef0"
    x86 = compute.resolve_image("amazon-linux-2023", "t3.micro")
    arm = compute.resolve_image("amazon-linux-2023", "t4g.micro")
    images = {i["ImageId"]: i for i in s._provider.clients.client("ec2").describe_images(  # type: ignore[attr-defined]
        ImageIds=[x86, arm])["Images"]}
    assert images[x86]["Architecture"] == "x86_64" and images[x86]["Name"].startswith("al2023-ami-2023.")
    assert images[arm]["Architecture"] == "arm64"

    # moto's AMI list has no Ubuntu 24.04 (the default): a clear NotFound, not some other image
    with pytest.raises(ce.NotFound) as err:
        compute.resolve_image(compute.default_image, "t3.micro")
    assert "ubuntu-24.04" in str(err.value) and "image='ami-" in str(err.value)
    assert "'amazon-linux-2023'" in str(err.value)  # a name the region has, offered instead
    with pytest.raises(ce.InvalidInput) as bad_size:
        compute.resolve_image("ubuntu-16.04", "t3.bogus")
    assert bad_size.value.field == "node_size"


def test_default_user(s: cloudorm.Session) -> None:
    compute = s.compute
    assert compute.default_user("ubuntu-24.04") == "ubuntu"
    assert compute.default_user("amazon-linux-2023") == "ec2-user"
    assert compute.default_user(UBUNTU_1604) == "ubuntu"
    al2023 = compute.resolve_image("amazon-linux-2023", "t3.micro")  # an id from moto's list (it changes by release)
    assert compute.default_user(al2023) == "ec2-user"
    with s.count_requests() as c:
        compute.default_user(al2023)
    assert c.total == 0  # remembered

    # nodes connecting in parallel share one look-up
    fresh = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=s._provider.endpoint_url)
    with fresh.count_requests() as c, ThreadPoolExecutor(8) as pool:
        users = list(pool.map(fresh.compute.default_user, ["ami-1e749f67"] * 8))
    assert users == ["ubuntu"] * 8 and c.by_operation == {"ec2.DescribeImages": 1}


def test_bad_image_name_is_refused_before_any_request(s: cloudorm.Session, cluster: str) -> None:
    spec = {"image": "debian-12", "key_id": "key-0123456789abcdef0"}
    with s.count_requests() as c:
        with pytest.raises(ce.InvalidInput) as err:
            s.compute.create_nodes(cluster, [f"{cluster}-1"], spec)
        assert err.value.field == "image"
        with pytest.raises(ce.InvalidInput):
            s.compute.default_user("debian-12")
        with pytest.raises(ce.InvalidInput) as err:
            s.compute.create_nodes(cluster, [f"{cluster}-1"], {**spec, "image": UBUNTU_1604,
                                                               "user_data": "x" * (16 * 1024 + 1)})
        assert err.value.field == "user_data"
        with pytest.raises(ce.InvalidInput) as err:
            s.compute.create_nodes(cluster, [f"{cluster}-1"], {**spec, "image": UBUNTU_1604, "region": "eu-west-1"})
        assert err.value.field == "region"
        for field, bad in (("node_size", {"size": 2}), ("user_data", {"user_data": b"#cloud-config\n"})):
            with pytest.raises(ce.InvalidInput) as err:
                s.compute.create_nodes(cluster, [f"{cluster}-1"], {**spec, "image": "ubuntu-16.04", **bad})
            assert err.value.field == field
    assert c.total == 0


def test_a_cluster_in_another_region_is_refused_before_any_request(s: cloudorm.Session, cluster: str,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDORM_STATE_DIR", str(tmp_path))
    with s.count_requests() as c:
        for region in ("eu-west-1", "nyc3"):
            with pytest.raises(ce.InvalidInput) as err:
                s.Cluster(cluster, size=1, region=region, progress=False).save()
            assert err.value.field == "region" and "us-east-1" in str(err.value)
        with pytest.raises(ce.InvalidInput) as err:
            s.Cluster(cluster, region="eu-west-1").add_node(1)
        assert err.value.field == "region"
    assert c.total == 0


def test_price_per_node_is_unsupported_on_ec2(s: cloudorm.Session, cluster: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with s.count_requests() as c, pytest.raises(ce.Unsupported) as err:
        s.compute.list_sizes()
    assert "node_size='t3.micro'" in str(err.value) and c.total == 0
    with s.count_requests() as c, pytest.raises(ce.Unsupported, match="resizing a node"):  # (node.size = ...)
        s.compute.resize_node("i-0123456789abcdef0", "t3.small")  # type: ignore[attr-defined]
    assert c.total == 0

    monkeypatch.setenv("CLOUDORM_STATE_DIR", str(tmp_path))
    with s.count_requests() as c, pytest.raises(ce.Unsupported) as err:
        s.Cluster(cluster, size=1, price_per_node=20, progress=False).save()
    assert "node_size=" in str(err.value)
    assert set(c.by_operation) <= {"ec2.DescribeInstances"}  # nothing made, nothing registered


# ---------------------------------------------------------------------------------------------------------- errors

@pytest.fixture
def ami_validation() -> Iterator[None]:
    """Make the moto server check AMI ids in RunInstances, as EC2 does (moto skips it by default)."""
    before = moto.settings.ENABLE_AMI_VALIDATION
    moto.settings.ENABLE_AMI_VALIDATION = True
    yield
    moto.settings.ENABLE_AMI_VALIDATION = before


def test_errors_are_mapped(s: cloudorm.Session, cluster: str, key: KeyPair, ami_validation: None) -> None:
    spec = {"image": "ami-0000000000000000f", "key_id": registered(s, cluster, key),
            "firewall_id": s.compute.create_firewall(cluster, ["192.0.2.0/24"])}
    with pytest.raises(ce.NotFound) as err:
        s.compute.create_nodes(cluster, [f"{cluster}-1"], spec)
    assert err.value.code == "InvalidAMIID.NotFound" and err.value.operation == "RunInstances"
    assert err.value.request_id and "ami-0000000000000000f" in str(err.value)
    assert s.compute.list_nodes(cluster) == []
    other = f"{cluster}b"  # no firewall given: the group create_nodes made for the call is removed again
    with s.count_requests() as c, pytest.raises(ce.NotFound):
        s.compute.create_nodes(other, [f"{other}-1"], {**spec, "firewall_id": None})
    assert c["ec2.CreateSecurityGroup"] == 1 and c["ec2.DeleteSecurityGroup"] == 1
    assert s.compute.find_firewall(other) is None
    with pytest.raises(ce.NotFound) as err:
        s.compute.default_user("ami-0000000000000000f")
    assert err.value.code == "InvalidAMIID.NotFound"

    missing = "i-0123456789abcdef0"
    with pytest.raises(ce.NotFound) as err:
        s.compute.get_node(missing)
    assert err.value.code == "InvalidInstanceID.NotFound" and err.value.request_id
    with pytest.raises(ce.NotFound) as err:
        s.compute.reboot_node(missing)
    assert err.value.operation == "RebootInstances"
    with s.count_requests() as c:
        for bad in ("web-1", "", "i-XYZ"):
            with pytest.raises(ce.InvalidInput) as bad_id:
                s.compute.get_node(bad)
            assert bad_id.value.field == "node_id"
        with pytest.raises(ce.InvalidInput):
            s.compute.delete_nodes(["i-0123456789abcdef0", "nope"])
    assert c.total == 0
    s.compute.delete_firewall(spec["firewall_id"])


# ---------------------------------------------------------------------------------------------------------- secrets

def test_user_data_host_key_never_reaches_a_log_line(s: cloudorm.Session, ec2: Any, cluster: str, key: KeyPair,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    host_key = KeyPair.generate("host")
    user_data = cloud_config(host_key)
    private_lines = [ln for ln in host_key.private_openssh().splitlines() if ln and not ln.startswith("-----")]
    encoded = base64.b64encode(user_data.encode()).decode()
    spec = {"image": UBUNTU_1604, "key_id": registered(s, cluster, key), "user_data": user_data,
            "firewall_id": s.compute.create_firewall(cluster, ["192.0.2.0/24"])}
    with caplog.at_level(logging.DEBUG):
        [node] = s.compute.create_nodes(cluster, [f"{cluster}-1"], spec)
        # the user data as EC2 gives it back (base64) is protected before botocore logs the response
        sent = ec2.describe_instance_attribute(InstanceId=node["id"], Attribute="userData")["UserData"]["Value"]
    assert sent == encoded
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "RunInstances" in text and "DescribeInstanceAttribute" in text  # the DEBUG lines were captured
    assert encoded not in text and encoded[:40] not in text
    assert not any(ln in text for ln in private_lines)

    # user data this process never sent (another program launched the instance) is protected when read back
    foreign = f"#cloud-config\nwrite_files: [{{path: /etc/token, content: {uuid.uuid4().hex * 2}}}]\n"
    raw_id = ec2.run_instances(ImageId=UBUNTU_1604, MinCount=1, MaxCount=1, UserData=foreign)["Instances"][0][
        "InstanceId"]
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        back = ec2.describe_instance_attribute(InstanceId=raw_id, Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(back).decode() == foreign
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Response body" in text and back not in text
    ec2.terminate_instances(InstanceIds=[raw_id])
    s.compute.delete_nodes([node["id"]])
    s.compute.delete_firewall(spec["firewall_id"])


# ---------------------------------------------------------------------------------------------------------- over SSH

class MotoInstances:
    """Plays the machines behind the moto server's instances: after each RunInstances of the session, an sshd
    stand-in boots per instance at a free 127.0.0.N with what EC2 would give it (the host key of its user data,
    fetched with DescribeInstanceAttribute, and the public key of its key pair), and an ssh_config ``Host <public
    ip>`` block routes the instance's address there; TerminateInstances powers them off."""

    def __init__(self, s: cloudorm.Session, moto_url: str, root: Path) -> None:
        self.root = root
        self.ssh_config = root / "ssh_config"
        root.mkdir(parents=True, exist_ok=True)
        self.ssh_config.write_text("")
        self.hosts: dict[str, SshdHost] = {}  # instance id -> stand-in
        self.addresses: dict[str, str] = {}  # instance id -> public address
        # the test's own look-ups go through another client, so the session's request counts stay the library's
        self.raw = boto3.client("ec2", endpoint_url=moto_url, region_name="us-east-1",
                                aws_access_key_id=FAKE_CREDS["aws_access_key_id"],
                                aws_secret_access_key=FAKE_CREDS["aws_secret_access_key"])
        self.client = s._provider.clients.client("ec2")  # type: ignore[attr-defined]
        self.client.meta.events.register("after-call.ec2.RunInstances", self._boot, unique_id="test-boot")
        self.client.meta.events.register("after-call.ec2.TerminateInstances", self._power_off,
                                         unique_id="test-power-off")

    def _boot(self, parsed: dict[str, Any], **_: Any) -> None:
        for instance in parsed.get("Instances") or []:
            iid = instance["InstanceId"]
            encoded = self.raw.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]
            host_key, authorized = apply_user_data(base64.b64decode(encoded["Value"]).decode()
                                                   if encoded.get("Value") else None)
            [pair] = self.raw.describe_key_pairs(KeyNames=[instance["KeyName"]], IncludePublicKey=True)["KeyPairs"]
            host = SshdHost(allocate_address(), self.root / iid, host_key=host_key,
                            authorized_keys=[pair["PublicKey"], *authorized]).start()
            self.hosts[iid] = host
            self.addresses[iid] = instance["PublicIpAddress"]
            with self.ssh_config.open("a") as f:
                f.write(f"Host {instance['PublicIpAddress']}\n  HostName {host.address}\n\n")

    def _power_off(self, parsed: dict[str, Any], **_: Any) -> None:
        for change in parsed.get("TerminatingInstances") or []:
            host = self.hosts.get(change["InstanceId"])
            if host is not None:
                host.stop()

    def close(self) -> None:
        """Stop watching the session's client and stop every stand-in."""
        self.client.meta.events.unregister("after-call.ec2.RunInstances", unique_id="test-boot")
        self.client.meta.events.unregister("after-call.ec2.TerminateInstances", unique_id="test-power-off")
        for host in self.hosts.values():
            host.stop()


@pytest.fixture
def machines(s: cloudorm.Session, moto_url: str, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoInstances]:
    """sshd stand-ins for the moto instances the test's session launches (and a fresh cloudorm state dir)."""
    reason = sshd_unavailable()
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("CLOUDORM_STATE_DIR", str(tmp_path / "state"))
    cloud = MotoInstances(s, moto_url, tmp_path / "machines")
    yield cloud
    cloud.close()


def test_cluster_on_ec2_over_ssh(s: cloudorm.Session, machines: MotoInstances, cluster: str, tmp_path: Path,
                                 moto_url: str) -> None:
    data = tmp_path / "data.txt"
    data.write_text("shipped\n")
    c = s.Cluster(cluster, size=2, image="ubuntu-16.04", user="root", ssh_config=machines.ssh_config,
                  files=[data], setup=["echo ready > marker", "python --version >> marker"],
                  allow_ssh_from=["127.0.0.0/8"], progress=False, boot_timeout=60)
    with s.count_requests() as calls:
        c.save()
    assert calls["ec2.RunInstances"] == 1 and calls["ec2.CreateTags"] == 2 and calls["ec2.ImportKeyPair"] == 1
    assert calls["ec2.CreateSecurityGroup"] == 1
    names = [f"{cluster}-1", f"{cluster}-2"]
    assert [n.name for n in c.nodes] == names and {n.status for n in c.nodes} == {"active"}
    assert {n.id for n in c.nodes} == set(machines.hosts)
    assert {n.address for n in c.nodes} == set(machines.addresses.values())

    # each node's host key was pinned from the user data before the first connection, under the EC2 address
    known = (c.state_path / "known_hosts").read_text()
    for node in c.nodes:
        host = machines.hosts[node.id]
        assert host.host_key.public_key.split()[1] in next(ln for ln in known.splitlines()
                                                            if ln.startswith(f"{node.address} "))
    # the instances carry the cluster's group (SSH from the given range) and key pair
    raws = instances(machines.raw, [n.id for n in c.nodes])
    group_id = s.compute.find_firewall(cluster)
    assert {r["KeyName"] for r in raws} == {f"cloudorm-{cluster}"}
    assert all([g["GroupId"] for g in r["SecurityGroups"]] == [group_id] for r in raws)

    # bootstrap ran on every stand-in: files uploaded, the venv made, the setup commands run
    results = c.run('cat data.txt marker; echo "$CLOUDORM_NODE"; pwd', check=True)
    by_node = results.by_node()
    for node in c.nodes:
        out = by_node[node.name].stdout.splitlines()
        assert out[:2] == ["shipped", "ready"] and out[2].startswith("Python 3")
        assert out[3:] == [node.name, "/root"]
        assert (machines.hosts[node.id].home / "marker").is_file()

    (tmp_path / "job.sh").write_text("echo job-$CLOUDORM_NODE > out.txt\n")
    c.put_file(tmp_path / "job.sh", "jobs/job.sh")
    c.run("sh jobs/job.sh", check=True)
    fetched = c.get_file("out.txt", tmp_path / "results")
    assert {name: p.read_text() for name, p in fetched.items()} == {n: f"job-{n}\n" for n in names}
    failed = c.run("test $CLOUDORM_NODE = " + names[0])
    assert [r.exit_code for r in failed] == [0, 1]

    # another session (another process, another day) re-attaches from the tag and the state directory
    again = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url).Cluster(
        cluster, user="root", ssh_config=machines.ssh_config).refresh()
    assert [n.name for n in again.nodes] == names
    assert [r.stdout for r in again.run("cat out.txt")] == [f"job-{n}\n" for n in names]
    assert cluster in [x.name for x in s.clusters()]

    # an instance that comes back with another host key is refused
    changed = c.nodes[1]
    machines.hosts[changed.id].restart()
    with pytest.raises(ce.ClusterError) as err:
        c.run("touch must-not-run")
    assert isinstance(err.value.causes[changed.name], ce.HostKeyMismatch)
    assert not (machines.hosts[changed.id].home / "must-not-run").exists()

    c.delete()
    assert s.compute.list_nodes(cluster) == [] and s.compute.find_firewall(cluster) is None
    assert not machines.raw.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"cloudorm-{cluster}"]}])[
        "KeyPairs"]
    assert not any(h.running for h in machines.hosts.values())
    assert cluster not in s.compute.list_clusters()


@pytest.mark.parametrize("allow", [["127.0.0.1/32"], None], ids=["own-group", "group-made-by-create_nodes"])
def test_failed_bootstrap_on_ec2_destroys_what_it_made(s: cloudorm.Session, machines: MotoInstances, cluster: str,
                                                       ec2: Any, allow: list[str] | None) -> None:
    # without allow_ssh_from, create_nodes makes the cluster's group open on port 22 itself: it goes all the same
    c = s.Cluster(cluster, size=2, image=UBUNTU_1604, user="root", ssh_config=machines.ssh_config, runtime=None,
                  setup=["echo broken >&2; exit 3"], allow_ssh_from=allow, progress=False, boot_timeout=60)
    with pytest.raises(ce.ClusterError) as err:
        c.save()
    assert set(err.value.causes) == {f"{cluster}-1", f"{cluster}-2"}
    assert all(isinstance(e, ce.CommandFailed) for e in err.value.causes.values())
    assert "broken" in str(err.value)
    assert len(machines.hosts) == 2 and not any(h.running for h in machines.hosts.values())
    assert {r["State"]["Name"] for r in instances(ec2, list(machines.hosts))} <= {"shutting-down", "terminated"}
    assert s.compute.list_nodes(cluster) == [] and s.compute.find_firewall(cluster) is None
    assert not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"cloudorm-{cluster}"]}])["KeyPairs"]
