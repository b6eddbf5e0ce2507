"""/healthz and /readyz as a load balancer sees them: plain HTTP, its own Host, quick answers,
and a 503 that names what is wrong."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.leases import lease_take
from apps.core.models import Lease

pytestmark = pytest.mark.django_db


@pytest.fixture
def probe() -> Client:
    # A load balancer's probe: its own address as Host, never in ALLOWED_HOSTS.
    return Client(HTTP_HOST="10.0.0.7:8000")


def test_healthz_answers_at_once_without_touching_the_database(probe, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = probe.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_is_ready_when_database_redis_and_the_sweep_answer(probe):
    lease_take(name="sweep_clocks", every_s=60.0)
    started = time.perf_counter()
    response = probe.get("/readyz")
    elapsed_ms = (time.perf_counter() - started) * 1000
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "sweep"}
    assert all(check["ok"] for check in body["checks"].values())
    assert elapsed_ms < 50, f"/readyz took {elapsed_ms:.1f} ms"


def test_readyz_is_unavailable_when_the_clock_sweep_stopped(probe):
    lease_take(name="sweep_clocks", every_s=60.0)
    Lease.objects.filter(name="sweep_clocks").update(
        taken_at=timezone.now() - dt.timedelta(minutes=5)
    )
    response = probe.get("/readyz")
    assert response.status_code == 503
    sweep = response.json()["checks"]["sweep"]
    assert sweep["ok"] is False and "时限巡检已" in sweep["detail"] and "beat" in sweep["detail"]


def test_readyz_is_unavailable_before_any_sweep_ran(probe):
    response = probe.get("/readyz")
    assert response.status_code == 503
    assert "从未运行" in response.json()["checks"]["sweep"]["detail"]


def test_readyz_names_an_unreachable_redis_quickly(probe, settings):
    lease_take(name="sweep_clocks", every_s=60.0)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    started = time.perf_counter()
    response = probe.get("/readyz")
    elapsed_ms = (time.perf_counter() - started) * 1000
    checks = response.json()["checks"]
    assert response.status_code == 503
    assert checks["redis"]["ok"] is False and checks["database"]["ok"] is True
    assert elapsed_ms < 1000


def test_the_probes_are_not_redirected_to_https(probe, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert probe.get("/healthz").status_code == 200
    assert probe.get("/").status_code == 400  # every other path still checks the Host
