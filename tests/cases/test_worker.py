"""The loop with a real Celery worker process, real Redis and the test database (SQLite by
default, PostgreSQL with DATABASE_URL): routing on submit, escalation by each of the three
triggers, the joint response, both sweeps end to end, and a worker killed mid-task."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from apps.cases import services
from apps.cases.models import Action, Case, CaseEvent, Colour, QuarantinedTask, Severity, Status
from apps.cases.task_guard import _counter, deliveries_so_far, max_deliveries, poison_key
from apps.org.models import Tier
from config.celery import app
from tests.cases.helpers import report, set_clock
from tests.conftest import children_of, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def routed_by_worker(case: Case) -> Case:
    wait_for(lambda: CaseEvent.objects.filter(case=case, action=Action.ROUTE).exists(), timeout=20)
    case.refresh_from_db()
    return case


def fanned_out(event: CaseEvent) -> bool:
    return CaseEvent.objects.filter(pk=event.pk, notified_at__isnull=False).exists()


def test_a_report_is_routed_by_the_worker_right_after_commit(org_tx, celery_worker_process):
    case = routed_by_worker(report(org_tx))
    assert case.pending_work == [] and case.pending_since is None
    assert case.suggested_unit_id == org_tx.units["east-v1-ws"].pk
    assert case.events.filter(action=Action.ROUTE).count() == 1
    wait_for(lambda: all(fanned_out(e) for e in case.events.all()), timeout=20)


def test_beyond_capacity_the_village_escalates_to_the_town_and_the_town_is_told(
    org_tx, celery_worker_process
):
    case = routed_by_worker(report(org_tx))
    services.case_accept(case=case, actor=org_tx.users["vh"])
    services.case_escalate(case=case, actor=org_tx.users["vh"], reason="需要执法力量，超出村级能力")
    case.refresh_from_db()
    assert (case.tier, case.holder_id) == (Tier.TOWN, org_tx.towns["east"].pk)
    escalation = case.events.get(action=Action.ESCALATE)
    assert escalation.data == {"trigger": "capacity"}
    wait_for(lambda: fanned_out(escalation), timeout=20)


def test_a_case_with_no_progress_is_escalated_by_the_sweep_running_on_the_worker(
    org_tx, celery_worker_process
):
    case = set_clock(routed_by_worker(report(org_tx)), yellow_ago=3, deadline_ago=2, escalate_ago=1)
    app.send_task("apps.cases.tasks.sweep_clocks")
    wait_for(lambda: Case.objects.get(pk=case.pk).tier == Tier.TOWN, timeout=20)
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.holder_id == org_tx.towns["east"].pk
    assert case.events.get(action=Action.ESCALATE).data == {"trigger": "overdue"}
    urge = case.events.get(action=Action.URGE)
    assert urge.data["auto"] is True and urge.actor_id is None
    # The bulk-created 督办 event reaches the notifications through the relay task.
    wait_for(lambda: fanned_out(urge), timeout=20)
    app.send_task("apps.cases.tasks.sweep_clocks")  # again: nothing more happens to this case
    time.sleep(1.5)
    assert case.events.filter(action__in=[Action.ESCALATE, Action.URGE]).count() == 2


def test_a_major_report_becomes_a_joint_response_of_the_county(org_tx, celery_worker_process):
    case = report(org_tx, severity=Severity.MAJOR, description="化工厂仓库冒烟")
    wait_for(
        lambda: CaseEvent.objects.filter(case=case, action=Action.JOINT_RESPONSE).exists(),
        timeout=20,
    )
    case.refresh_from_db()
    assert case.joint_response and case.tier == Tier.COUNTY and case.holder_id == org_tx.county.pk
    assert case.status == Status.DISPATCHED and case.lead_unit_id == org_tx.units["county-cg"].pk
    assert org_tx.units["east-cg"] in case.assisting_units.all()
    assert [e.action for e in case.events.all()] == [
        Action.REPORT,
        Action.ROUTE,
        Action.JOINT_RESPONSE,
    ]


def test_the_clock_sweep_colours_urges_and_resumes_end_to_end(org_tx, celery_worker_process):
    nearly = set_clock(
        routed_by_worker(report(org_tx, description="快到时限")), yellow_ago=0.1, deadline_ago=-1
    )
    late = set_clock(
        routed_by_worker(report(org_tx, grid_key="east-v2-g1", description="已超时")),
        yellow_ago=2,
        deadline_ago=1,
        escalate_ago=-4,
    )
    parked = routed_by_worker(report(org_tx, grid_key="east-v1-g2", description="需要预算"))
    services.case_accept(case=parked, actor=org_tx.users["vh"])
    services.case_defer(
        case=parked,
        actor=org_tx.users["vh"],
        reason="需要预算",
        review_on=timezone.localdate() + dt.timedelta(days=1),
    )
    # The review day comes.
    Case.objects.filter(pk=parked.pk).update(
        deferred_review_on=timezone.localdate(),
        sweep_due_at=timezone.now() - dt.timedelta(minutes=1),
    )
    app.send_task("apps.cases.tasks.sweep_clocks")
    wait_for(lambda: Case.objects.get(pk=parked.pk).status == Status.ACCEPTED, timeout=20)
    assert Case.objects.get(pk=nearly.pk).colour == Colour.YELLOW
    late.refresh_from_db()
    assert late.colour == Colour.RED and late.urge_count == 1 and late.tier == Tier.VILLAGE
    assert (
        Case.objects.get(pk=parked.pk).events.filter(action=Action.RESUME, actor=None).count() == 1
    )


def test_the_outbox_sweep_resends_work_whose_message_was_lost(org_tx, celery_worker_process):
    with transaction.atomic():
        case = report(org_tx)
        # The web process dies between its commit and sending the messages: none goes out.
        connection.run_on_commit.clear()
    two_minutes_ago = timezone.now() - dt.timedelta(minutes=2)
    Case.objects.filter(pk=case.pk).update(pending_since=two_minutes_ago)
    CaseEvent.objects.filter(case=case).update(created_at=two_minutes_ago)
    time.sleep(1)
    assert not case.events.filter(action=Action.ROUTE).exists()
    app.send_task("apps.cases.tasks.sweep_outbox")
    routed_by_worker(case)
    wait_for(lambda: fanned_out(case.events.get(action=Action.REPORT)), timeout=20)
    assert Case.objects.get(pk=case.pk).pending_work == []


# --- crash safety ----------------------------------------------------------------------------


def test_a_task_whose_worker_is_killed_runs_again_and_acts_once(org_tx, celery_worker_process):
    name = "apps.cases.tasks.escalate_overdue"
    case = set_clock(routed_by_worker(report(org_tx)), yellow_ago=3, deadline_ago=2, escalate_ago=1)
    Case.objects.filter(pk=case.pk).update(
        colour=Colour.RED, sweep_due_at=None
    )  # out of any sweep's way
    cache.delete(_counter(poison_key(name, [case.pk])))
    wait_for(lambda: children_of(celery_worker_process.pid), timeout=20)
    [child] = children_of(celery_worker_process.pid)
    # Let the report's own follow-up work finish first: its notification rows reference the case
    # (FOR KEY SHARE on PostgreSQL), so a fan-out still queued would wait on the lock below and
    # hold the single worker child, and the task under test would never start.
    wait_for(
        lambda: not CaseEvent.objects.filter(case=case, notified_at__isnull=True).exists(),
        timeout=20,
    )
    with transaction.atomic():
        # Hold the case (PostgreSQL: its row; SQLite: the write lock) so the task blocks half-way.
        Case.objects.select_for_update().get(pk=case.pk)
        if connection.vendor == "sqlite":
            Case.objects.filter(pk=case.pk).update(updated_at=timezone.now())
        app.send_task(name, args=[case.pk])
        wait_for(lambda: deliveries_so_far(name, [case.pk]) == 1, timeout=20)
        time.sleep(0.5)
        os.kill(child, signal.SIGKILL)
        wait_for(
            lambda: [pid for pid in children_of(celery_worker_process.pid) if pid != child],
            timeout=30,
        )
        # acks_late + reject_on_worker_lost: the message comes back and a fresh child takes it.
        wait_for(lambda: deliveries_so_far(name, [case.pk]) == 2, timeout=30)
    wait_for(lambda: Case.objects.get(pk=case.pk).tier == Tier.TOWN, timeout=30)
    wait_for(
        lambda: deliveries_so_far(name, [case.pk]) == 0, timeout=10
    )  # success clears the count
    assert CaseEvent.objects.filter(case=case, action=Action.ESCALATE).count() == 1
    assert b"WorkerLostError" in Path(celery_worker_process.log_path).read_bytes()
    assert not QuarantinedTask.objects.exists()


def test_a_task_that_keeps_killing_its_worker_is_quarantined_instead_of_looping(
    org_tx, celery_worker_process
):
    name = "apps.cases.tasks.escalate_overdue"
    case = set_clock(routed_by_worker(report(org_tx)), yellow_ago=3, deadline_ago=2, escalate_ago=1)
    Case.objects.filter(pk=case.pk).update(colour=Colour.RED, sweep_due_at=None)
    # As if its last max_deliveries() deliveries had each died with their worker.
    cache.set(_counter(poison_key(name, [case.pk])), max_deliveries(), 600)
    app.send_task(name, args=[case.pk])
    quarantined = wait_for(
        lambda: QuarantinedTask.objects.filter(task_name=name).first(), timeout=20
    )
    assert quarantined.args == [case.pk] and quarantined.deliveries == max_deliveries()
    assert quarantined.released_at is None and quarantined.last_error
    time.sleep(1)
    assert Case.objects.get(pk=case.pk).tier == Tier.VILLAGE  # it did not run

    from apps.cases.task_guard import quarantined_task_release

    quarantined_task_release(quarantined=quarantined, actor=None)  # the cause is fixed: let it run
    wait_for(lambda: Case.objects.get(pk=case.pk).tier == Tier.TOWN, timeout=20)
