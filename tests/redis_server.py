"""A real redis-server on loopback for the Redis cache tests: a class to start one, and a session fixture.

tests/conftest.py offers the fixture to every test file; a file run outside this suite
(pytester's) imports it from here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: Set (by .ci/run) to make the Redis tests fail, instead of skip, where redis-server is missing.
REQUIRE_REDIS = "ADTECH_AUTH_REQUIRE_REDIS"


def need_redis_server() -> None:
    """Skip the calling test when redis-server is missing, or fail it if REQUIRE_REDIS is set."""
    if shutil.which("redis-server") is None:
        if os.environ.get(REQUIRE_REDIS):
            pytest.fail(f"redis-server is not installed and {REQUIRE_REDIS} is set: apt-get install redis-server")
        pytest.skip(f"redis-server is not installed (set {REQUIRE_REDIS}=1 to make this a failure)")


class RedisServer:
    """A real redis-server on a free loopback port; skips (or fails) the test where there is none."""

    def __init__(self, directory: Path) -> None:
        need_redis_server()
        self.port = _free_port()
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def client(self) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No client-side retries: an outage shows at once (the library's own fallback is under test).
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session (each xdist worker's).

    Its tests keep to keys of their own: a prefix each, or a fresh sandbox's credential.
    """
    need_redis_server()  # before making a directory for it
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
