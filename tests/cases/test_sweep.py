"""The clock sweep (分色预警, automatic 督办 and escalation) and the outbox sweep, run in-process."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.cases import services, sweep
from apps.cases.models import Action, Case, CaseEvent, Colour, QuarantinedTask, Status, Step
from apps.cases.task_guard import poison_key
from apps.org.models import Tier
from tests.cases.helpers import (
    dispatched_at_town,
    handled_at_town,
    overdue,
    report,
    routed,
    set_clock,
)

pytestmark = pytest.mark.django_db


def test_a_case_past_80_percent_of_its_limit_turns_yellow_and_waits_for_its_deadline(org):
    case = set_clock(routed(report(org)), yellow_ago=0.1, deadline_ago=-1)
    result = sweep.sweep_clocks(enqueue=False)
    case.refresh_from_db()
    assert result.yellow == 1 and result.red == 0
    assert case.colour == Colour.YELLOW
    assert case.sweep_due_at == case.step_deadline
    assert not case.events.filter(action=Action.URGE).exists()


def test_an_overdue_case_turns_red_once_with_one_automatic_urge(org):
    (case,) = overdue(org)
    first = sweep.sweep_clocks(enqueue=False)
    second = sweep.sweep_clocks(enqueue=False)
    case.refresh_from_db()
    assert (first.red, second.red) == (1, 0)
    assert case.colour == Colour.RED and case.urge_count == 1
    assert case.sweep_due_at == case.escalate_at
    urges = list(case.events.filter(action=Action.URGE))
    assert len(urges) == 1 and first.urge_event_ids == [urges[0].pk]
    assert urges[0].actor_id is None and urges[0].data["auto"] is True
    assert urges[0].to_status == case.status and urges[0].notified_at is None
    assert not case.sign_overdue  # the accept step was late, not a signature


def test_a_dispatched_case_not_signed_in_time_is_red_and_marked_sign_overdue(org):
    case = dispatched_at_town(org)
    assert case.step == Step.SIGN
    set_clock(case, yellow_ago=1, deadline_ago=0.5, escalate_ago=-3)
    sweep.sweep_clocks(enqueue=False)
    case.refresh_from_db()
    assert case.colour == Colour.RED and case.sign_overdue
    urge = case.events.get(action=Action.URGE)
    assert urge.unit_id == org.units["east-cg"].pk and "签收" in urge.note


def test_signing_after_the_red_warning_starts_a_fresh_blue_clock_but_keeps_the_late_mark(org):
    case = set_clock(dispatched_at_town(org), yellow_ago=1, deadline_ago=0.5, escalate_ago=-3)
    sweep.sweep_clocks(enqueue=False)
    services.case_sign(case=case, actor=org.users["dh"])
    case.refresh_from_db()
    assert case.status == Status.SIGNED and case.colour == Colour.BLUE and case.sign_overdue
    assert case.sweep_due_at == case.yellow_at > timezone.now()
    assert case.events.get(action=Action.SIGN).data == {"late": True}
    assert sweep.sweep_clocks(enqueue=False).red == 0


def test_a_case_with_no_progress_after_its_deadline_is_claimed_once_and_escalated_once(org):
    case = set_clock(routed(report(org)), yellow_ago=3, deadline_ago=2, escalate_ago=1)
    first = sweep.sweep_clocks(enqueue=False)
    again = sweep.sweep_clocks(enqueue=False)
    assert first.red == 1 and first.escalate_ids == [case.pk]
    assert again.escalate_ids == []  # claimed: the task has ten minutes before the sweep asks again
    services.case_escalate_overdue(case_id=case.pk)
    services.case_escalate_overdue(case_id=case.pk)  # a redelivered task acts on nothing
    case.refresh_from_db()
    assert (case.tier, case.holder_id, case.status) == (
        Tier.TOWN,
        org.towns["east"].pk,
        Status.ACCEPTED,
    )
    assert case.colour == Colour.BLUE and case.sweep_due_at == case.yellow_at > timezone.now()
    assert case.events.filter(action=Action.ESCALATE).count() == 1
    assert case.events.get(action=Action.ESCALATE).data == {"trigger": "overdue"}


def test_a_lost_escalation_task_is_claimed_again_after_the_retry_window(org):
    case = set_clock(routed(report(org)), yellow_ago=3, deadline_ago=2, escalate_ago=1)
    assert sweep.sweep_clocks(enqueue=False).escalate_ids == [case.pk]
    later = timezone.now() + sweep.CLAIM_RETRY + dt.timedelta(seconds=1)
    assert sweep.sweep_clocks(now=later, enqueue=False).escalate_ids == [case.pk]


def test_overdue_at_the_county_is_urged_because_nothing_sits_above_it(org):
    case = routed(report(org))
    for actor, reason in [("vh", "村级处理不了"), ("td", "镇级处理不了")]:
        services.case_escalate(case=case, actor=org.users[actor], reason=reason)
    set_clock(case, yellow_ago=3, deadline_ago=2, escalate_ago=1)
    claimed = sweep.sweep_clocks(enqueue=False).escalate_ids
    services.case_escalate_overdue(case_id=claimed[0])
    case.refresh_from_db()
    assert case.tier == Tier.COUNTY and case.status == Status.ACCEPTED
    assert case.colour == Colour.RED and case.escalate_at is None and case.sweep_due_at is None
    assert case.events.filter(action=Action.URGE).count() == 2  # red, then "still nothing"


def test_a_handled_case_late_for_verification_is_urged_not_escalated(org):
    case = handled_at_town(org)
    set_clock(case, yellow_ago=3, deadline_ago=2, escalate_ago=1)
    claimed = sweep.sweep_clocks(enqueue=False).escalate_ids
    services.case_escalate_overdue(case_id=claimed[0])
    case.refresh_from_db()
    assert case.status == Status.HANDLED and case.tier == Tier.TOWN
    assert case.lead_unit_id == org.units["east-cg"].pk and case.escalate_at is None


def test_a_deferred_case_is_resumed_on_its_review_date(org):
    case = routed(report(org))
    services.case_accept(case=case, actor=org.users["vh"])
    review_on = timezone.localdate() + dt.timedelta(days=30)
    services.case_defer(
        case=case, actor=org.users["vh"], review_on=review_on, reason="需要下季度预算"
    )
    case.refresh_from_db()
    assert case.colour == Colour.GREY and case.sweep_due_at is not None
    assert sweep.sweep_clocks(enqueue=False).resume_ids == []
    on_review_day = timezone.now() + dt.timedelta(days=31)
    claimed = sweep.sweep_clocks(now=on_review_day, enqueue=False).resume_ids
    assert claimed == [case.pk]
    assert sweep.resume_if_due(case.pk) is None  # not yet today
    sweep.resume_if_due(case.pk, today=review_on)
    sweep.resume_if_due(case.pk, today=review_on)
    case.refresh_from_db()
    assert (
        case.status == Status.ACCEPTED
        and case.colour == Colour.BLUE
        and case.deferred_review_on is None
    )
    assert case.events.filter(action=Action.RESUME).count() == 1


def test_finished_cases_are_never_swept(org):
    case = routed(report(org))
    services.case_reject(case=case, actor=org.users["vh"], reason="invalid", note="照片与描述不符")
    case.refresh_from_db()
    assert case.sweep_due_at is None and case.colour == Colour.GREEN
    result = sweep.sweep_clocks(now=timezone.now() + dt.timedelta(days=365), enqueue=False)
    assert (result.red, result.yellow, result.escalate_ids, result.repaired) == (0, 0, [], 0)


def test_a_hand_edited_clock_is_repaired_instead_of_being_read_every_minute(org):
    case = routed(report(org))
    future = timezone.now() + dt.timedelta(hours=5)
    Case.objects.filter(pk=case.pk).update(
        colour=Colour.RED, escalate_at=future, sweep_due_at=timezone.now() - dt.timedelta(minutes=1)
    )
    result = sweep.sweep_clocks(enqueue=False)
    case.refresh_from_db()
    assert result.repaired == 1 and case.sweep_due_at == future
    assert sweep.sweep_clocks(enqueue=False).repaired == 0


def test_the_sweep_works_through_more_overdue_cases_than_one_batch(org):
    cases = overdue(org, 7)
    result = sweep.sweep_clocks(enqueue=False, batch=3)
    assert result.red == 7 and result.complete
    assert CaseEvent.objects.filter(action=Action.URGE, case__in=cases).count() == 7


def test_the_sweep_stops_at_its_time_budget_and_finishes_next_time(org):
    overdue(org, 4)
    cut_short = sweep.sweep_clocks(enqueue=False, batch=2, time_budget_s=-1)
    assert not cut_short.complete and cut_short.red == 0
    assert sweep.sweep_clocks(enqueue=False, batch=2).red == 4


# --- the outbox sweep ----------------------------------------------------------------------


def test_the_outbox_resends_routing_left_behind_once_a_minute(org):
    case = report(org)  # its route_case message was never delivered (no commit in this test)
    assert (
        sweep.sweep_outbox(enqueue=False).sent == []
    )  # too fresh: the first message may be on its way
    later = timezone.now() + dt.timedelta(minutes=2)
    assert ("apps.cases.tasks.route_case", [case.pk]) in sweep.sweep_outbox(
        now=later, enqueue=False
    ).sent
    assert ("apps.cases.tasks.route_case", [case.pk]) not in sweep.sweep_outbox(
        now=later, enqueue=False
    ).sent
    routed(case)
    sent = sweep.sweep_outbox(now=later + dt.timedelta(minutes=5), enqueue=False).sent
    assert not any(name == "apps.cases.tasks.route_case" for name, _args in sent)


def test_the_outbox_resends_photos_and_unnotified_events(org):
    case = routed(report(org))
    Case.objects.filter(pk=case.pk).update(pending_work=["photos"], pending_since=timezone.now())
    later = timezone.now() + dt.timedelta(minutes=2)
    sent = sweep.sweep_outbox(now=later, enqueue=False).sent
    assert ("apps.cases.tasks.process_case_photos", [case.pk]) in sent
    event_ids = sorted(args[0] for name, args in sent if name == "apps.notify.tasks.fan_out_event")
    # The routing event waits; the report's own event tells nobody and never entered the outbox.
    assert event_ids == [case.events.get(action=Action.ROUTE).pk]
    assert case.events.get(action=Action.REPORT).notified_at is not None
    CaseEvent.objects.filter(case=case).update(notified_at=timezone.now())
    assert not any(
        name == "apps.notify.tasks.fan_out_event"
        for name, _args in sweep.sweep_outbox(
            now=later + dt.timedelta(minutes=10), enqueue=False
        ).sent
    )


def test_the_outbox_picks_up_the_sweeps_bulk_created_urge_events(org):
    overdue(org)
    urge_ids = sweep.sweep_clocks(enqueue=False).urge_event_ids
    later = timezone.now() + dt.timedelta(minutes=2)
    sent = sweep.sweep_outbox(now=later, enqueue=False).sent
    assert ("apps.notify.tasks.fan_out_event", urge_ids) in sent


def test_the_outbox_skips_quarantined_work(org):
    case = report(org)
    QuarantinedTask.objects.create(
        task_name="apps.cases.tasks.route_case",
        args=[case.pk],
        deliveries=5,
        key=poison_key("apps.cases.tasks.route_case", [case.pk]),
    )
    result = sweep.sweep_outbox(now=timezone.now() + dt.timedelta(minutes=2), enqueue=False)
    assert ("apps.cases.tasks.route_case", [case.pk]) not in result.sent
    assert result.skipped_quarantined == 1
