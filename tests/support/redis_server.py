"""A real ``redis-server`` process on a free loopback port, no persistence: for tests and benchmarks.

The one owner of "start a redis-server": the Redis tests, the system tests' Celery broker and the
shared-pacing benchmark all start theirs here.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_truto.pacing.redis_store import RedisSettings

if TYPE_CHECKING:
    import redis

# The database the pacing budgets use in these tests (a Celery broker keeps database 0).
PACING_DB = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process; :meth:`kill` and :meth:`start` again keep its port (a restart).

    :param password: when set, Redis requires it (``requirepass``), as a shared production Redis would.
    """

    def __init__(self, binary: str, directory: Path, *, password: str | None = None) -> None:
        self.binary = binary
        self.directory = directory
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def settings(self) -> RedisSettings:
        return RedisSettings(host="127.0.0.1", port=self.port, db=PACING_DB, password=self.password)

    def client(self, db: int = PACING_DB) -> redis.Redis:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, password=self.password, socket_timeout=5)

    def start(self) -> RedisServer:
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory)]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""]
        if self.password:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if self.client().ping():
                    return self
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode} on port {self.port}")
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def start_redis(binary: str, directory: Path, *, password: str | None = None) -> RedisServer:
    """A started server; a free port can be taken between the probe and the bind, so try another."""
    server = RedisServer(binary, directory, password=password)
    for attempt in range(3):
        try:
            return server.start()
        except RuntimeError:
            server.kill()
            if attempt == 2:
                raise
            server.port = free_port()
    raise AssertionError("unreachable")
