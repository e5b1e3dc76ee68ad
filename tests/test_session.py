"""Sessions and providers: credentials, endpoints, options, secrets kept out of sight, errors mapped."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import uuid

import pytest

import cloudorm
from cloudorm.errors import CloudError, InvalidInput, NotFound, Unsupported
from tests.conftest import FAKE_CREDS

SECRET = FAKE_CREDS["aws_secret_access_key"]


@pytest.mark.parametrize(("provider", "creds", "field"), [
    ("nope", None, "provider"),
    ("aws", {"aws_access_key_id": "AKIA1234"}, "aws_secret_access_key"),
    ("aws", {"aws_secret_access_key": "x"}, "aws_access_key_id"),
    ("aws", {**FAKE_CREDS, "password": "x"}, "password"),
    ("aws", {**FAKE_CREDS, "region": 5}, "region"),
    ("wasabi", {"aws_access_key_id": "AKIA1234"}, "aws_secret_access_key"),
    ("digitalocean", None, "access_token"),
    ("digitalocean", {"region": "nyc3"}, "access_token"),
    ("digitalocean", {"access_token": "t", "spaces_key": "k"}, "spaces_secret"),
    ("digitalocean", {"access_token": "t", "aws_access_key_id": "k"}, "aws_access_key_id"),
    ("local", {"aws_access_key_id": "k"}, "aws_secret_access_key"),
])
def test_bad_credentials_name_the_key(provider: str, creds: dict[str, object] | None, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        cloudorm.Session(provider, creds=creds)  # type: ignore[arg-type]
    assert e.value.field == field


def test_creds_must_be_a_dict() -> None:
    with pytest.raises(InvalidInput, match="dict"):
        cloudorm.Session("aws", creds="key:secret")  # type: ignore[arg-type]


@pytest.mark.parametrize(("options", "field"), [
    ({"retries": 3}, "retries"), ({"max_attempts": 0}, "max_attempts"), ({"read_timeout": -1}, "read_timeout"),
    ({"connect_timeout": "5"}, "connect_timeout"), ({"max_pool_connections": True}, "max_pool_connections"),
    ({"read_timeout": float("inf")}, "read_timeout"), ({"read_timeout": float("nan")}, "read_timeout"),
    ({"read_timeout": True}, "read_timeout"), ({"read_timeout": 1e10}, "read_timeout"),
    ({"connect_timeout": float("-inf")}, "connect_timeout"), ({"connect_timeout": 0}, "connect_timeout"),
])
def test_bad_options_name_the_option(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        cloudorm.Session("aws", creds=FAKE_CREDS, **options)  # type: ignore[arg-type]
    assert e.value.field == field


def test_bad_timeouts_are_refused_on_every_provider() -> None:
    for provider, creds in (("local", None), ("aws", FAKE_CREDS), ("digitalocean", {"access_token": "dop_v1_x"})):
        with pytest.raises(InvalidInput) as e:
            cloudorm.Session(provider, creds=creds, read_timeout=float("inf"))
        assert e.value.field == "read_timeout" and "inf" in str(e.value)
    cloudorm.Session("aws", creds=FAKE_CREDS, read_timeout=30, connect_timeout=2.5)  # whole or fractional seconds


def test_waits_refuse_negative_infinite_and_nan_timeouts() -> None:
    from cloudorm.waiting import wait_until

    calls: list[int] = []
    for timeout in (-1, float("inf"), float("nan"), True, "5"):
        with pytest.raises(InvalidInput) as e:
            wait_until(lambda: calls.append(1), timeout=timeout, what="x")  # type: ignore[arg-type]
        assert e.value.field == "timeout" and "timeout" in str(e.value)
    assert calls == []  # refused before the first look
    assert wait_until(lambda: "done", timeout=0, what="x") == "done"  # 0: look once


@pytest.mark.parametrize("endpoint", ["localhost:4566", {"dynamo": "http://x"}, {"dynamodb": "ftp://x"}, 5])
def test_bad_endpoints(endpoint: object) -> None:
    with pytest.raises(InvalidInput, match="endpoint_url"):
        cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=endpoint)  # type: ignore[arg-type]


def test_repr_shows_no_secret() -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url="http://127.0.0.1:1")
    text = repr(s)
    assert SECRET not in text and FAKE_CREDS["aws_access_key_id"] not in text
    assert "…1234" in text and "us-east-1" in text
    do = cloudorm.Session("digitalocean", creds={"access_token": "dop_v1_supersecrettoken", "region": "ams3",
                                                  "spaces_key": "SPACESKEY123", "spaces_secret": "spaces-secret"})
    assert "supersecret" not in repr(do) and "spaces-secret" not in repr(do) and do.region == "ams3"
    assert "supersecret" not in repr(do._provider.credentials)  # type: ignore[attr-defined]


def test_errors_and_logs_never_show_the_secret(moto_url: str, caplog: pytest.LogCaptureFixture) -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    with caplog.at_level(logging.DEBUG), pytest.raises(NotFound) as e:
        s.Table(f"missing-{uuid.uuid4().hex[:6]}").refresh()
    assert e.value.request_id and e.value.code == "ResourceNotFoundException" and e.value.provider == "aws"
    assert e.value.operation == "DescribeTable" and e.value.status == 400
    assert SECRET not in str(e.value) and SECRET not in repr(e.value)
    assert caplog.records and SECRET not in caplog.text


def test_region_precedence() -> None:
    assert cloudorm.Session("aws", creds=FAKE_CREDS).region == "us-east-1"
    assert cloudorm.Session("aws", creds={**FAKE_CREDS, "region": "eu-west-1"}).region == "eu-west-1"
    assert cloudorm.Session("aws", creds=FAKE_CREDS, region="ap-south-1").region == "ap-south-1"


def test_clients_are_made_once_thread_safely_with_standard_retries(moto_url: str) -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url={"dynamodb": moto_url}, max_attempts=7,
                         read_timeout=12)
    seen: list[tuple[object, object]] = []
    barrier = threading.Barrier(16)

    def grab() -> None:
        barrier.wait()
        seen.append((s._provider.clients.client("dynamodb"), s.nosql))  # type: ignore[attr-defined]

    threads = [threading.Thread(target=grab) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    clients = {id(client) for client, _ in seen}
    services = {id(service) for _, service in seen}
    assert len(seen) == 16 and len(clients) == 1 and len(services) == 1
    config = s._provider.clients.client("dynamodb").meta.config  # type: ignore[attr-defined]
    assert config.retries == {"mode": "standard", "total_max_attempts": 7}
    assert config.read_timeout == 12 and config.connect_timeout == 5


def test_one_session_from_many_threads(session: cloudorm.Session, name: str) -> None:
    t = session.Table(name, hash_key=("id", "N")).save()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                t.put({"id": n * 100 + i})
                assert t.get(id=n * 100 + i) is not None
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and t.scan().count() == 160


def test_local_sessions_share_one_embedded_server() -> None:
    a, b = cloudorm.Session(), cloudorm.Session()
    assert repr(a) == repr(b) and "127.0.0.1" in repr(a)
    name = f"shared-{uuid.uuid4().hex[:8]}"
    a.Table(name, hash_key="pk").save().put({"pk": "x"})
    assert b.Table(name).get(pk="x") is not None


def test_cloudorm_serve_shares_state_across_processes() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cloudorm.cli", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ")[1].strip()
        assert url.startswith("http://127.0.0.1:")
        name = f"served-{uuid.uuid4().hex[:8]}"
        writer = (f"import cloudorm; s = cloudorm.Session('local', endpoint_url={url!r}); "
                  f"s.Table({name!r}, hash_key='pk').save().put({{'pk': 'from-another-process'}})")
        subprocess.run([sys.executable, "-c", writer], check=True, timeout=60)
        s = cloudorm.Session("local", endpoint_url=url)
        assert s.Table(name).get(pk="from-another-process") is not None
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def test_connection_errors_are_mapped() -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url="http://127.0.0.1:9", max_attempts=1,
                         connect_timeout=1)
    with pytest.raises(CloudError) as e:
        s.Table("orders", hash_key="pk").get(pk="a")
    assert e.value.provider == "aws" and "127.0.0.1:9" in str(e.value)


def test_close_releases_clients_and_the_session_still_works(session: cloudorm.Session, name: str) -> None:
    t = session.Table(name, hash_key="pk").save()
    before = session._provider.clients.client("dynamodb")  # type: ignore[attr-defined]
    session.close()
    assert session._provider.clients.client("dynamodb") is not before  # type: ignore[attr-defined]
    t.put({"pk": "a"})
    assert t.get(pk="a") is not None


def test_local_session_exposes_its_endpoint() -> None:
    url = cloudorm.Session().endpoint_url
    assert url is not None and url.startswith("http://127.0.0.1:")
    assert cloudorm.Session("local", endpoint_url=url).endpoint_url == url
    assert cloudorm.Session("aws", creds=FAKE_CREDS).endpoint_url is None
    do = cloudorm.Session("digitalocean", creds={"access_token": "t0ken-value"}, endpoint_url="http://127.0.0.1:1")
    assert do.endpoint_url == "http://127.0.0.1:1"


def test_operations_an_emulator_lacks_are_unsupported(dynalite_url: str) -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=dynalite_url)
    t = s.Table(f"t-{uuid.uuid4().hex[:8]}", hash_key="pk").save()
    with pytest.raises(Unsupported, match="TransactWriteItems") as e, s.transaction() as tx:
        tx.put(t, {"pk": "a"})
    assert e.value.code == "UnknownOperationException" and e.value.operation == "TransactWriteItems"
    assert e.value.area == "TransactWriteItems" and e.value.status == 400


def test_a_local_session_with_endpoints_per_service_stays_local() -> None:
    s = cloudorm.Session("local", endpoint_url={"s3": "http://127.0.0.1:1"})
    assert s.endpoint_url == cloudorm.Session().endpoint_url
    name = f"testing-{uuid.uuid4().hex[:6]}"
    with pytest.raises(NotFound) as e:
        s.Table(name).refresh()
    assert name in str(e.value)  # the local cloud's default key ("testing") is not blanked out


def test_errors_survive_pickling() -> None:
    import pickle

    from cloudorm import errors as ce

    samples = [ce.InvalidInput("f", "bad", code="X", request_id="r"), ce.Unsupported("aws", "nosql"),
               ce.BatchError("b", [1], code="C"), ce.TransactionError("t", [None, ce.TransactionReason(1, "C")])]
    for err in samples:
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err) and back.__dict__.keys() == err.__dict__.keys()


def test_a_session_token_alone_is_rejected() -> None:
    with pytest.raises(InvalidInput) as e:
        cloudorm.Session("aws", creds={"aws_session_token": "tok-0123456789"})
    assert e.value.field == "aws_access_key_id"


def test_debug_logs_hide_the_session_token_and_key_id(moto_url: str, caplog: pytest.LogCaptureFixture) -> None:
    creds = {**FAKE_CREDS, "aws_session_token": "session-token-never-shown-42"}
    s = cloudorm.Session("aws", creds=creds, endpoint_url=moto_url)
    with caplog.at_level(logging.DEBUG):
        s.Table(f"t-{uuid.uuid4().hex[:6]}", hash_key="pk").save()
    text = caplog.text
    assert "x-amz-security-token" in text.lower()  # botocore did log the header...
    assert "session-token-never-shown-42" not in text and SECRET not in text  # ...but not its value
    assert FAKE_CREDS["aws_access_key_id"] not in text


def test_a_response_that_is_not_json_is_a_cloud_error() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotJson(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b"<html>surprise</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotJson)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=f"http://127.0.0.1:{server.server_port}",
                             max_attempts=1)
        t = s.Table("orders", hash_key="pk")
        with pytest.raises(CloudError, match="not JSON"):
            t.get(pk="a")
        with pytest.raises(CloudError, match="no Table"):
            t.refresh()
    finally:
        server.shutdown()


def test_factories_and_listings_are_bound_with_the_entities_own_signatures() -> None:
    import inspect

    from cloudorm.iam import listings

    s = cloudorm.Session("aws", creds=FAKE_CREDS)
    role = s.Role("runner", service="lambda")
    assert type(role) is cloudorm.Role and role.session is s and role.name == "runner"
    assert list(inspect.signature(s.Role).parameters) == list(inspect.signature(cloudorm.Role).parameters)[1:]
    assert s.Role.__doc__ == cloudorm.Role.__doc__ and cloudorm.Session.users.__doc__ == listings.users.__doc__
    with pytest.raises(InvalidInput, match="scope"):
        s.policies(scope="nope")  # refused before any request
