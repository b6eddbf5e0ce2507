from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factories import build_test_org

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def org(db):
    """The small test organisation (see tests/factories.py)."""
    return build_test_org()


@pytest.fixture
def org_tx(transactional_db):
    """The same organisation, committed, for tests that talk to a worker or a live server."""
    return build_test_org()


def _worker_env() -> dict[str, str]:
    """The environment for processes that must use this run's *test* database."""
    from django.conf import settings

    env = dict(os.environ)
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db.get('USER') or ''}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
        )
    env.pop("LIANDONG_TEST_DB_NAME", None)
    return env


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker process (prefork, 1 child) against this run's broker and test DB.

    Tests that use it must be ``@pytest.mark.django_db(transaction=True)`` so their rows are
    committed where the worker can see them.
    """
    log_path = Path(os.environ["LIANDONG_DATA_DIR"]) / "celery-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "1",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=_worker_env(), stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Celery worker exited: {log_path.read_text()[-3000:]}")
        if b"ready." in log_path.read_bytes():
            break
        time.sleep(0.2)
    else:
        proc.terminate()
        raise RuntimeError(f"the Celery worker did not start: {log_path.read_text()[-3000:]}")
    proc.log_path = log_path  # type: ignore[attr-defined]
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll until predicate() is truthy (returns its value) or fail after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {predicate}")
