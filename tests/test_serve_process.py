"""ServeProcess: the local cloud in a child process."""

from __future__ import annotations

import os
import uuid

import pytest

import cloudorm
from cloudorm.testing import ServeProcess


def test_serve_process_runs_the_local_cloud_apart() -> None:
    server = ServeProcess()
    with pytest.raises(RuntimeError, match="not started"):
        server.url  # noqa: B018
    with server:
        s = cloudorm.Session("local", endpoint_url=server.url)
        assert s.Bucket(f"b-{uuid.uuid4().hex[:8]}").save().exists()
        pid = server.pid
        assert pid > 0
    server.stop()  # twice is fine
    with pytest.raises(OSError):
        os.kill(pid, 0)  # the child is gone
