"""A clock-sweep backlog on PostgreSQL is split over several connections (sweep._run_phase):
every overdue case still turns red exactly once, with exactly one automatic 督办."""

import threading

import pytest
from django.db import connection

from apps.cases import sweep
from apps.cases.models import Action, Case, CaseEvent, Colour
from tests.cases.helpers import report, routed, set_clock


@pytest.mark.django_db(transaction=True)
def test_a_backlog_is_worked_through_on_several_connections_exactly_once(org_tx, monkeypatch, settings):
    settings.SWEEP_PARALLELISM = 3
    for i in range(23):
        set_clock(routed(report(org_tx, description=f"垃圾{i}")), yellow_ago=2, deadline_ago=1, escalate_ago=-5)
    threads_seen = []
    insert_urge_events = sweep._insert_urge_events

    def watched(case_ids):
        threads_seen.append(threading.current_thread().name)
        return insert_urge_events(case_ids)

    monkeypatch.setattr(sweep, "_insert_urge_events", watched)
    result = sweep.sweep_clocks(enqueue=False, batch=4)

    assert result.red == 23 and result.complete
    assert len(result.urge_event_ids) == len(set(result.urge_event_ids)) == 23
    assert CaseEvent.objects.filter(action=Action.URGE).count() == 23
    assert Case.objects.filter(colour=Colour.RED).count() == 23
    shards = {name for name in threads_seen if name.startswith("sweep-shard-")}
    if connection.vendor == "postgresql":
        assert shards == {"sweep-shard-0", "sweep-shard-1", "sweep-shard-2"}
    else:  # one writer at a time: the backlog is worked through serially
        assert not shards
    # Nothing is left for the next sweep but the escalations, later.
    assert sweep.sweep_clocks(enqueue=False).red == 0


@pytest.mark.django_db(transaction=True)
def test_a_failing_shard_fails_the_sweep_and_leaves_its_batch_for_the_next_one(org_tx, monkeypatch, settings):
    if connection.vendor != "postgresql":
        pytest.skip("shards run on PostgreSQL only")
    settings.SWEEP_PARALLELISM = 2
    for i in range(9):
        set_clock(routed(report(org_tx, description=f"垃圾{i}")), yellow_ago=2, deadline_ago=1, escalate_ago=-5)
    insert_urge_events = sweep._insert_urge_events

    def broken_in_shard_one(case_ids):
        if threading.current_thread().name == "sweep-shard-1":
            raise RuntimeError("database went away")
        return insert_urge_events(case_ids)

    monkeypatch.setattr(sweep, "_insert_urge_events", broken_in_shard_one)
    with pytest.raises(RuntimeError):
        sweep.sweep_clocks(enqueue=False, batch=3)
    # The failed batch rolled back whole: no case red without its 督办, none urged twice.
    red = set(Case.objects.filter(colour=Colour.RED).values_list("pk", flat=True))
    urged = list(CaseEvent.objects.filter(action=Action.URGE).values_list("case_id", flat=True))
    assert red == set(urged) and len(urged) == len(set(urged)) and len(red) < 9
    monkeypatch.setattr(sweep, "_insert_urge_events", insert_urge_events)
    sweep.sweep_clocks(enqueue=False, batch=3)
    assert Case.objects.filter(colour=Colour.RED).count() == 9
    assert CaseEvent.objects.filter(action=Action.URGE).count() == 9
