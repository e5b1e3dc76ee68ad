"""The ``cloudorm`` command, run as a real subprocess: --version, serve's refusals and warnings, --verbose, and the
commands that talk to a running local cloud (health, reset, ls, invoke) against ``ServeProcess``."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.listening import server_url
from cloudorm.testing import ServeProcess

HANDLER = """\
def handler(event, context):
    print("got", event)
    return {"echo": event}

def fail(event, context):
    raise ValueError("bad input: " + str(event))
"""


def cloudorm_cmd(*args: str, input: str | None = None, env: dict[str, str] | None = None,
                 module: str = "cloudorm", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cloudorm ARGS`` and return what it did."""
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, input=input,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def closed_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``cloudorm serve ARGS`` in a child process, with its stderr kept: yields its URL and the process (stopped
    at the end, so its stderr can be read)."""
    proc = subprocess.Popen([sys.executable, "-m", "cloudorm", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(60), "cloudorm serve printed nothing in 60 s"
        first = proc.stdout.readline()
        found = re.search(r"http://\S+", first)
        assert found, (first, proc.poll())
        yield found.group(0), proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def get(url: str) -> tuple[int, Any]:
    """GET ``url``: its status and decoded JSON."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with ServeProcess() as s:
        yield s


@pytest.fixture(scope="module")
def deployed(server: ServeProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One of each kind made with cloudorm on ``server``: their names."""
    app = tmp_path_factory.mktemp("app") / "app.py"
    app.write_text(HANDLER)
    s = cloudorm.Session("local", endpoint_url=server.url)
    names = {"table": uid("tbl"), "bucket": uid("bkt"), "function": uid("fn"), "failing": uid("bad"),
             "api": uid("api")}
    s.Table(names["table"], hash_key=("pk", "S")).save()
    s.Bucket(names["bucket"]).save()
    role = s.Role(uid("role"), service="lambda").save()
    fn = s.Function(names["function"], handler="app.handler", source=app, role=role).save()
    s.Function(names["failing"], handler="app.fail", source=app, role=role).save()
    s.Api(names["api"], function=fn, route="/orders").save()
    return names


# ------------------------------------------------------------------------------------------------------ version

def test_version_from_the_package_metadata_both_ways() -> None:
    expected = f"cloudorm {importlib.metadata.version('cloudorm')}"
    for module in ("cloudorm", "cloudorm.cli"):
        done = cloudorm_cmd("--version", module=module)
        assert (done.returncode, done.stdout.strip(), done.stderr) == (0, expected, "")


def test_no_command_prints_the_commands_and_exits_2() -> None:
    done = cloudorm_cmd()
    assert done.returncode == 2
    for command in ("serve", "health", "reset", "ls", "invoke"):
        assert command in done.stderr


# ------------------------------------------------------------------------------------------------------- serve

def refused(*args: str) -> str:
    """Run ``cloudorm serve ARGS`` in a child that reports whether moto was imported; the one stderr line."""
    script = textwrap.dedent(f"""
        import sys
        from cloudorm.cli import main
        code = main({["serve", *args]!r})
        print(code, "moto" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["2", "False"], (done.stdout, done.stderr)  # refused before the local cloud loads
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cloudorm serve: "), done.stderr
    return lines[0]


def test_serve_refuses_a_busy_port_at_once() -> None:
    with socket.socket() as other:  # e.g. LocalStack on 4566
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        assert "already in use" in refused("--port", str(port))
        assert "already in use" in refused("--host", "localhost", "--port", str(port))


def test_serve_refuses_a_bad_host_at_once() -> None:
    assert "does-not-exist.invalid" in refused("--host", "does-not-exist.invalid", "--port", "0")
    assert "not an address of this machine" in refused("--host", "203.0.113.7", "--port", "0")


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_refuses_a_port_out_of_range(port: str) -> None:
    done = cloudorm_cmd("serve", "--port", port)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "is not a TCP port (0 to 65535" in done.stderr


def test_serve_refuses_a_bad_origin_in_one_line() -> None:
    done = cloudorm_cmd("serve", "--port", "0", "--allow-origin", "localhost:3000")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("cloudorm serve: allow_origins: 'localhost:3000' is not an origin")


def local_address() -> str:
    """An address of this machine that is not a loopback one (the wildcard address if none is found)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the interface a route would use
            address = str(s.getsockname()[0])
        except OSError:
            return "0.0.0.0"
    return "0.0.0.0" if address.startswith("127.") else address


def test_a_non_loopback_host_is_warned_about_in_one_line() -> None:
    host = local_address()
    with serving("--host", host, "--port", "0") as (url, proc):
        assert get(f"{url}/_cloudorm/version")[0] == 200
    assert proc.stderr is not None
    assert proc.stderr.read().splitlines() == [
        f"cloudorm serve: WARNING: the local cloud listens on {host}, which is not a loopback address: other "
        "machines can reach it, and it checks no credentials"]
    with serving("--host", "127.0.0.2", "--port", "0") as (url, proc):  # loopback: no warning
        assert get(f"{url}/_cloudorm/version")[0] == 200
    assert proc.stderr is not None and proc.stderr.read() == ""


def test_serve_on_every_address_prints_a_url_clients_can_use() -> None:
    with serving("--host", "0.0.0.0", "--port", "0") as (url, proc):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        assert get(f"{url}/_cloudorm/version")[0] == 200
    assert proc.stderr is not None
    assert "listens on 0.0.0.0, which is not a loopback address" in proc.stderr.read()


@pytest.mark.parametrize(("host", "url"), [("0.0.0.0", "http://127.0.0.1:4566"), ("::", "http://[::1]:4566"),
                                           ("[::]", "http://[::1]:4566"), ("", "http://127.0.0.1:4566"),
                                           ("127.0.0.1", "http://127.0.0.1:4566"), ("::1", "http://[::1]:4566"),
                                           ("192.0.2.7", "http://192.0.2.7:4566"), ("localhost", "http://localhost:4566")])
def test_the_url_of_a_listening_address(host: str, url: str) -> None:
    assert server_url(host, 4566) == url


def test_verbose_logs_each_request_and_the_default_does_not(tmp_path: Path) -> None:
    line = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (\S+) (\S+) (\d{3}) \d+ ms(?: (\S+))?(?: (\S+))?$")
    for verbose in (True, False):
        with serving("--port", "0", *(["--verbose"] if verbose else [])) as (url, proc):
            get(f"{url}/_cloudorm/reset")  # a GET: refused (405)
            s = cloudorm.Session("local", endpoint_url=url)
            s.Table(uid("t"), hash_key=("pk", "S")).save()
        assert proc.stderr is not None
        logged = proc.stderr.read().splitlines()
        if not verbose:
            assert logged == []
            continue
        parsed = [m.groups() for m in map(line.match, logged) if m]
        assert len(parsed) == len(logged), logged
        assert ("GET", "/_cloudorm/reset", "405", None, None) in parsed
        assert ("POST", "/", "200", "dynamodb", "CreateTable") in parsed


# --------------------------------------------------------------------------------------------- health and reset

def test_health_answers_json(server: ServeProcess) -> None:
    status, facts = get(f"{server.url}/_cloudorm/health")
    assert status == 200
    assert facts["status"] == "running" and facts["version"] == importlib.metadata.version("cloudorm")
    assert facts["persisted"] is False and facts["state_dir"] is None and facts["uptime"] >= 0
    assert set(facts["services"]) >= {"dynamodb", "s3", "iam", "lambda", "apigateway"}
    assert "admin" in facts["parts"]
    assert get(f"{server.url}/_cloudorm/version")[1]["version"] == facts["version"]
    assert get(f"{server.url}/_localstack/health")[1]["services"] == facts["services"]
    assert get(f"{server.url}/_cloudorm/reset")[0] == 405  # a reset is a POST

    done = cloudorm_cmd("health", "--json", "--endpoint-url", server.url)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "running"
    done = cloudorm_cmd("health", env={"AWS_ENDPOINT_URL": server.url})  # the endpoint botocore uses too
    assert done.returncode == 0 and done.stdout.startswith(f"{server.url}: running\n")
    assert "state     in memory only" in done.stdout


@pytest.mark.parametrize("command", [["health"], ["ls"], ["invoke", "fn", "{}"]])
def test_commands_say_in_one_line_when_nothing_answers(command: list[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    done = cloudorm_cmd(*command, "--endpoint-url", url)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"cloudorm {command[0]}: nothing answers at {url} (Connection refused): start the local "
                           "cloud with 'cloudorm serve', or give --endpoint-url\n")


def test_reset_empties_the_local_cloud() -> None:
    with ServeProcess() as server:
        s = cloudorm.Session("local", endpoint_url=server.url)
        table = s.Table(uid("t"), hash_key=("pk", "S")).save()
        table.Item(pk="a").save()
        bucket = s.Bucket(uid("b")).save()
        bucket.blob("k").data = b"data"
        done = cloudorm_cmd("reset", "--endpoint-url", server.url)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{server.url}: reset")
        assert list(s.tables()) == [] and list(s.buckets()) == []
        assert s.Table(uid("t"), hash_key=("pk", "S")).save().exists()  # it works on afterwards


def test_reset_of_a_kept_state_needs_yes_and_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with ServeProcess(args=["--state", str(state)]) as server:
        s = cloudorm.Session("local", endpoint_url=server.url)
        name = s.Table(uid("t"), hash_key=("pk", "S")).save().name
        facts = json.loads(cloudorm_cmd("health", "--json", "--endpoint-url", server.url).stdout)
        assert (facts["persisted"], facts["state_dir"]) == (True, str(state))
        done = cloudorm_cmd("reset", "--endpoint-url", server.url)  # no terminal to ask on
        assert done.returncode == 1
        assert done.stderr == (f"cloudorm reset: the local cloud at {server.url} keeps its state in {state}: give "
                               "--yes to erase it\n")
        assert [t.name for t in s.tables()] == [name]
        assert cloudorm_cmd("reset", "--yes", "--endpoint-url", server.url).returncode == 0
    with ServeProcess(args=["--state", str(state)]) as server:  # the reset was kept
        assert list(cloudorm.Session("local", endpoint_url=server.url).tables()) == []


def test_reset_resets_every_part_under_the_persistence_gate() -> None:
    script = textwrap.dedent("""
        import contextlib, json, urllib.request
        import cloudorm
        from cloudorm.providers.local.app import Gate, Part, local_cloud

        class Recorder(Part):
            name = "recorder"
            resets = 0
            def reset(self):
                Recorder.resets += 1

        class RecordingGate(Gate):
            changes = []
            @contextlib.contextmanager
            def request(self, change):
                RecordingGate.changes.append(change)
                yield

        s = cloudorm.Session()
        cloud = local_cloud()
        cloud.add(Recorder())
        cloud.gate = RecordingGate()
        s.Table("orders", hash_key=("pk", "S")).save()
        request = urllib.request.Request(s.endpoint_url + "/_cloudorm/reset", data=b"", method="POST")
        answer = json.loads(urllib.request.urlopen(request).read())
        print(json.dumps({"answer": answer, "resets": Recorder.resets, "tables": [t.name for t in s.tables()],
                          "gated": [c.path for c in RecordingGate.changes if c and c.operation == "Reset"]}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["answer"]["status"] == "reset" and "recorder" in out["answer"]["parts"]
    assert (out["resets"], out["tables"], out["gated"]) == (1, [], ["/_cloudorm/reset"])


# ---------------------------------------------------------------------------------------------------------- ls

def test_ls_shows_an_aligned_table_per_kind(server: ServeProcess, deployed: dict[str, str]) -> None:
    done = cloudorm_cmd("ls", "--endpoint-url", server.url)
    assert done.returncode == 0, done.stderr
    blocks = {block.splitlines()[0].split(" ")[0]: block.splitlines() for block in done.stdout.split("\n\n")}
    assert set(blocks) == {"tables", "buckets", "functions", "APIs", "clusters:"}
    header = blocks["functions"][1]
    assert header.split() == ["NAME", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "MODIFIED"]
    row = next(r for r in blocks["functions"][2:] if r.startswith(deployed["function"] + " "))
    assert row[header.index("RUNTIME"):].startswith("python3.12 ")  # columns line up with the header
    assert row[header.index("HANDLER"):].startswith("app.handler ")
    assert any(r.startswith(deployed["table"] + " ") for r in blocks["tables"][2:])
    assert any(r.startswith(deployed["bucket"] + " ") for r in blocks["buckets"][2:])
    assert any(r.startswith(deployed["api"] + " ") for r in blocks["APIs"][2:])


def test_ls_json_for_scripts(server: ServeProcess, deployed: dict[str, str]) -> None:
    done = cloudorm_cmd("ls", "--json", "--endpoint-url", server.url)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert set(found) == {"tables", "buckets", "functions", "apis", "clusters"}
    names = {kind: [r["name"] for r in records] for kind, records in found.items()}
    assert deployed["table"] in names["tables"] and deployed["bucket"] in names["buckets"]
    assert {deployed["function"], deployed["failing"]} <= set(names["functions"])
    assert deployed["api"] in names["apis"]
    table = next(r for r in found["tables"] if r["name"] == deployed["table"])
    assert (table["keys"], table["status"]) == ("pk (S)", "ACTIVE")

    done = cloudorm_cmd("ls", "table", "functions", "--json", "--endpoint-url", server.url)
    assert list(json.loads(done.stdout)) == ["tables", "functions"]
    done = cloudorm_cmd("ls", "queues", "--endpoint-url", server.url)
    assert done.returncode == 2 and "'queues' is not one of tables, buckets" in done.stderr


def test_ls_shows_clusters_made_by_another_process(server: ServeProcess) -> None:
    s = cloudorm.Session("local", endpoint_url=server.url)
    cluster = s.Cluster(uid("c"), size=1, runtime=None, progress=False).save()
    try:
        done = cloudorm_cmd("ls", "clusters", "--json", "--endpoint-url", server.url)
        assert [r["name"] for r in json.loads(done.stdout)["clusters"]] == [cluster.name]
    finally:
        cluster.delete()


# ------------------------------------------------------------------------------------------------------ invoke

def test_invoke_prints_the_result(server: ServeProcess, deployed: dict[str, str], tmp_path: Path) -> None:
    name = deployed["function"]
    done = cloudorm_cmd("invoke", name, '{"a": 1}', "--endpoint-url", server.url)
    assert (done.returncode, json.loads(done.stdout), done.stderr) == (0, {"echo": {"a": 1}}, "")
    event = tmp_path / "event.json"
    event.write_text('{"from": "file"}')
    done = cloudorm_cmd("invoke", name, f"@{event}", "--log", "--endpoint-url", server.url)
    assert json.loads(done.stdout) == {"echo": {"from": "file"}}
    assert "START RequestId" in done.stderr and "got {'from': 'file'}" in done.stderr
    done = cloudorm_cmd("invoke", name, "-", "--endpoint-url", server.url, input="[1, 2]")
    assert json.loads(done.stdout) == {"echo": [1, 2]}
    done = cloudorm_cmd("invoke", name, "--endpoint-url", server.url)
    assert json.loads(done.stdout) == {"echo": None}


def test_invoke_reports_a_function_error_with_exit_code_1(server: ServeProcess, deployed: dict[str, str]) -> None:
    name = deployed["failing"]
    done = cloudorm_cmd("invoke", name, '{"x": 1}', "--endpoint-url", server.url)
    assert done.returncode == 1
    payload = json.loads(done.stdout)  # Lambda's error payload, as aws lambda invoke writes it
    assert (payload["errorType"], payload["errorMessage"]) == ("ValueError", "bad input: {'x': 1}")
    assert done.stderr == f"cloudorm invoke: {name} failed: ValueError: bad input: {{'x': 1}}\n"


def test_invoke_refuses_bad_events_and_unknown_functions(server: ServeProcess) -> None:
    done = cloudorm_cmd("invoke", "fn", "{not json", "--endpoint-url", server.url)
    assert done.returncode == 2 and done.stderr.startswith("cloudorm invoke: argument EVENT: the text is not JSON")
    done = cloudorm_cmd("invoke", uid("missing"), "--endpoint-url", server.url)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("cloudorm invoke: ") and "Traceback" not in done.stderr


# ------------------------------------------------------------------------------------------------------ logs

def test_logs_prints_what_the_function_printed(server: ServeProcess, deployed: dict[str, str]) -> None:
    name = deployed["function"]
    assert cloudorm_cmd("invoke", name, '{"for": "logs"}', "--endpoint-url", server.url).returncode == 0
    done = cloudorm_cmd("logs", name, "--endpoint-url", server.url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split(" ", 2)[2].startswith("START RequestId") for line in lines)
    assert any("got {'for': 'logs'}" in line for line in lines)
    assert lines[0].split(" ", 1)[0].endswith("Z")  # TIME STREAM MESSAGE, as aws logs tail prints
    done = cloudorm_cmd("logs", name, "--json", "--limit", "1", "--since", "1h", "--endpoint-url", server.url)
    [last] = [json.loads(line) for line in done.stdout.splitlines()]
    assert last["message"].startswith("REPORT RequestId") and last["stream"]
    done = cloudorm_cmd("logs", name, "--since", "yesterday-ish", "--endpoint-url", server.url)
    assert done.returncode == 2 and "neither a duration" in done.stderr
    done = cloudorm_cmd("logs", "no-such-function", "--endpoint-url", server.url)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"cloudorm logs: function 'no-such-function' does not exist on {server.url}\n"


def test_logs_follow_prints_new_lines_once(server: ServeProcess, deployed: dict[str, str]) -> None:
    name = deployed["function"]
    follower = subprocess.Popen([sys.executable, "-m", "cloudorm", "logs", name, "--since", "1s", "--follow",
                                 "--endpoint-url", server.url], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # it has read the log once
        for marker in ("first-follow", "second-follow"):
            assert cloudorm_cmd("invoke", name, json.dumps(marker), "--endpoint-url", server.url).returncode == 0
        assert follower.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while not any("second-follow" in line for line in seen) and time.monotonic() < deadline:
            seen.append(follower.stdout.readline())
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    assert [m for m in ("first-follow", "second-follow") for line in seen if f"got {m}" in line] \
        == ["first-follow", "second-follow"]  # each printed once, in order


def test_ls_on_a_plain_moto_server_lists_what_it_serves() -> None:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        url = f"http://127.0.0.1:{moto.get_host_and_port()[1]}"
        done = cloudorm_cmd("ls", "--endpoint-url", url)
        assert done.returncode == 0, done.stderr
        # (moto's state is this process's: other tests' tables may be listed)
        assert done.stdout.startswith("tables") and done.stdout.endswith("clusters: not served here\n")
        assert done.stderr.startswith("cloudorm ls: clusters: ") and done.stderr.count("\n") == 1
        assert cloudorm_cmd("ls", "clusters", "--endpoint-url", url).returncode == 1  # asked for by name
    finally:
        moto.stop()
