"""PostgreSQL restarts under the running product (its own server, started by the test, with
the web process's connection pool and a worker child's kept connection both pointing at it):
once the database is back, intake answers every report without a 5xx, every report that was
answered is stored exactly once, and the worker routes them all — no connection that died with
the old server is ever used again."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import psycopg
import pytest

import run
from tests.conftest import ROOT, uvicorn_server, wait_for
from tests.private_postgres import PrivatePostgres, available

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not available(), reason="PostgreSQL's initdb is not installed"),
]

SEED = """
import json
from rest_framework.authtoken.models import Token
from tests.factories import build_test_org
org = build_test_org()
lat, lng = org.point_in(org.grids["east-v1-g1"])
print(json.dumps({"token": Token.objects.create(user=org.users["gw"]).key,
                  "category": org.categories["rubbish"].pk, "lat": lat, "lng": lng}))
"""


@pytest.fixture
def postgres():
    server = PrivatePostgres()
    server.init()
    server.start()
    server.create_database("liandong")
    yield server
    server.destroy()


def post_report(base: str, seed: dict, answers: list | None = None) -> tuple[int, str]:
    body = {
        "id": str(uuid.uuid4()),
        "category": seed["category"],
        "description": "数据库重启前后的上报",
        "severity": 3,
        "lat": seed["lat"],
        "lng": seed["lng"],
        "accuracy_m": 8,
        "position_source": "gps",
    }
    request = urllib.request.Request(
        base + "/api/reports/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Token {seed['token']}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, body["id"]
    except urllib.error.HTTPError as exc:
        if answers is not None:
            answers.append((exc.code, exc.headers.get("Retry-After"), json.loads(exc.read())))
        return exc.code, body["id"]


def test_intake_and_routing_resume_without_errors_once_the_database_is_back(postgres, ops):
    env = {**ops.env, "DATABASE_URL": postgres.url("liandong"), "DB_POOL_TIMEOUT_S": "3"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    seed = json.loads(
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SEED],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    db = postgres.url("liandong")

    def stored(ids: list[str]) -> int:
        with psycopg.connect(db) as conn:
            return conn.execute(
                "SELECT count(*) FROM cases_case WHERE client_uuid = ANY(%s)",
                [[uuid.UUID(i) for i in ids]],
            ).fetchone()[0]

    def routed(ids: list[str]) -> int:
        with psycopg.connect(db) as conn:
            return conn.execute(
                "SELECT count(*) FROM cases_case c JOIN cases_caseevent e ON e.case_id = c.id "
                "WHERE c.client_uuid = ANY(%s) AND e.action = 'route'",
                [[uuid.UUID(i) for i in ids]],
            ).fetchone()[0]

    with (
        uvicorn_server(env) as base,
        ops.process(
            "worker",
            "pg",
            "--concurrency",
            "1",
            "-Q",
            "celery,sweeps",
            *run.ALONE,
            env={"DATABASE_URL": db},
        ),
    ):
        before = [post_report(base, seed) for _ in range(5)]  # the pool now holds connections
        assert {status for status, _ in before} == {201}
        wait_for(
            lambda: routed([i for _, i in before]) == 5, timeout=30
        )  # and the worker child one

        postgres.stop("fast")  # every connection of the old server is gone
        # While it is down: a clear 503 in Chinese after DB_POOL_TIMEOUT_S, not a bare 500.
        answers: list = []
        status, during_id = post_report(base, seed, answers)
        assert status == 503
        assert answers[0][1] == "30" and "数据库" in answers[0][2]["detail"]
        postgres.start()

        after = [post_report(base, seed) for _ in range(10)]
        assert [status for status, _ in after] == [201] * 10  # not a single 5xx
        ids = [i for _, i in before + after]
        assert stored(ids) == 15
        wait_for(lambda: routed(ids) == 15, timeout=30)
