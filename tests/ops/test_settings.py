"""The settings behind the connection budget, the queues and the time limits (docs/operations.md),
read by fresh processes with the environment production would give them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests.conftest import ROOT

PG = "postgres://postgres@127.0.0.1:5432/liandong"
READ = """
import json, sys
sys.argv = [sys.argv[1]]  # what the process was started as
import django
django.setup()
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({"pool": db.get("OPTIONS", {}).get("pool"), "max_age": db["CONN_MAX_AGE"],
                  "checks": db.get("CONN_HEALTH_CHECKS"), "no_cursors": db.get("DISABLE_SERVER_SIDE_CURSORS", False),
                  "celery": settings.RUNS_CELERY}))
"""


def settings_of(argv0: str, **env: str) -> subprocess.CompletedProcess:
    import os

    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("DB_", "WEB_", "TASK_", "BROKER_"))
    }
    return subprocess.run(
        [sys.executable, "-c", READ, argv0],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
    )


def read(argv0: str, **env: str) -> dict:
    done = settings_of(argv0, **env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_web_process_pools_web_threads_plus_two_connections_and_checks_them():
    web = read("/srv/liandong/.venv/bin/uvicorn", DATABASE_URL=PG)
    assert web["pool"]["max_size"] == 10 and web["pool"]["min_size"] == 2 and web["checks"] is True
    assert read("uvicorn", DATABASE_URL=PG, WEB_THREADS="12")["pool"]["max_size"] == 14


def test_a_pool_smaller_than_the_request_threads_is_refused():
    done = settings_of("uvicorn", DATABASE_URL=PG, WEB_THREADS="8", DB_POOL_MAX="6")
    assert done.returncode != 0 and "DB_POOL_MAX must be at least WEB_THREADS" in done.stderr


def test_celery_processes_keep_one_checked_connection_and_no_pool():
    for argv0 in (
        "/srv/liandong/.venv/bin/celery",
        "/usr/lib/python3/site-packages/celery/__main__.py",
    ):
        worker = read(argv0, DATABASE_URL=PG)
        assert worker["celery"] is True and worker["pool"] is None
        assert worker["max_age"] == 60 and worker["checks"] is True


def test_behind_pgbouncer_no_pool_no_kept_connections_no_server_side_cursors():
    for argv0 in ("uvicorn", "celery"):
        bounced = read(argv0, DATABASE_URL=PG, DB_PGBOUNCER="1")
        assert bounced["pool"] is None and bounced["max_age"] == 0 and bounced["no_cursors"] is True


def test_time_limits_must_end_a_task_before_its_message_can_be_handed_out_again():
    done = settings_of(
        "celery", BROKER_VISIBILITY_TIMEOUT_S="200"
    )  # the 240 s hard limit is longer
    assert done.returncode != 0 and "TASK_TIME_LIMIT_S < BROKER_VISIBILITY_TIMEOUT_S" in done.stderr
    assert (
        settings.CELERY_TASK_SOFT_TIME_LIMIT
        < settings.CELERY_TASK_TIME_LIMIT
        < settings.BROKER_VISIBILITY_TIMEOUT_S
    )
    assert (
        settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        == settings.BROKER_VISIBILITY_TIMEOUT_S
        == 300
    )


def test_the_periodic_jobs_have_their_own_queue_and_production_a_worker_for_it():
    periodic = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert periodic == {
        "apps.cases.tasks.sweep_clocks",
        "apps.cases.tasks.sweep_outbox",
        "apps.cases.tasks.check_work_calendar",
        "apps.sms.tasks.sweep_sms",
        "apps.evaluation.tasks.refresh_rollups",
    }
    assert all(
        settings.CELERY_TASK_ROUTES[task]["queue"] == settings.SWEEPS_QUEUE for task in periodic
    )
    assert all(
        entry["options"]["expires"] >= 300 for entry in settings.CELERY_BEAT_SCHEDULE.values()
    )
    procfile = dict(
        line.split(": ", 1)
        for line in Path(ROOT, "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert "-Q sweeps" in procfile["sweeps"] and "-Q celery" in procfile["worker"]
    units = {
        path.name: path.read_text() for path in Path(ROOT, "docs/deploy/systemd").glob("*.service")
    }
    assert set(units) == {
        "liandong-web.service",
        "liandong-worker.service",
        "liandong-sweeps.service",
        "liandong-beat.service",
    }
    assert all(
        "Restart=always" in text and "StartLimitIntervalSec=0" in text for text in units.values()
    )
