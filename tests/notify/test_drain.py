"""What keeps a backlog draining fast (issue #15, item 6) without changing what anyone is told:
one message per report, desk counters once per interval, no lock on shared reference rows."""

import threading

import pytest
from django.db import connection, connections, transaction

from apps.cases import services as workflow
from apps.cases import tasks as case_tasks
from apps.cases.models import Action, CaseEvent
from apps.cases.services.base import _locked
from apps.notify.models import Notification
from apps.notify.serializers import NotificationOut, notification_payload
from tests.cases.helpers import report
from tests.conftest import wait_for
from tests.notify.sockets import (
    messages_within,
    next_message,
    open_socket,
    send,
    session_cookie_for,
)


@pytest.mark.django_db(transaction=True)
def test_a_report_costs_one_message_and_its_routing_task_tells_the_desk(org_tx, sent):
    case = report(org_tx)
    assert sent == [("apps.cases.tasks.route_case", (case.pk,))]
    # The report's own event tells nobody: it is born out of the outbox, with no fan-out.
    assert CaseEvent.objects.get(case=case, action=Action.REPORT).notified_at is not None

    case_tasks.route_case.run(case.pk)

    assert len(sent) == 1  # the routing event's fan-out ran in the routing task, not as a message
    route = CaseEvent.objects.get(case=case, action=Action.ROUTE)
    assert route.notified_at is not None
    assert set(
        Notification.objects.filter(event=route).values_list("recipient__username", flat=True)
    ) == {"vh"}


@pytest.mark.django_db(transaction=True)
def test_a_self_resolved_report_still_asks_the_grid_to_verify(org_tx, sent):
    case = report(org_tx, self_resolved=True, result_text="当场清理")
    assert CaseEvent.objects.get(case=case, action=Action.SELF_RESOLVE).notified_at is None
    case_tasks.route_case.run(case.pk)
    event = CaseEvent.objects.get(case=case, action=Action.SELF_RESOLVE)
    assert event.notified_at is not None
    assert Notification.objects.filter(event=event, kind="verify_request").exists()
    assert [name for name, _args in sent] == ["apps.cases.tasks.route_case"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_fan_out_in_the_routing_task_stays_in_the_outbox(org_tx, sent, monkeypatch):
    from apps.notify import services as notify_services

    case = report(org_tx)

    def broken(**kwargs):
        raise RuntimeError("Redis went away")

    monkeypatch.setattr(notify_services, "event_fan_out", broken)
    monkeypatch.setattr(notify_services, "events_fan_out", broken)  # a batch's fan-out
    case_tasks.route_case.run(case.pk)  # does not raise: the routing is committed
    case.refresh_from_db()
    assert case.pending_work == []
    assert (
        CaseEvent.objects.get(case=case, action=Action.ROUTE).notified_at is None
    )  # the sweep's to re-send


@pytest.mark.django_db
def test_the_socket_payload_is_the_apis_shape(org):
    case = report(org)
    workflow.case_route(case_id=case.pk)
    from tests.notify.helpers import fan_out

    notification = fan_out(case)[0]
    notification = Notification.objects.select_related("case").get(pk=notification.pk)
    assert notification_payload(notification) == {
        "type": "notification",
        **NotificationOut(notification).data,
    }
    Notification.objects.filter(pk=notification.pk).update(read_at=case.created_at)
    notification.refresh_from_db()
    assert notification_payload(notification) == {
        "type": "notification",
        **NotificationOut(notification).data,
    }


@pytest.mark.django_db(transaction=True)
def test_a_second_fan_out_of_the_same_event_tells_nobody_twice(org_tx):
    from apps.notify import services as notify_services

    case = report(org_tx)
    workflow.case_route(case_id=case.pk)
    route = CaseEvent.objects.get(case=case, action=Action.ROUTE)
    first = notify_services.event_fan_out(event_id=route.pk)
    CaseEvent.objects.filter(pk=route.pk).update(
        notified_at=None
    )  # as if the stamp was lost in a crash
    second = notify_services.event_fan_out(event_id=route.pk)
    assert [n.pk for n in second] == [n.pk for n in first]
    assert Notification.objects.filter(event=route).count() == len(first) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_desk_counters_come_once_per_interval_and_end_right(
    org_tx, asgi_server, celery_worker_process, settings
):
    """Ten reports in a burst: the village desk's counter is pushed a few times, not ten, and
    its last push counts all ten (a change during a push is counted by the next one)."""
    u = org_tx.users
    village = org_tx.villages["east-v1"]
    with open_socket(asgi_server, cookie=session_cookie_for(u["vh"])) as desk:
        next_message(desk, "hello")
        send(desk, type="subscribe", group=f"region.{village.pk}")
        assert next_message(desk, "desk.counts")["new"] == 0
        cases = [report(org_tx, description=f"垃圾 {i}") for i in range(10)]
        wait_for(
            lambda: not CaseEvent.objects.filter(case__in=cases, notified_at__isnull=True).exists()
        )
        pushed = [
            m
            for m in messages_within(desk, settings.DESK_COUNTS_INTERVAL_S * 2 + 1.5)
            if m["type"] == "desk.counts"
        ]
    assert pushed, "no desk counters after ten reports"
    assert len(pushed) <= 4
    assert pushed[-1] == {"type": "desk.counts", "region": village.pk, "new": 10, "overdue": 0}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_routing_a_case_does_not_lock_its_category(org_tx):
    """Every routing task locked its case *and* (through a join) the category row: two reports
    of the same category then waited on each other, and deadlocked under a backlog."""
    case = report(org_tx)
    locked, release = threading.Event(), threading.Event()

    def hold_the_case() -> None:
        try:
            with transaction.atomic():
                _locked(case)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_case)
    holder.start()
    try:
        assert locked.wait(10)
        with transaction.atomic(), connection.cursor() as cursor:
            # NOWAIT: an error at once if another transaction holds the row.
            cursor.execute(
                "SELECT id FROM cases_category WHERE id = %s FOR UPDATE NOWAIT", [case.category_id]
            )
            assert cursor.fetchone() == (case.category_id,)
    finally:
        release.set()
        holder.join()


