"""Fault tests: real Celery workers and beats, killed and cut off on purpose.

Every test here owns its broker: a private Redis (with persistence, like production's) started
by the test, so killing workers or restarting Redis touches nothing else, and no other test's
worker can take its messages. This test process is pointed at the same Redis — for sending
tasks and for the delivery counters the tasks keep in the cache — with ``ops``."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings as django_settings

import config.celery
import run
from config.env import celery_broker_url
from tests.conftest import _worker_env, stop_process
from tests.private_redis import PrivateRedis

# Short enough for a test, with the product's ordering: soft < hard time limit < visibility.
FAST_RECOVERY = {
    "BROKER_VISIBILITY_TIMEOUT_S": "8",
    "TASK_TIME_LIMIT_S": "7",
    "TASK_SOFT_TIME_LIMIT_S": "6",
    "BROKER_RESTORE_INTERVAL_S": "1",
}


class Ops:
    def __init__(self, redis: PrivateRedis, env: dict[str, str], log_dir: Path) -> None:
        self.redis, self.env, self.log_dir = redis, env, log_dir

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def command(self, kind: str, name: str, *args: str) -> list[str]:
        if kind == "worker":
            return run.celery_command("worker", "-n", f"{name}-{os.getpid()}@%h", *args)
        return run.celery_command("beat", "-s", str(self.log_dir / f"{name}-schedule"), *args)

    @contextmanager
    def process(self, kind: str, name: str, *args: str, env: dict[str, str] | None = None):
        """A celery worker or beat while the block runs (its output in ``log(name)``)."""
        proc = run.start_logged(
            self.command(kind, name, *args),
            self.log(name),
            env={**self.env, **(env or {})},
            append=True,
        )
        try:
            if kind == "worker":
                run.wait_until_up(proc, self.log(name))
            yield proc
        finally:
            stop_process(proc)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def ops(settings, monkeypatch, tmp_path):
    """A private Redis for the broker and the cache of this test, its workers and its beats."""
    server = PrivateRedis(persistent=True)
    server.start()
    try:
        # This process sends its tasks (the workflow service, the outbox) to that Redis …
        app = Celery("liandong-ops-test", broker=celery_broker_url(server.url))
        app.conf.broker_transport_options = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS
        app.conf.task_publish_retry = False
        app.conf.task_routes = django_settings.CELERY_TASK_ROUTES
        monkeypatch.setattr(config.celery, "app", app)
        # … and reads the tasks' delivery counters from it.
        settings.CACHES = {
            **settings.CACHES,
            "default": {**settings.CACHES["default"], "LOCATION": server.url},
        }
        env = {**_worker_env(), "REDIS_URL": server.url, **FAST_RECOVERY}
        yield Ops(server, env, tmp_path)
    finally:
        if server.proc and server.proc.poll() is None:
            server.stop()
        app.close()
