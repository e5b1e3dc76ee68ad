"""The local cloud runs Functions for real: handlers in sandbox subprocesses, with Lambda's event, context,
environment, log tail, errors, timeout and memory limit (control plane on the embedded moto server)."""

from __future__ import annotations

import base64
import importlib.metadata
import io
import json
import os
import re
import shutil
import sys
import textwrap
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.errors import InvalidInput
from cloudorm.providers.local import runtime
from cloudorm.providers.local.app import local_cloud
from cloudorm.providers.local.functions import LocalFunctionService
from cloudorm.providers.local.interpreters import Interpreter, choose_interpreter
from cloudorm.providers.local.invocations import Invocations, find
from cloudorm.providers.local.runtime import Launch, pool
from cloudorm.waiting import wait_until
from tests.conftest import running


def make_zip(files: dict[str, str | bytes]) -> bytes:
    """A zip of ``files`` (name → content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def s() -> cloudorm.Session:
    return cloudorm.Session()


@pytest.fixture(scope="module")
def role(s: cloudorm.Session) -> str:
    arn: str = s.Role(f"fn-{uuid.uuid4().hex[:8]}", service="lambda").save().arn
    return arn


@pytest.fixture
def deploy(s: cloudorm.Session, role: str) -> Iterator[Any]:
    """Create a function from source files; deleted after the test."""
    made: list[str] = []

    def make(source: str, handler: str = "app.handler", extra: dict[str, str | bytes] | None = None,
             **spec: Any) -> dict[str, Any]:
        name = f"f-{uuid.uuid4().hex[:10]}"
        files: dict[str, str | bytes] = {"app.py": textwrap.dedent(source) + f"\n# {name}\n", **(extra or {})}
        record = s.serverless.create_function(name, {"runtime": "python3.12", "handler": handler, "role": role,
                                                     "memory": 128, "timeout": 3, **spec}, make_zip(files))
        made.append(name)
        return record

    yield make
    for name in made:
        s.serverless.delete_function(name)


def invoke(s: cloudorm.Session, name: str, event: Any = None, wait: bool = True) -> dict[str, Any]:
    return s.serverless.invoke(name, json.dumps(event if event is not None else {}).encode(), wait)


def invocations() -> Invocations:
    """The embedded local cloud's part that runs invocations."""
    part = local_cloud().part("invocations")
    assert isinstance(part, Invocations)
    return part


def launch_of(s: cloudorm.Session, name: str) -> Launch:
    """The sandbox settings the local cloud runs the function ``name`` with, for a client of ``s``."""
    launch = invocations().launch(find({}, name, None), s.endpoint_url or "")
    assert isinstance(launch, Launch)
    return launch


def test_local_provider_uses_local_function_service(s: cloudorm.Session) -> None:
    assert isinstance(s.serverless, LocalFunctionService)