def _route_events(case) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case=case, action=Action.ROUTE))


@pytest.mark.django_db(transaction=True)
def test_one_routing_task_routes_the_waiting_reports_and_their_own_messages_find_nothing(
    org_tx, sent
):
    """A backlog: the first task routes every waiting plain report (the same fields and history
    row as routing each alone) and tells each desk once per case; the other messages change
    nothing. A major and a self-resolved report are left to their own tasks."""
    east = [report(org_tx, description=f"东村垃圾 {i}") for i in range(3)]
    west = report(org_tx, user_key="gw_w", grid_key="west-v1-g1")
    major = report(org_tx, severity=1)
    fixed = report(org_tx, self_resolved=True, result_text="当场清理")
    assert len(sent) == 6

    case_tasks.route_case.run(east[1].pk)

    for case in [*east, west]:
        case.refresh_from_db()
        assert case.pending_work == [] and case.pending_since is None
        (route,) = _route_events(case)
        assert route.notified_at is not None and route.actor_id is None
        assert route.unit_id == case.suggested_unit_id
    assert {c.suggested_unit_id for c in east} == {org_tx.units["east-v1-ws"].pk}
    assert west.suggested_unit_id == org_tx.units["west-v1-ws"].pk
    # The same spot: each later report points at the first open one, as routing alone does.
    assert east[0].probable_duplicate_of_id is None
    assert east[1].probable_duplicate_of_id == east[2].probable_duplicate_of_id == east[0].pk
    assert _route_events(east[2])[0].data == {"probable_duplicate_of": east[0].tracking_number}
    told = list(
        Notification.objects.filter(event__action=Action.ROUTE).values_list(
            "case_id", "recipient__username"
        )
    )
    assert sorted(told) == sorted([(c.pk, "vh") for c in east] + [(west.pk, "vh_w")])
    for case in (major, fixed):
        assert "route" in type(case).objects.get(pk=case.pk).pending_work

    counts = (CaseEvent.objects.count(), Notification.objects.count())
    for case in [*east, west]:
        case_tasks.route_case.run(case.pk)  # each report's own message, after the batch
    assert (CaseEvent.objects.count(), Notification.objects.count()) == counts
    for case in (major, fixed):
        case_tasks.route_case.run(case.pk)
        assert type(case).objects.get(pk=case.pk).pending_work == []
    assert CaseEvent.objects.filter(case=major, action=Action.JOINT_RESPONSE).exists()
    assert not CaseEvent.objects.filter(notified_at__isnull=True).exists()
    assert len(sent) == 6  # every fan-out ran in its routing task


@pytest.mark.django_db(transaction=True)
def test_a_failed_batch_routes_nothing_of_it_and_each_case_is_routed_by_its_own_task(
    org_tx, sent, monkeypatch
):
    from apps.cases.services import routing

    monkeypatch.setattr(routing, "_batches_paused_until", 0.0)
    first, poison, third = (report(org_tx, description=f"垃圾 {i}") for i in range(3))
    real_probe = routing.probable_duplicate

    def probe(case):
        if case.pk == poison.pk:
            raise RuntimeError("a case the batch cannot route")
        return real_probe(case)

    monkeypatch.setattr(routing, "probable_duplicate", probe)
    case_tasks.route_case.run(first.pk)  # the batch fails; the task's own case is routed alone
    assert type(first).objects.get(pk=first.pk).pending_work == []
    for case in (poison, third):  # rolled back with the batch: still waiting, not half routed
        assert type(case).objects.get(pk=case.pk).pending_work == ["route"]
        assert not _route_events(case)
    assert routing._batches_paused_until > 0  # this process routes one case per task a while

    case_tasks.route_case.run(third.pk)
    assert type(third).objects.get(pk=third.pk).pending_work == []
    with pytest.raises(RuntimeError):  # the poison case fails its own task only (guard counts)
        case_tasks.route_case.run(poison.pk)
    monkeypatch.setattr(routing, "probable_duplicate", real_probe)
    case_tasks.route_case.run(poison.pk)
    for case in (first, poison, third):
        assert len(_route_events(case)) == 1
        assert Notification.objects.filter(event__in=_route_events(case)).count() == 1
