"""Shared fixtures: real servers on 127.0.0.1 (moto, dynalite) and sessions for every DynamoDB backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.errors import InvalidInput
from cloudorm.providers.local.server import start_server
from cloudorm.testing import Dynalite

FAKE_CREDS = {"aws_access_key_id": "AKIAFAKEKEYID0001234", "aws_secret_access_key": "fake-secret-never-shown-0001",
              "region": "us-east-1"}
REQUIRE_DYNALITE = os.environ.get("CLOUDORM_REQUIRE_DYNALITE") == "1"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server in this process, shared by the tests of the session."""
    server, url = start_server()  # (a bounded wait: a server thread that died fails the tests instead of hanging)
    yield url
    server.stop()


@pytest.fixture(scope="session")
def dynalite_url() -> Iterator[str]:
    """npm's dynalite, an independent DynamoDB implementation (skipped where it is not installed)."""
    if not Dynalite.available():
        if REQUIRE_DYNALITE:
            pytest.fail("dynalite is required (CLOUDORM_REQUIRE_DYNALITE=1) but was not found; "
                        "set CLOUDORM_DYNALITE to its bin script")
        pytest.skip("dynalite is not installed (npm install dynalite; set CLOUDORM_DYNALITE)")
    with Dynalite() as d:
        yield d.url


def _session(kind: str, request: pytest.FixtureRequest) -> cloudorm.Session:
    if kind == "local":
        return cloudorm.Session()
    if kind == "aws":
        return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=request.getfixturevalue("moto_url"))
    if kind == "dynalite":
        return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=request.getfixturevalue("dynalite_url"))
    raise ValueError(kind)


@pytest.fixture(params=["local", "aws"])
def session(request: pytest.FixtureRequest) -> cloudorm.Session:
    """A session on the embedded local cloud, and one through the aws provider pointed at a moto server."""
    return _session(request.param, request)


@pytest.fixture(params=["local", "aws", "dynalite"])
def dynamo(request: pytest.FixtureRequest) -> cloudorm.Session:
    """Sessions for every DynamoDB implementation: the local cloud, aws→moto, aws→dynalite."""
    s = _session(request.param, request)
    s.backend = request.param  # type: ignore[attr-defined]
    return s


def skip_on_dynalite(s: cloudorm.Session, what: str) -> None:
    """dynalite lacks some operations (documented in docs/testing.md)."""
    if getattr(s, "backend", None) == "dynalite":
        pytest.skip(f"dynalite does not implement {what}")


@pytest.fixture
def name() -> str:
    """A unique table name."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def orders(dynamo: cloudorm.Session, name: str) -> Iterator[cloudorm.Table[cloudorm.Item]]:
    """A fresh orders table (customer S, placed N) on every backend."""
    table = dynamo.Table(name, hash_key=("customer", "S"), range_key=("placed", "N")).save()
    yield table
    table.delete(missing_ok=True)


@contextmanager
def sent_params(session: cloudorm.Session) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Record (operation, API parameters) of every DynamoDB call the session makes."""
    calls: list[tuple[str, dict[str, Any]]] = []
    client = session._provider.clients.client("dynamodb")  # type: ignore[attr-defined]

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, params))

    client.meta.events.register("provide-client-params.dynamodb", record, unique_id="test-recorder")
    try:
        yield calls
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", unique_id="test-recorder")


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The test module's ``HANDLER`` source, written as ``src/app.py`` in a fresh directory."""
    path = tmp_path / "src" / "app.py"
    path.parent.mkdir()
    path.write_text(request.module.HANDLER)
    return path


@pytest.fixture
def role(session: cloudorm.Session) -> cloudorm.Role:
    """An execution role Lambda may assume, on the test's session."""
    return session.Role(f"role-{uuid.uuid4().hex[:10]}", service="lambda").save()


Factory = Callable[..., Any]


def running(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie waiting for a parent that does not reap it has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cluster_processes(cluster: str) -> set[int]:
    """The pids of this machine's processes started by cloudorm on the nodes of ``cluster`` (local nodes and sshd
    stand-ins alike: every command on a node sources its environment file, which exports ``CLOUDORM_CLUSTER``)."""
    marker = f"CLOUDORM_CLUSTER={cluster}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        found.add(int(entry))
            except OSError:
                continue  # (gone, or a zombie)
    return found


def assert_refused_before_any_request(session: cloudorm.Session, attempts: list[tuple[Callable[[], Any], str]],
                                      *, hidden: tuple[str, ...] = ()) -> None:
    """Each ``(call, field)`` raises InvalidInput naming ``field`` (its ``.field`` and its message), shows none of
    ``hidden`` in the message, and ``session`` sends no request for any of them."""
    with session.count_requests() as c:
        for attempt, field in attempts:
            with pytest.raises(InvalidInput) as e:
                attempt()
            assert e.value.field == field and field in str(e.value), (field, e.value)
            assert not [h for h in hidden if h in str(e.value)], (field, e.value)
    assert c.total == 0


REQUIRE_AWSCLI = os.environ.get("CLOUDORM_REQUIRE_AWSCLI") == "1"


@pytest.fixture(scope="session")
def aws_cli() -> Callable[..., Any]:
    """The AWS CLI (``pip install awscli``, in a virtual environment of its own: it pins botocore), as a function:
    ``aws_cli(url, "lambda", "invoke", ..., check=True)`` runs ``aws --endpoint-url URL ...`` with throwaway
    credentials and returns the ``subprocess.CompletedProcess`` (text). Found through ``CLOUDORM_AWS_CLI`` or PATH;
    skipped where it is missing (failed when ``CLOUDORM_REQUIRE_AWSCLI=1``, as in CI)."""
    import shutil
    import subprocess

    found = os.environ.get("CLOUDORM_AWS_CLI") or shutil.which("aws")
    if not found:
        if REQUIRE_AWSCLI:
            pytest.fail("the AWS CLI is required (CLOUDORM_REQUIRE_AWSCLI=1) but was not found; set CLOUDORM_AWS_CLI")
        pytest.skip("the AWS CLI is not installed (pip install awscli in a venv; set CLOUDORM_AWS_CLI)")
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.environ.get("HOME", "/tmp"),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_PAGER": "", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def run(url: str, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([found, "--endpoint-url", url, "--output", "json", *args], env=env,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done

    return run


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cluster state (keys, known_hosts, logins) in the test's directory, never in the real home: compute test files
    use it for every test (``pytestmark = pytest.mark.usefixtures("state")``)."""
    path = tmp_path / "state"
    monkeypatch.setenv("CLOUDORM_STATE_DIR", str(path))
    return path
