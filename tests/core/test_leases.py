"""A periodic job's lease: at most one run per interval, whoever sends it (apps/core/leases.py)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.cases import tasks
from apps.core.leases import current_slot, lease_take
from apps.core.models import Lease

EVERY = 60.0
T0 = 1_800_000_000.0  # the start of a slot (a multiple of 60)


@pytest.mark.django_db
def test_the_first_taker_of_an_interval_gets_it_and_the_second_does_not():
    assert lease_take(name="sweep", every_s=EVERY, now=T0 + 1)
    assert not lease_take(name="sweep", every_s=EVERY, now=T0 + 59)
    assert Lease.objects.get(name="sweep").taken == 1


@pytest.mark.django_db
def test_the_next_interval_is_taken_again_and_a_late_copy_of_an_old_one_is_refused():
    assert lease_take(name="sweep", every_s=EVERY, now=T0 + 1)
    assert lease_take(name="sweep", every_s=EVERY, now=T0 + 61)
    assert not lease_take(
        name="sweep", every_s=EVERY, now=T0 + 30
    )  # sent in the first, arrives now
    lease = Lease.objects.get(name="sweep")
    assert lease.slot == current_slot(EVERY, T0 + 61) and lease.taken == 2


@pytest.mark.django_db
def test_jobs_have_leases_of_their_own():
    assert lease_take(name="sweep_clocks", every_s=EVERY, now=T0)
    assert lease_take(name="sweep_outbox", every_s=EVERY, now=T0)


@pytest.mark.django_db(transaction=True)
def test_of_two_sweeps_at_the_same_moment_exactly_one_acts():
    """Two workers take the same interval at once, each on its own database connection."""
    barrier = threading.Barrier(6)
    results: list[bool] = []

    def take() -> None:
        try:
            barrier.wait()
            results.append(lease_take(name="sweep", every_s=EVERY, now=T0 + 5))
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] * 5 + [True]
    assert Lease.objects.get(name="sweep").taken == 1


@pytest.mark.django_db
def test_a_sweep_task_sent_twice_in_one_interval_runs_once(monkeypatch):
    runs = []
    monkeypatch.setattr(tasks.sweep, "sweep_clocks", lambda: runs.append("clocks"))
    monkeypatch.setattr(tasks.sweep, "sweep_outbox", lambda: runs.append("outbox"))
    for _ in range(2):  # two beats
        tasks.sweep_clocks.apply()
        tasks.sweep_outbox.apply()
    # (A test that runs across a minute's boundary sees one more of each; it cannot see fewer.)
    assert 1 <= runs.count("clocks") <= 2 and 1 <= runs.count("outbox") <= 2
    assert Lease.objects.get(name="sweep_clocks").taken == runs.count("clocks")
