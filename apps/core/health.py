"""``/healthz`` and ``/readyz`` for load balancers and monitoring.

Both are answered by a middleware at the top of the stack, before the HTTPS redirect, host
validation, sessions and the rest: a load balancer probes over plain HTTP with its own address
as Host, and must get the process's answer, not a 301 or a 400.

- ``/healthz`` — the process is alive and serving (no I/O at all).
- ``/readyz`` — it can do its work: the database answers, Redis answers, and the clock sweep
  ran within ``READYZ_SWEEP_MAX_AGE_S`` (clocks, colours and the outbox depend on it; 0 leaves
  that check out). 200 when all pass, 503 with the failing checks named otherwise. Redis gets
  ``READYZ_REDIS_TIMEOUT_S`` to answer, so a dead Redis is reported quickly instead of holding
  the probe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

log = logging.getLogger(__name__)

SWEEP_LEASE = "sweep_clocks"  # apps.cases.tasks.sweep_clocks takes this lease each interval


def _database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return None


def _redis() -> str | None:
    if not settings.REDIS_URL:
        return None  # the single-process fallback: no Redis to depend on
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.READYZ_REDIS_TIMEOUT_S,
        socket_timeout=settings.READYZ_REDIS_TIMEOUT_S,
    )
    try:
        client.ping()
    finally:
        client.close()
    return None


def _sweep() -> str | None:
    from apps.core.models import Lease

    max_age = settings.READYZ_SWEEP_MAX_AGE_S
    if not max_age:
        return None
    taken_at = Lease.objects.filter(name=SWEEP_LEASE).values_list("taken_at", flat=True).first()
    if taken_at is None:
        return "时限巡检从未运行：请检查 beat 与 sweeps 队列的 worker"
    age = (timezone.now() - taken_at).total_seconds()
    if age > max_age:
        return f"时限巡检已 {int(age)} 秒未运行（上限 {max_age} 秒）：请检查 beat 与 sweeps 队列的 worker"
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": _database,
    "redis": _redis,
    "sweep": _sweep,
}


def readiness() -> tuple[bool, dict[str, dict[str, object]]]:
    """Run every check; each reports ``ok``, its time in ms and, when it failed, why."""
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            problem = check()
        except Exception as exc:  # a check that cannot run is a failed check, never a 500
            problem = f"{type(exc).__name__}: {exc}"
        result: dict[str, object] = {
            "ok": problem is None,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if problem is not None:
            result["detail"] = problem
            log.warning("readyz: %s failed: %s", name, problem)
        results[name] = result
    return all(r["ok"] for r in results.values()), results


class HealthMiddleware:
    """Answers the two probe paths before any other middleware runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return JsonResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
        if request.path == "/readyz":
            ready, checks = readiness()
            return JsonResponse(
                {"status": "ok" if ready else "unavailable", "checks": checks},
                status=200 if ready else 503,
                headers={"Cache-Control": "no-store"},
                json_dumps_params={"ensure_ascii": False},
            )
        return self.get_response(request)
