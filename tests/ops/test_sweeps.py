"""The sweeps keep time whatever else happens, with real workers and beats on a private Redis:

- two beats send every sweep twice; each sweep still runs once per interval (the lease);
- a backlog of routing work does not hold the sweeps back: they have their own queue, which the
  embedded default's single worker takes turns with (production gives it its own worker).
"""

from __future__ import annotations

import re

import pytest
import redis
from django.conf import settings

import config.celery
import run
from apps.core.models import Lease
from tests.cases.helpers import report
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RAN = re.compile(r"sweep_clocks: the run of interval (\d+)")
RECEIVED = "Task apps.cases.tasks.sweep_clocks["


def test_with_two_beats_each_sweep_runs_once_per_interval(ops):
    interval = {"SWEEP_INTERVAL_S": "2"}
    with (
        ops.process(
            "worker", "sweeps", "--concurrency", "2", "-Q", "sweeps", *run.ALONE, env=interval
        ),
        ops.process("beat", "beat-1", env=interval),
        ops.process("beat", "beat-2", env=interval),
    ):
        # Both beats send every 2 s; wait for six intervals' worth of runs.
        wait_for(
            lambda: len(RAN.findall(ops.log("sweeps").read_text())) >= 6, timeout=45, interval=0.2
        )
    log = ops.log("sweeps").read_text()
    runs = [int(slot) for slot in RAN.findall(log)]
    assert len(runs) == len(set(runs)), f"an interval ran twice: {runs}"
    # Every interval between the first and the last run had its run (none skipped)…
    assert runs == list(range(runs[0], runs[0] + len(runs)))
    # … although each was sent twice: both beats were at work.
    assert log.count(RECEIVED) >= 2 * len(runs) - 2
    assert "sweep_clocks: interval" in log and "skipped" in log
    assert Lease.objects.get(name="sweep_clocks").taken == len(runs)


def test_a_sweep_is_not_held_back_by_a_backlog_of_routing_work(org_tx, ops):
    """One worker child for both queues (run.py's embedded worker): a thousand routing messages
    are queued, then beat's sweep message (with beat's options); the sweep runs long before
    the backlog is worked off, and it is not dropped as expired."""
    case = report(org_tx)  # routed by the first of the backlog; the rest find nothing to do
    app = config.celery.app
    with app.producer_or_acquire() as producer:
        for _ in range(1000):
            app.send_task("apps.cases.tasks.route_case", args=[case.pk], producer=producer)
    broker = redis.Redis(unix_socket_path=str(ops.redis.socket))
    assert broker.llen("celery") >= 1000
    entry = settings.CELERY_BEAT_SCHEDULE["cases-sweep-clocks"]
    assert (
        entry["options"]["expires"] >= 300
    )  # a sweep that waits is not thrown away after a minute
    with ops.process("worker", "embedded", "--concurrency", "1", "-Q", "celery,sweeps", *run.ALONE):
        app.send_task(entry["task"], **entry["options"])
        wait_for(
            lambda: Lease.objects.filter(name="sweep_clocks", taken=1).exists(),
            timeout=30,
            interval=0.1,
        )
        left = broker.llen("celery")
    assert left >= 500, f"the sweep ran only after {1000 - left} routing tasks"
    assert "Discarding revoked task" not in ops.log("embedded").read_text()