def test_context_environment_vendored_module_and_log(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("""
        import os, sys, logging
        import vendored_helper
        logging.getLogger().setLevel(logging.INFO)

        def handler(event, context):
            print("hello from the handler", event["n"])
            logging.info("a log record")
            return {
                "event": event,
                "helper": vendored_helper.VALUE,
                "helper_file": vendored_helper.__file__,
                "cwd": os.getcwd(),
                "context": {k: getattr(context, k) for k in ("function_name", "function_version",
                            "invoked_function_arn", "memory_limit_in_mb", "aws_request_id", "log_group_name",
                            "log_stream_name")},
                "remaining": context.get_remaining_time_in_millis(),
                "env": {k: os.environ.get(k) for k in ("FOO", "AWS_LAMBDA_FUNCTION_NAME",
                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "AWS_DEFAULT_REGION", "LAMBDA_TASK_ROOT",
                        "_HANDLER", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID")},
                "python": list(sys.version_info[:2]),
            }
        """, extra={"vendored_helper.py": "VALUE = 'vendored'\n"}, memory=256, timeout=7,
        environment={"FOO": "bar"})
    out = invoke(s, fn["name"], {"n": 7})
    assert out["status"] == 200 and out["error"] is None
    result = json.loads(out["payload"])
    task_root = result["env"]["LAMBDA_TASK_ROOT"]
    assert result["event"] == {"n": 7}
    assert result["helper"] == "vendored" and result["helper_file"] == os.path.join(task_root, "vendored_helper.py")
    assert result["cwd"] == task_root
    assert result["context"] == {
        "function_name": fn["name"], "function_version": "$LATEST", "invoked_function_arn": fn["arn"],
        "memory_limit_in_mb": "256", "aws_request_id": out["request_id"], "log_group_name": f"/aws/lambda/{fn['name']}",
        "log_stream_name": result["context"]["log_stream_name"]}
    assert "[$LATEST]" in result["context"]["log_stream_name"]
    assert 0 < result["remaining"] <= 7000
    assert result["env"] == {"FOO": "bar", "AWS_LAMBDA_FUNCTION_NAME": fn["name"],
                             "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_REGION": s.region,
                             "AWS_DEFAULT_REGION": s.region, "LAMBDA_TASK_ROOT": task_root,
                             "_HANDLER": "app.handler", "AWS_ENDPOINT_URL": s.endpoint_url,
                             "AWS_ACCESS_KEY_ID": "testing"}
    launch = launch_of(s, fn["name"])
    assert ("FOO", "bar") in launch.environment and "FOO" not in repr(launch)  # values may be secrets
    log = out["log"]
    assert log.startswith(f"START RequestId: {out['request_id']} Version: $LATEST\n")
    assert "hello from the handler 7\n" in log
    assert "[INFO]\t" in log and f"\t{out['request_id']}\ta log record\n" in log
    assert f"END RequestId: {out['request_id']}\n" in log
    assert f"REPORT RequestId: {out['request_id']}\tDuration: " in log and "Memory Size: 256 MB" in log


def test_boto3_in_a_handler_talks_to_the_local_cloud_and_host_packages_are_absent(s: cloudorm.Session,
                                                                                   deploy: Any) -> None:
    bucket = s.Bucket(f"b-{uuid.uuid4().hex[:10]}").save()
    try:
        fn = deploy("""
            import importlib.metadata
            import importlib.util
            import boto3

            def handler(event, context):
                return {"buckets": sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]),
                        "host_only": [m for m in ("moto", "attrs", "pytest") if importlib.util.find_spec(m)],
                        "versions": [importlib.metadata.version(d) for d in ("boto3", "python-dateutil")]}
            """, timeout=20)
        out = invoke(s, fn["name"])
        assert out["error"] is None, out["payload"]
        result = json.loads(out["payload"])
        assert bucket.name in result["buckets"]
        assert result["host_only"] == []  # this machine's site-packages are not Lambda's: a bundle must vendor them
        assert result["versions"] == [importlib.metadata.version(d) for d in ("boto3", "python-dateutil")]
    finally:
        bucket.delete(force=True)


def test_exception_is_an_unhandled_error_in_lambdas_format(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("""
        def inner(n):
            raise ValueError(f"bad value {n}")

        def handler(event, context):
            print("about to fail")
            inner(event["n"])
        """)
    out = invoke(s, fn["name"], {"n": 3})
    assert out["status"] == 200 and out["error"] == "Unhandled"
    error = json.loads(out["payload"])
    assert set(error) == {"errorMessage", "errorType", "stackTrace"}
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "bad value 3"
    assert len(error["stackTrace"]) == 2  # the handler and inner(): none of the runtime's own frames
    assert "app.py" in error["stackTrace"][0] and "in handler" in error["stackTrace"][0]
    assert "in inner" in error["stackTrace"][1]
    assert "about to fail" in out["log"] and "[ERROR] ValueError: bad value 3" in out["log"]


def test_unserialisable_result_is_a_marshal_error(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("""
        def handler(event, context):
            return {1, 2}
        """)
    out = invoke(s, fn["name"])
    assert out["error"] == "Unhandled"
    assert json.loads(out["payload"])["errorType"] == "Runtime.MarshalError"


def test_result_over_6_mb_is_lambdas_size_error(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("""
        def handler(event, context):
            return "x" * event["size"]
        """)
    assert len(json.loads(invoke(s, fn["name"], {"size": 1000})["payload"])) == 1000
    out = invoke(s, fn["name"], {"size": 7 * 1024 * 1024})
    assert out["error"] == "Unhandled"
    assert json.loads(out["payload"])["errorType"] == "Function.ResponseSizeTooLarge"


def test_a_sandbox_that_exits_is_lambdas_exit_error(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("""
        import os, signal, sys

        def handler(event, context):
            if event["how"] == "sys.exit":
                sys.exit(4)
            if event["how"] == "exit":
                exit(2)
            if event["how"] == "_exit":
                os._exit(3)
            if event["how"] == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            return "alive"
        """)
    for how, says in (("sys.exit", "exit status 4"), ("exit", "exit status 2"), ("_exit", "exit status 3"),
                      ("kill", "signal: killed")):
        out = invoke(s, fn["name"], {"how": how})
        error = json.loads(out["payload"])
        assert out["error"] == "Unhandled" and error["errorType"] == "Runtime.ExitError", how
        assert error["errorMessage"].endswith(f"Runtime exited with error: {says}"), error
        assert json.loads(invoke(s, fn["name"], {"how": "no"})["payload"]) == "alive"


def test_missing_module_and_handler(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("def handler(event, context):\n    return 1\n", handler="nowhere.handler")
    error = json.loads(invoke(s, fn["name"])["payload"])
    assert error["errorType"] == "Runtime.ImportModuleError" and "nowhere" in error["errorMessage"]
    fn = deploy("def handler(event, context):\n    return 1\n", handler="app.absent")
    error = json.loads(invoke(s, fn["name"])["payload"])
    assert error["errorType"] == "Runtime.HandlerNotFound" and "absent" in error["errorMessage"]


def test_timeout_kills_the_sandbox_and_its_children(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("""
        import os, subprocess, time

        def handler(event, context):
            child = subprocess.Popen(["sleep", "30"])
            print("pids", os.getpid(), child.pid, flush=True)
            time.sleep(5)
            return "never"
        """, timeout=1)
    started = time.monotonic()
    out = invoke(s, fn["name"])
    elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert out["error"] == "Unhandled"
    error = json.loads(out["payload"])
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert "Task timed out after 1.00 seconds" in out["log"]
    line = next(x for x in out["log"].splitlines() if x.startswith("pids "))
    for pid in map(int, line.split()[1:]):
        wait_until(lambda pid=pid: not running(pid), timeout=2, what=f"process {pid} ended")
    assert json.loads(invoke(s, fn["name"])["payload"])["errorType"] == "Sandbox.Timedout"  # a new sandbox


def test_the_init_phase_has_its_own_timeout(s: cloudorm.Session, deploy: Any) -> None:
    """As on Lambda, importing the handler module (up to 10 s) does not count in the function's timeout; the cold
    start's REPORT gives it as Init Duration, and Duration is the handler's."""
    fn = deploy("""
        import time
        time.sleep(2)

        def handler(event, context):
            return context.get_remaining_time_in_millis()
        """, timeout=1)
    out = invoke(s, fn["name"])
    assert out["error"] is None, out["payload"]
    assert 500 < json.loads(out["payload"]) <= 1000  # the handler has its whole second
    report = next(line for line in out["log"].splitlines() if line.startswith("REPORT "))
    init_ms = float(re.search(r"Init Duration: ([0-9.]+) ms", report).group(1))  # type: ignore[union-attr]
    duration_ms = float(re.search(r"\tDuration: ([0-9.]+) ms", report).group(1))  # type: ignore[union-attr]
    assert init_ms >= 2000 and duration_ms < 1000
    assert "Init Duration" not in next(line for line in invoke(s, fn["name"])["log"].splitlines()
                                       if line.startswith("REPORT "))  # warm


def test_an_init_over_its_limit_runs_again_within_the_functions_timeout(
        s: cloudorm.Session, deploy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An init phase that exceeds its limit (10 s; 1 s here) is logged as INIT_REPORT ... Status: timeout and run
    again in the invocation, counted in the function's timeout (Lambda's suppressed init)."""
    monkeypatch.setattr(runtime, "INIT_TIMEOUT", 1.0)
    fn = deploy("""
        import time
        print("initialising", flush=True)
        time.sleep(1.5)

        def handler(event, context):
            return context.get_remaining_time_in_millis()
        """, timeout=3)
    out = invoke(s, fn["name"])
    assert out["error"] is None, out["payload"]
    assert json.loads(out["payload"]) < 1600  # the second init took its part of the 3 s
    before_start = out["log"].partition("START RequestId")[0]
    assert "initialising" in before_start
    assert "INIT_REPORT Init Duration: 1000.00 ms\tPhase: init\tStatus: timeout" in before_start
    slow = deploy("import time\ntime.sleep(5)\n\ndef handler(event, context):\n    return 1\n", timeout=1)
    started = time.monotonic()
    out = invoke(s, slow["name"])
    assert time.monotonic() - started < 4
    error = json.loads(out["payload"])
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")


def test_memory_limit_is_an_error_not_a_hang(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("""
        def handler(event, context):
            if event.get("size"):
                block = bytearray(event["size"])
                return len(block)
            return "small"
        """, memory=128)
    started = time.monotonic()
    out = invoke(s, fn["name"], {"size": 3 * 128 * 1024 * 1024})
    assert time.monotonic() - started < 3
    assert out["error"] == "Unhandled"
    assert json.loads(out["payload"])["errorType"] == "Runtime.OutOfMemory"
    assert json.loads(invoke(s, fn["name"])["payload"]) == "small"  # the next invocation gets a fresh sandbox
    assert json.loads(invoke(s, fn["name"], {"size": 32 * 1024 * 1024})["payload"]) == 32 * 1024 * 1024


def test_async_invoke_returns_at_once_and_runs(s: cloudorm.Session, deploy: Any, tmp_path: Path) -> None:
    fn = deploy("""
        import time

        def handler(event, context):
            time.sleep(1)
            with open(event["path"], "w") as f:
                f.write(context.aws_request_id)
        """)
    target = tmp_path / "done.txt"
    started = time.monotonic()
    out = invoke(s, fn["name"], {"path": str(target)}, wait=False)
    assert time.monotonic() - started < 0.8  # the handler alone takes 1 s
    assert out["status"] == 202 and out["payload"] == b"" and out["error"] is None
    wait_until(target.exists, timeout=10, what="the event's handler wrote its file")
    wait_until(lambda: target.read_text() == out["request_id"], timeout=2, what="the file holds the request id")


def test_warm_sandbox_is_reused_and_configuration_changes_start_a_new_one(s: cloudorm.Session,
                                                                          deploy: Any) -> None:
    fn = deploy("""
        import os
        calls = 0

        def handler(event, context):
            global calls
            calls += 1
            return [os.getpid(), calls, os.environ.get("MODE")]
        """, environment={"MODE": "one"})
    cold, warm = invoke(s, fn["name"]), invoke(s, fn["name"])
    first, second = json.loads(cold["payload"]), json.loads(warm["payload"])
    assert second == [first[0], 2, "one"]
    assert "\tInit Duration: " in cold["log"] and "Init Duration" not in warm["log"]  # as Lambda's REPORT
    s.serverless.update_configuration(fn["name"], {"environment": {"MODE": "two"}})
    third = json.loads(invoke(s, fn["name"])["payload"])
    assert third[1:] == [1, "two"] and third[0] != first[0]


def test_a_sandbox_busy_during_a_change_is_closed_after_its_invocation(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("""
        import os, time

        def handler(event, context):
            time.sleep(event["sleep"])
            return os.getpid()
        """, environment={"MODE": "one"})
    warm = json.loads(invoke(s, fn["name"], {"sleep": 0})["payload"])
    results: list[int] = []
    busy = threading.Thread(target=lambda: results.append(json.loads(invoke(s, fn["name"], {"sleep": 1})["payload"])))
    busy.start()
    time.sleep(0.3)  # the invocation runs, in the warm sandbox
    s.serverless.update_configuration(fn["name"], {"environment": {"MODE": "two"}})
    busy.join()
    assert results == [warm]
    wait_until(lambda: not running(warm), timeout=3, what="the sandbox of the old settings ended")
    s.serverless.update_configuration(fn["name"], {"environment": {"MODE": "one"}})  # the old settings again
    assert json.loads(invoke(s, fn["name"], {"sleep": 0})["payload"]) != warm
    read_at = time.monotonic()
    launch = launch_of(s, fn["name"])
    pool().discard(fn["name"])  # a change after the settings were read, before the sandbox starts
    outcome = pool().run(launch, b'{"sleep": 0}', str(uuid.uuid4()), fn["arn"], 3.0, read_at)
    assert outcome.result is not None
    wait_until(lambda: not running(int(outcome.result or 0)), timeout=3, what="the sandbox of stale settings ended")


def test_concurrent_invocations_run_in_parallel_sandboxes(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("""
        import os, time

        def handler(event, context):
            time.sleep(1)
            return os.getpid()
        """)
    invoke(s, fn["name"])  # warm one sandbox; the second call below needs a new one
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(json.loads(invoke(s, fn["name"])["payload"])))
               for _ in range(2)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started < 1.9  # one after the other would take 2 s
    assert len(set(results)) == 2


def test_new_code_runs_after_update(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("def handler(event, context):\n    return 'old'\n")
    assert json.loads(invoke(s, fn["name"])["payload"]) == "old"
    code = make_zip({"app.py": f"def handler(e, c):\n    return 'new'\n# {uuid.uuid4()}"})
    s.serverless.update_code(fn["name"], code, "x86_64")
    assert json.loads(invoke(s, fn["name"])["payload"]) == "new"


def test_payload_must_be_json_before_any_request(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("def handler(event, context):\n    return 1\n")
    for payload in (b"{not json", '{"a": 1}'.encode("utf-16")):
        with s.count_requests() as c, pytest.raises(InvalidInput) as e:
            s.serverless.invoke(fn["name"], payload)
        assert c.total == 0 and e.value.field == "payload"


def test_code_that_is_not_a_zip_is_refused_before_any_request(s: cloudorm.Session, role: str) -> None:
    with s.count_requests() as c, pytest.raises(InvalidInput) as e:
        s.serverless.create_function(f"f-{uuid.uuid4().hex[:10]}", {"runtime": "python3.12", "handler": "app.h",
                                                                    "role": role}, b"not a zip")
    assert c.total == 0 and e.value.field == "code"


def test_code_is_extracted_again_from_the_copy_the_local_cloud_keeps(s: cloudorm.Session, deploy: Any) -> None:
    fn = deploy("def handler(event, context):\n    return 1\n")
    assert json.loads(invoke(s, fn["name"])["payload"]) == 1
    shutil.rmtree(invocations().store.root / base64.b64decode(fn["code_sha256"]).hex())  # e.g. a cache cleared
    pool().discard(fn["name"])
    assert json.loads(invoke(s, fn["name"])["payload"]) == 1


def test_compiled_extension_for_another_machine_is_refused(s: cloudorm.Session, deploy: Any) -> None:
    aarch64_elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x03\x00" + b"\xb7\x00" + b"\x00" * 44
    fn = deploy("def handler(event, context):\n    return 1\n",
                extra={"fastlib/_speedups.cpython-312-aarch64-linux-gnu.so": aarch64_elf}, architecture="arm64")
    out = invoke(s, fn["name"])
    error = json.loads(out["payload"])
    assert out["error"] == "Unhandled" and error["errorType"] == "Runtime.InvalidEntrypoint"
    assert re.search(r"fastlib/_speedups.*aarch64", error["errorMessage"]), error


def test_unknown_function_is_not_found(s: cloudorm.Session) -> None:
    with pytest.raises(cloudorm.errors.NotFound):
        invoke(s, f"missing-{uuid.uuid4().hex[:8]}")


def test_an_invocation_is_one_request_and_a_delete_is_seen_at_once(s: cloudorm.Session, role: str) -> None:
    name = f"f-{uuid.uuid4().hex[:10]}"
    fn = s.serverless.create_function(name, {"runtime": "python3.12", "handler": "app.handler", "role": role},
                                      make_zip({"app.py": f"def handler(e, c):\n    return 1\n# {name}\n"}))
    with s.count_requests() as c:
        assert json.loads(invoke(s, name)["payload"]) == 1
        assert json.loads(invoke(s, fn["arn"])["payload"]) == 1
    assert c.by_operation == {"lambda.Invoke": 2}  # the server reads the function's record itself
    s.serverless.delete_function(fn["arn"])
    with pytest.raises(cloudorm.errors.NotFound):
        invoke(s, name)


def test_interpreter_is_the_runtimes_python_when_one_runs_on_path(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def script(name: str, body: str) -> Path:
        path = tmp_path / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
        return path

    found = script("python3.99", """echo '[[3, 99], ".cpython-399-x86_64-linux-gnu.so", "x86_64"]'""")
    script("python3.97", "exit 1")  # e.g. a pyenv shim of a version that is not installed
    script("python3.96", """echo '[[3, 11], ".cpython-311-x86_64-linux-gnu.so", "x86_64"]'""")  # another version
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    choose = choose_interpreter.__wrapped__  # uncached: PATH changed
    assert choose((3, 99)) == Interpreter(str(found), (3, 99), ".cpython-399-x86_64-linux-gnu.so", "x86_64")
    for missing in ((3, 98), (3, 97), (3, 96)):
        assert choose(missing).path == sys.executable, missing
