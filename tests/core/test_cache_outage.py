"""While the cache (Redis) is unreachable, requests are answered from the database: reports are
taken, signed-in phones stay signed in, versions and callers are read from their tables, and
public pages work — except proving "I am the reporter", which waits for the counters."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.cases import reference, tracking
from apps.cases.models import Case
from apps.core.versions import SharedVersion
from apps.org import credentials
from tests.api.conftest import report_payload
from tests.factories import PASSWORD
from tests.public.conftest import citizen_case

pytestmark = pytest.mark.django_db

DEAD = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every command fails at once


@pytest.fixture
def redis_is_down(settings):
    backend = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": DEAD,
        "OPTIONS": {"socket_connect_timeout": 0.5},
    }
    settings.CACHES = {
        "default": backend,
        "sessions": {**backend, "BACKEND": "apps.core.cache.SoftRedisCache"},
    }
    import redis
    from django.core.cache import cache

    with pytest.raises(redis.exceptions.ConnectionError):
        cache.get("anything")  # the premise: the cache really is gone
    credentials.forget_local()
    reference.forget_local()


def test_a_phone_reports_and_replays_with_its_token_while_redis_is_down(org, redis_is_down):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=org.users['gw']).key}")
    payload = report_payload(org)
    first = client.post("/api/reports/", payload, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["grid_name"] == org.grids["east-v1-g1"].name
    again = client.post("/api/reports/", payload, format="json")
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert Case.objects.count() == 1
    assert client.get("/api/me/").status_code == 200


def test_a_signed_in_phone_stays_signed_in_while_redis_is_down(org, redis_is_down):
    client = Client()
    response = client.post("/field/login/", {"username": "gw", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/field/").status_code == 200
    assert client.get("/api/me/").json()["username"] == "gw"
    reported = client.post(
        "/api/reports/",
        report_payload(org),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert reported.status_code == 201


def test_nothing_after_a_reports_commit_needs_the_database(org, redis_is_down, settings):
    # Every copy re-reads its version on each use, so any lookup after the commit would show.
    settings.GRID_INDEX_RECHECK_S = settings.REFERENCE_RECHECK_S = settings.CALENDAR_RECHECK_S = 0
    client = APIClient()
    client.force_authenticate(org.users["gw"])
    client.post("/api/reports/", report_payload(org), format="json")  # warm the copies
    with CaptureQueriesContext(connection) as queries:
        assert client.post("/api/reports/", report_payload(org), format="json").status_code == 201
    sql = [q["sql"] for q in queries.captured_queries]
    last_write = max(
        i for i, s in enumerate(sql) if s.startswith(("INSERT", "UPDATE", "RELEASE", "COMMIT"))
    )
    assert not [s for s in sql[last_write + 1 :] if s.startswith("SELECT")], sql[last_write:]


def test_public_pages_answer_while_redis_is_down_and_the_digits_check_waits(org, redis_is_down):
    case = citizen_case(org)
    client = Client()
    assert client.get("/track/", {"n": tracking.display(case.tracking_number)}).status_code in (
        200,
        302,
    )
    assert client.get("/track/map/grids.geojson").status_code == 200
    verify = client.post("/track/verify/", {"n": case.tracking_number, "digits": "5678"})
    assert verify.status_code == 429 and verify["Retry-After"] == "60"


def test_a_shared_version_lives_in_the_database(db, redis_is_down):
    version = SharedVersion("test:outage", "NO_SUCH_SETTING", 0.0)
    first = version.current()
    version.bump()
    assert version.current() != first
