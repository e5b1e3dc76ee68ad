"""Cluster firewalls for the traffic between a cluster's own nodes (Dask's scheduler and workers on random ports):
the peer rule (DigitalOcean: a tag source; EC2: the group as its own source; the local cloud: recorded),
``allow_peers`` for a firewall made without it, ``open_port`` (one made where the cluster has none, SSH kept open),
their lost answers, bad input before any request, FakeDigitalOcean's rule checks and droplets' private networks,
and hardened nodes letting their peers' private addresses in on every port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm import errors as ce
from cloudorm.compute.hardening import Hardening
from cloudorm.compute.hardening_apply import context
from cloudorm.compute.hardening_render import FIREWALL_FILE, NodeFacts, render
from cloudorm.compute.keys import KeyPair
from cloudorm.providers.contract.compute import covered
from cloudorm.providers.local.compute import LocalComputeService
from cloudorm.providers.local.nodes import LocalNodes
from cloudorm.providers.local.nodes_api import PREFIX
from cloudorm.testing import FakeDigitalOcean
from cloudorm.testing.sshd import _claimed
from cloudorm.waiting import wait_until
from tests.conftest import FAKE_CREDS
from tests.test_local_clusters import served  # noqa: F401  (a fixture)
from tests.test_lost_responses_deletes import LoseFirst
from tests.test_power import DropFirst

pytestmark = pytest.mark.usefixtures("state")  # cluster state in the test's directory (conftest)

SPEC = {"size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64", "region": "nyc3", "key_id": None, "user_data": None}
EVERYWHERE = ["0.0.0.0/0", "::/0"]


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDigitalOcean]:
    with FakeDigitalOcean(root=tmp_path_factory.mktemp("do"), boot_delay=0.1, reboot_delay=0.1) as do:
        yield do


@pytest.fixture
def do(fake: FakeDigitalOcean) -> cloudorm.Session:
    fake.reset_requests()
    return cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)


@pytest.fixture
def aws(moto_url: str) -> cloudorm.Session:
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)


@pytest.fixture
def cluster() -> str:
    return f"c{uuid.uuid4().hex[:10]}"


def rules_sent(fake: FakeDigitalOcean, firewall_id: str) -> int:
    return sum(1 for m, p, _ in fake.requests if m == "POST" and p == f"/v2/firewalls/{firewall_id}/rules")


def raw_firewall(s: cloudorm.Session, body: dict[str, Any]) -> str:
    """Make a firewall through pydo as given (the way an older cloudorm, or someone else, made it); its id."""
    svc: Any = s.compute
    return str(svc._call("POST /v2/firewalls", svc.client.firewalls.create, body)[1]["firewall"]["id"])


def peer(tag: str) -> dict[str, Any]:
    return {"protocol": "tcp", "ports": "0", "sources": {"tags": [tag]}}


def ssh(addresses: list[str]) -> dict[str, Any]:
    return {"protocol": "tcp", "ports": "22", "sources": {"addresses": addresses}}


# ------------------------------------------------------------------------------------------------------ DigitalOcean


def test_digitalocean_peer_rule(do: cloudorm.Session, fake: FakeDigitalOcean, cluster: str) -> None:
    tag = f"cloudorm:{cluster}"
    made = do.compute.create_firewall(cluster, ["203.0.113.0/24"])
    assert fake.firewalls[made]["inbound_rules"] == [ssh(["203.0.113.0/24"]), peer(tag)]
    with do.count_requests() as c:
        assert do.compute.allow_peers(cluster) == made  # there already: only read
    assert rules_sent(fake, made) == 0 and c.total == 1
    do.compute.delete_firewall(made)

    # a firewall an older cloudorm made (SSH only) gets the peer rule added, once
    old_id = raw_firewall(do, {
        "name": f"cloudorm-{cluster}", "inbound_rules": [ssh(["203.0.113.0/24"])], "tags": [tag],
        "outbound_rules": [{"protocol": "tcp", "ports": "all", "destinations": {"addresses": EVERYWHERE}}]})
    assert do.compute.allow_peers(cluster) == old_id
    assert do.compute.allow_peers(cluster) == old_id
    assert fake.firewalls[old_id]["inbound_rules"] == [ssh(["203.0.113.0/24"]), peer(tag)]
    assert fake.firewalls[old_id]["outbound_rules"][0]["ports"] == "0"  # ("all" reads back as "0")
    assert rules_sent(fake, old_id) == 1
    do.compute.delete_firewall(old_id)

    assert do.compute.allow_peers(cluster) is None  # no firewall: nothing is filtered, nothing is made
    assert not fake.firewalls or all(f["name"] != f"cloudorm-{cluster}" for f in fake.firewalls.values())


def test_digitalocean_open_port(do: cloudorm.Session, fake: FakeDigitalOcean, cluster: str) -> None:
    tag = f"cloudorm:{cluster}"
    # without a firewall: one is made, SSH open from everywhere as it was, the peers and the port
    made = do.compute.open_port(cluster, 8786, ["198.51.100.0/24"])
    firewall = fake.firewalls[made]
    assert firewall["tags"] == [tag] and firewall["name"] == f"cloudorm-{cluster}"
    assert firewall["inbound_rules"] == [ssh(EVERYWHERE), {"protocol": "tcp", "ports": "8786", "sources": {
        "addresses": ["198.51.100.0/24"]}}, peer(tag)]
    assert do.compute.find_firewall(cluster) == made

    # again with one more range: only the missing one is added; a range another rule covers is not
    assert do.compute.open_port(cluster, 8786, ["198.51.100.0/24", "192.0.2.7"]) == made
    assert do.compute.open_port(cluster, 22, ["192.0.2.0/24"]) == made  # SSH is open from everywhere already
    assert fake.firewalls[made]["inbound_rules"][3:] == [
        {"protocol": "tcp", "ports": "8786", "sources": {"addresses": ["192.0.2.7/32"]}}]
    assert rules_sent(fake, made) == 1
    do.compute.delete_firewall(made)

    # on the firewall a cluster has: the port is added to it
    made = do.compute.create_firewall(cluster, ["203.0.113.0/24"])
    with do.count_requests() as c:
        assert do.compute.open_port(cluster, 8787, ["2001:db8::/32"]) == made
    assert c.by_operation == {"GET /v2/firewalls": 1, "POST /v2/firewalls/{id}/rules": 1}
    assert fake.firewalls[made]["inbound_rules"][-1] == {"protocol": "tcp", "ports": "8787", "sources": {
        "addresses": ["2001:db8::/32"]}}
    do.compute.delete_firewall(made)


@pytest.mark.parametrize("proxy_class", [LoseFirst, DropFirst], ids=["answer-lost", "request-lost"])
@pytest.mark.parametrize("operation", ["allow_peers", "open_port"])
def test_digitalocean_rules_whose_answer_is_lost(fake: FakeDigitalOcean, cluster: str, operation: str,
                                                 proxy_class: type[LoseFirst]) -> None:
    """Rules that arrived (the answer lost) are read back, not sent again; rules that never arrived are."""
    direct = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)
    tag = f"cloudorm:{cluster}"
    made = raw_firewall(direct, {"name": f"cloudorm-{cluster}", "inbound_rules": [ssh(EVERYWHERE)], "tags": [tag]})
    with proxy_class(fake.url) as proxy:
        proxy.matches = lambda method, path, target, body: method == "POST" and path.endswith("/rules")
        s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=proxy.url)
        if operation == "allow_peers":
            assert s.compute.allow_peers(cluster) == made
        else:
            assert s.compute.open_port(cluster, 8786, ["10.0.0.0/8"]) == made
        assert proxy.lost == 1
    wanted = [ssh(EVERYWHERE), peer(tag)] if operation == "allow_peers" else [
        ssh(EVERYWHERE), {"protocol": "tcp", "ports": "8786", "sources": {"addresses": ["10.0.0.0/8"]}}, peer(tag)]
    assert fake.firewalls[made]["inbound_rules"] == wanted  # each rule once
    direct.compute.delete_firewall(made)


def test_digitalocean_firewall_create_whose_answer_is_lost(fake: FakeDigitalOcean, cluster: str) -> None:
    """``open_port`` on a cluster without a firewall: the create arrived, its answer was lost; the firewall found by
    name is the answer (one firewall, not two)."""
    with LoseFirst(fake.url) as proxy:
        proxy.matches = lambda method, path, target, body: method == "POST" and path == "/v2/firewalls"
        s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=proxy.url)
        made = s.compute.open_port(cluster, 8786, ["10.0.0.0/8"])
        assert proxy.lost == 1
    mine = [f for f in fake.firewalls.values() if f["name"] == f"cloudorm-{cluster}"]
    assert [f["id"] for f in mine] == [made] and len(mine[0]["inbound_rules"]) == 3
    cloudorm.Session("digitalocean", creds={"access_token": fake.token},
                     endpoint_url=fake.url).compute.delete_firewall(made)


@pytest.mark.parametrize(("rule", "message"), [
    ({"protocol": "tcp", "ports": "70000", "sources": {"addresses": EVERYWHERE}}, "must be a port"),
    ({"protocol": "tcp", "ports": "9000-8000", "sources": {"addresses": EVERYWHERE}}, "must be a port"),
    ({"protocol": "tcp", "ports": "http", "sources": {"addresses": EVERYWHERE}}, "must be a port"),
    ({"protocol": "tcp", "sources": {"addresses": EVERYWHERE}}, "ports are required"),
    ({"protocol": "sctp", "ports": "22", "sources": {"addresses": EVERYWHERE}}, "must be tcp, udp or icmp"),
    ({"protocol": "tcp", "ports": "22", "sources": {}}, "source is required"),
    ({"protocol": "tcp", "ports": "22", "sources": {"addresses": ["10.0.0.300"]}}, "not an IP address"),
    ({"protocol": "tcp", "ports": "22", "sources": {"tags": ["no spaces"]}}, "tag name"),
])
def test_the_fake_checks_rules_as_digitalocean_does(do: cloudorm.Session, fake: FakeDigitalOcean, cluster: str,
                                                    rule: dict[str, Any], message: str) -> None:
    made = do.compute.create_firewall(cluster, ["203.0.113.0/24"])
    client = do.compute.client  # type: ignore[attr-defined]
    before = fake.firewalls[made]["inbound_rules"]
    with pytest.raises(ce.InvalidInput, match=message):
        do.compute._call("POST /v2/firewalls/{id}/rules", client.firewalls.add_rules,  # type: ignore[attr-defined]
                         made, {"inbound_rules": [rule]})
    with pytest.raises(ce.InvalidInput, match=message):
        do.compute._call("POST /v2/firewalls", client.firewalls.create,  # type: ignore[attr-defined]
                         {"name": f"x-{cluster}", "inbound_rules": [rule]})
    assert fake.firewalls[made]["inbound_rules"] == before
    # a range and every port are taken; removing rules takes exactly those away
    good = [{"protocol": "tcp", "ports": "8000-9000", "sources": {"addresses": ["10.0.0.0/8"]}},
            {"protocol": "udp", "ports": "all", "sources": {"droplet_ids": [1]}}]
    do.compute._call("POST /v2/firewalls/{id}/rules", client.firewalls.add_rules,  # type: ignore[attr-defined]
                     made, {"inbound_rules": good})
    assert fake.firewalls[made]["inbound_rules"][-1]["ports"] == "0"
    do.compute._call("DELETE /v2/firewalls/{id}/rules", client.firewalls.delete_rules,  # type: ignore[attr-defined]
                     made, {"inbound_rules": [good[0], {**good[1], "ports": "0"}]})
    assert fake.firewalls[made]["inbound_rules"] == before
    do.compute.delete_firewall(made)


def test_droplets_have_a_private_address_of_their_own(do: cloudorm.Session, fake: FakeDigitalOcean,
                                                      cluster: str) -> None:
    made = do.compute.create_nodes(cluster, [f"{cluster}-1", f"{cluster}-2"], SPEC)
    nodes = wait_until(lambda: (lambda n: n if all(r["private_address"] for r in n) else None)(
        do.compute.list_nodes(cluster)), timeout=20, what="private addresses")
    addresses = [n["address"] for n in nodes] + [n["private_address"] for n in nodes]
    assert len(set(addresses)) == 4 and all(a.startswith("127.") for a in addresses)
    privates = {n["private_address"] for n in nodes}
    assert privates <= _claimed  # claimed for this process while the droplets live
    do.compute.delete_nodes([n["id"] for n in made])
    wait_until(lambda: not (privates & _claimed), timeout=20, what="private addresses given back")


def test_hardened_nodes_let_their_peers_private_addresses_in_on_every_port(
        do: cloudorm.Session, cluster: str) -> None:
    made = do.compute.create_nodes(cluster, [f"{cluster}-1", f"{cluster}-2"], SPEC)
    try:
        wait_until(lambda: all(r["private_address"] for r in do.compute.list_nodes(cluster)), timeout=20,
                   what="private addresses")
        c = do.Cluster(cluster, ssh_key=KeyPair.generate("t")).refresh()
        ctx = context(c)
        privates = {n.private_address for n in c.nodes}
        assert None not in privates and privates <= set(ctx.peers) and len(ctx.peers) == 4
        facts = NodeFacts(user="root", admin=True, ssh_port=22, systemd=True, ipv6=True)
        rules = render(Hardening(), facts, ctx)[FIREWALL_FILE]
        line = next(line for line in rules.splitlines() if "elements = {" in line)
        trusted = [e.strip() for e in line.split("{", 1)[1].rstrip(" }").split(",")]  # (neighbours merged)
        assert all(covered(a, trusted) for a in ctx.peers)
        assert "\t\tip saddr @trusted_v4 accept\n" in rules  # every protocol and port (Dask picks them at random)
    finally:
        do.compute.delete_nodes([n["id"] for n in made])


# ------------------------------------------------------------------------------------------------------ EC2


def permissions(aws: cloudorm.Session, group_id: str) -> list[dict[str, Any]]:
    ec2 = aws._provider.clients.client("ec2")  # type: ignore[attr-defined]
    return list(ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"])


def self_rules(perms: list[dict[str, Any]], group_id: str) -> list[tuple[int, int]]:
    return [(p["FromPort"], p["ToPort"]) for p in perms
            if [g["GroupId"] for g in p.get("UserIdGroupPairs") or []] == [group_id]]


def test_ec2_peer_rule_and_allow_peers(aws: cloudorm.Session, cluster: str) -> None:
    made = aws.compute.create_firewall(cluster, ["192.0.2.0/24"])
    assert self_rules(permissions(aws, made), made) == [(0, 65535)]
    with aws.count_requests() as c:
        assert aws.compute.allow_peers(cluster) == made
    assert c["ec2.AuthorizeSecurityGroupIngress"] == 0
    aws.compute.delete_firewall(made)

    # a group an older cloudorm made (SSH only) gets the rule added, once
    ec2 = aws._provider.clients.client("ec2")  # type: ignore[attr-defined]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    old = ec2.create_security_group(GroupName=f"cloudorm-{cluster}", Description="old", VpcId=vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [{"Key": "cloudorm:cluster", "Value": cluster}]}])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=old, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    with aws.count_requests() as c:
        assert aws.compute.allow_peers(cluster) == old
        assert aws.compute.allow_peers(cluster) == old
    assert c["ec2.AuthorizeSecurityGroupIngress"] == 1
    assert self_rules(permissions(aws, old), old) == [(0, 65535)]
    aws.compute.delete_firewall(old)
    assert aws.compute.allow_peers(cluster) is None


def test_ec2_open_port(aws: cloudorm.Session, cluster: str) -> None:
    made = aws.compute.create_firewall(cluster, ["192.0.2.0/24"])
    assert aws.compute.open_port(cluster, 8786, ["203.0.113.0/24", "2001:db8::/32"]) == made
    with aws.count_requests() as c:
        assert aws.compute.open_port(cluster, 8786, ["203.0.113.0/24"]) == made  # there already
    assert c["ec2.AuthorizeSecurityGroupIngress"] == 0
    [port] = [p for p in permissions(aws, made) if p.get("FromPort") == 8786]
    assert ([r["CidrIp"] for r in port["IpRanges"]], [r["CidrIpv6"] for r in port["Ipv6Ranges"]]) == (
        ["203.0.113.0/24"], ["2001:db8::/32"])
    aws.compute.delete_firewall(made)

    made = aws.compute.open_port(cluster, 8787, ["10.0.0.0/8"])  # no group: one is made, SSH from everywhere
    perms = permissions(aws, made)
    assert self_rules(perms, made) == [(0, 65535)]
    [ssh_rule] = [p for p in perms if p.get("FromPort") == 22]
    assert [r["CidrIp"] for r in ssh_rule["IpRanges"]] == ["0.0.0.0/0"]
    assert [r["CidrIpv6"] for r in ssh_rule["Ipv6Ranges"]] == ["::/0"]
    assert aws.compute.find_firewall(cluster) == made
    aws.compute.delete_firewall(made)


def test_ec2_open_port_gives_a_new_group_to_the_clusters_instances(aws: cloudorm.Session, cluster: str) -> None:
    ec2 = aws._provider.clients.client("ec2")  # type: ignore[attr-defined]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    other = ec2.create_security_group(GroupName=f"other-{cluster}", Description="x", VpcId=vpc)["GroupId"]
    key_id = aws.compute.import_key(f"cloudorm-{cluster}", KeyPair.generate("t").public_key)["id"]
    [node] = aws.compute.create_nodes(cluster, [f"{cluster}-1"], {"image": "ami-785db401", "key_id": key_id,
                                                                   "firewall_id": other})
    try:
        made = aws.compute.open_port(cluster, 8786, ["10.0.0.0/8"])
        raw = ec2.describe_instances(InstanceIds=[node["id"]])["Reservations"][0]["Instances"][0]
        assert [g["GroupId"] for g in raw["SecurityGroups"]] == [other, made]
    finally:
        aws.compute.delete_nodes([node["id"]])


@pytest.mark.parametrize("operation", ["allow_peers", "open_port"])
def test_ec2_rules_whose_answer_is_lost(moto_url: str, aws: cloudorm.Session, cluster: str, operation: str) -> None:
    """botocore re-sends AuthorizeSecurityGroupIngress after a lost answer; ``InvalidPermission.Duplicate`` for what
    the first send did is settled by reading the group."""
    ec2 = aws._provider.clients.client("ec2")  # type: ignore[attr-defined]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    old = ec2.create_security_group(GroupName=f"cloudorm-{cluster}", Description="old", VpcId=vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [{"Key": "cloudorm:cluster", "Value": cluster}]}])["GroupId"]
    with LoseFirst(moto_url) as proxy:
        proxy.matches = lambda method, path, target, body: b"Action=AuthorizeSecurityGroupIngress" in body
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=5)
        if operation == "allow_peers":
            assert s.compute.allow_peers(cluster) == old
        else:
            assert s.compute.open_port(cluster, 8786, ["10.0.0.0/8"]) == old
        assert proxy.lost == 1
    perms = permissions(aws, old)
    assert self_rules(perms, old) == [(0, 65535)]
    if operation == "open_port":
        assert [[r["CidrIp"] for r in p["IpRanges"]] for p in perms if p.get("FromPort") == 8786] == [["10.0.0.0/8"]]
    aws.compute.delete_firewall(old)


# ------------------------------------------------------------------------------------------------------ local


def test_local_firewall_records(served: tuple[LocalNodes, LocalComputeService]) -> None:  # noqa: F811
    part, svc = served
    made = svc.create_firewall("web", ["10.0.0.0/8"])
    assert svc.firewall(made) == {"id": made, "name": "cloudorm-web", "cluster": "web", "cidrs": ["10.0.0.0/8"],
                                  "peers": True, "ports": {}}
    assert svc.open_port("web", 8786, ["192.0.2.7"]) == made
    assert svc.open_port("web", 8786, ["192.0.2.7", "::1"]) == made
    assert svc.firewall(made)["ports"] == {"8786": ["192.0.2.7/32", "::1/128"]}
    part.firewalls[made] = {"id": made, "name": "cloudorm-web", "cluster": "web", "cidrs": ["10.0.0.0/8"]}  # older
    assert svc.allow_peers("web") == made and part.firewalls[made]["peers"] is True
    assert svc.allow_peers("db") is None and svc.find_firewall("db") is None
    other = svc.open_port("db", 5432, ["10.0.0.0/8"])  # no firewall: one recorded, SSH from everywhere
    assert svc.firewall(other)["cidrs"] == EVERYWHERE and svc.firewall(other)["peers"] is True
    assert svc.find_firewall("db") == other


@pytest.mark.parametrize("operation", ["AllowPeers", "OpenPort"])
def test_local_firewall_call_whose_answer_is_lost_is_applied_once(operation: str) -> None:
    direct = cloudorm.Session()
    name = f"fw-{uuid.uuid4().hex[:6]}"
    made = direct.compute.create_firewall(name, ["10.0.0.0/8"])
    try:
        with LoseFirst(str(direct.endpoint_url)) as proxy:
            proxy.matches = lambda method, path, target, body: path == PREFIX + operation
            s = cloudorm.Session("local", endpoint_url=proxy.url)
            with s.count_requests() as c:
                if operation == "AllowPeers":
                    assert s.compute.allow_peers(name) == made
                else:
                    assert s.Cluster(name).open_port(8786, ["192.0.2.0/24"]) == made
            assert proxy.lost == 1 and c[f"compute.{operation}"] == 2  # sent again, with the same token
        assert len([f for f in direct.compute.list_clusters() if f == name]) == 1
        if operation == "OpenPort":
            assert direct.compute.firewall(made)["ports"] == {"8786": ["192.0.2.0/24"]}  # type: ignore[attr-defined]
    finally:
        direct.compute.delete_firewall(made)


# ------------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("port", "cidrs", "field"), [
    (0, ["10.0.0.0/8"], "port"), (65536, ["10.0.0.0/8"], "port"), (True, ["10.0.0.0/8"], "port"),
    ("8786", ["10.0.0.0/8"], "port"), (8786, [], "cidrs"), (8786, "10.0.0.0/8", "cidrs"),
    (8786, ["10.0.0.300/8"], "cidrs"), (8786, [None], "cidrs")])
@pytest.mark.parametrize("provider", ["local", "digitalocean", "aws"])
def test_bad_port_or_cidrs_are_refused_before_any_request(provider: str, port: Any, cidrs: Any, field: str,
                                                          request: pytest.FixtureRequest, tmp_path: Path) -> None:
    s = cloudorm.Session() if provider == "local" else request.getfixturevalue("do" if provider == "digitalocean"
                                                                                else "aws")
    c = s.Cluster("web")
    with s.count_requests() as counted:
        with pytest.raises(ce.InvalidInput) as err:
            c.open_port(port, cidrs)
        assert err.value.field == field
        with pytest.raises(ce.InvalidInput) as err:
            s.compute.open_port("web", port, cidrs)
        assert err.value.field == field
    assert counted.total == 0
