"""The one clock every screen shows (``selectors.case_clock``): its boundaries, and that the
colour it gives is the colour the sweep writes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.cases import services, sweep
from apps.cases.models import Case, Colour, Status
from apps.cases.selectors import case_clock, clock_colour, live_colour, overdue_q, span_words
from tests.cases.helpers import dispatched_at_town, report, routed

pytestmark = pytest.mark.django_db

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# A Wednesday in an ordinary week (no holidays in the test calendar), 10:00 in Shanghai.
WEDNESDAY_10 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)


def _at(case: Case, *, deadline: dt.datetime, yellow: dt.datetime | None = None) -> Case:
    Case.objects.filter(pk=case.pk).update(step_deadline=deadline, yellow_at=yellow)
    case.refresh_from_db()
    return case


def test_before_the_yellow_mark_it_is_blue_and_counts_down_working_time(org):
    case = _at(
        dispatched_at_town(org),
        deadline=WEDNESDAY_10 + dt.timedelta(hours=8),  # 18:00 the same day
        yellow=WEDNESDAY_10 + dt.timedelta(hours=5),
    )
    clock = case_clock(case, WEDNESDAY_10)
    assert clock.colour == Colour.BLUE and not clock.overdue
    assert clock.deadline == case.step_deadline
    assert clock.deadline_label == "本环节时限（签收）"
    # 10:00–12:00 and 13:30–18:00: 6.5 working hours, not the 8 natural ones.
    assert clock.remaining_hours == pytest.approx(6.5)
    assert clock.text == "剩 6 个工作小时 30 分"


def test_at_the_yellow_mark_it_turns_yellow(org):
    case = _at(
        dispatched_at_town(org),
        deadline=WEDNESDAY_10 + dt.timedelta(hours=2),
        yellow=WEDNESDAY_10,
    )
    clock = case_clock(case, WEDNESDAY_10)
    assert clock.colour == Colour.YELLOW and clock.text == "剩 2 个工作小时"


def test_exactly_at_the_deadline_it_is_red_as_the_sweep_says(org):
    case = _at(dispatched_at_town(org), deadline=WEDNESDAY_10, yellow=WEDNESDAY_10)
    clock = case_clock(case, WEDNESDAY_10)
    assert clock.colour == Colour.RED and clock.overdue and clock.text == "已超时"
    assert Case.objects.filter(overdue_q(WEDNESDAY_10), pk=case.pk).exists()


def test_overdue_counts_working_time_past_the_deadline(org):
    case = _at(
        dispatched_at_town(org),
        deadline=WEDNESDAY_10 - dt.timedelta(days=7),  # last Wednesday 10:00: 5 working days
        yellow=WEDNESDAY_10 - dt.timedelta(days=8),
    )
    clock = case_clock(case, WEDNESDAY_10)
    assert clock.colour == Colour.RED and clock.overdue
    assert clock.remaining_hours == pytest.approx(-40)
    assert clock.text == "已超时 5 个工作日"


def test_a_natural_hours_category_counts_natural_time(org):
    case = _at(
        dispatched_at_town(org, category="fire"),
        deadline=WEDNESDAY_10 + dt.timedelta(hours=30),
        yellow=WEDNESDAY_10 + dt.timedelta(hours=20),
    )
    clock = case_clock(case, WEDNESDAY_10)
    assert not clock.working_time and clock.text == "剩 1 天 6 小时"


def test_a_deferred_case_has_no_clock_and_is_grey(org):
    case = dispatched_at_town(org)
    Case.objects.filter(pk=case.pk).update(
        status=Status.DEFERRED, step_deadline=None, yellow_at=None, colour=Colour.GREY
    )
    case.refresh_from_db()
    clock = case_clock(case, WEDNESDAY_10)
    assert clock.colour == Colour.GREY and clock.deadline is None and not clock.overdue
    assert clock.text.startswith("挂账缓办")


def test_a_closed_case_is_green_whatever_its_old_deadline(org):
    case = routed(report(org))
    services.case_reject(case=case, actor=org.users["vh"], reason="invalid", note="无效")
    case.refresh_from_db()
    Case.objects.filter(pk=case.pk).update(step_deadline=WEDNESDAY_10 - dt.timedelta(days=3))
    case.refresh_from_db()
    clock = case_clock(case, WEDNESDAY_10)
    assert clock.colour == Colour.GREEN and clock.deadline is None and clock.text == "已办结"


def test_the_办结时限_never_drives_the_clock(org):
    case = _at(
        dispatched_at_town(org),
        deadline=WEDNESDAY_10 + dt.timedelta(hours=18),
        yellow=WEDNESDAY_10 + dt.timedelta(hours=12),
    )
    Case.objects.filter(pk=case.pk).update(overall_deadline=WEDNESDAY_10 - dt.timedelta(days=2))
    case.refresh_from_db()
    clock = case_clock(case, WEDNESDAY_10)
    assert clock.deadline == case.step_deadline and clock.colour == Colour.BLUE


def test_the_live_colour_in_sql_matches_the_rule_for_every_state(org):
    now = timezone.now()
    cases = [dispatched_at_town(org) for _ in range(4)]
    _at(cases[0], deadline=now + dt.timedelta(hours=5), yellow=now + dt.timedelta(hours=1))
    _at(cases[1], deadline=now + dt.timedelta(hours=5), yellow=now - dt.timedelta(hours=1))
    _at(cases[2], deadline=now, yellow=now - dt.timedelta(hours=1))
    Case.objects.filter(pk=cases[3].pk).update(status=Status.DEFERRED, step_deadline=None)
    shown = dict(
        Case.objects.filter(pk__in=[c.pk for c in cases])
        .annotate(c=live_colour(now))
        .values_list("pk", "c")
    )
    for case in Case.objects.filter(pk__in=[c.pk for c in cases]):
        assert shown[case.pk] == clock_colour(case, now)
    assert [shown[c.pk] for c in cases] == [Colour.BLUE, Colour.YELLOW, Colour.RED, Colour.GREY]


def test_after_a_sweep_the_stored_colour_is_the_shown_colour(org):
    now = timezone.now()
    cases = [dispatched_at_town(org) for _ in range(3)]
    _at(cases[0], deadline=now + dt.timedelta(hours=5), yellow=now + dt.timedelta(hours=1))
    _at(cases[1], deadline=now + dt.timedelta(hours=5), yellow=now - dt.timedelta(minutes=1))
    _at(cases[2], deadline=now - dt.timedelta(minutes=1), yellow=now - dt.timedelta(hours=1))
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(
        sweep_due_at=now - dt.timedelta(minutes=1)
    )
    sweep.sweep_clocks(now=timezone.now())
    for case in Case.objects.filter(pk__in=[c.pk for c in cases]):
        assert case.colour == case_clock(case).colour


def test_span_words():
    assert span_words(0.5, working=True) == "30 分钟（工作时间）"
    assert span_words(17, working=True) == "2 个工作日 1 小时"
    assert span_words(49, working=False) == "2 天 1 小时"
    assert span_words(0.001, working=False) == "1 分钟"


def test_working_hours_between_counts_whole_days_like_the_minute_by_minute_walk(org):
    """The fast path for whole days inside a span agrees with adding working hours."""
    import random

    from apps.cases import clock

    rng = random.Random(17)
    for _ in range(200):
        start = WEDNESDAY_10 + dt.timedelta(minutes=rng.randrange(-60 * 24 * 30, 60 * 24 * 30))
        hours = rng.uniform(0.1, 400)
        end = clock.add_working_hours(start, hours)
        assert clock.working_hours_between(start, end) == pytest.approx(hours, abs=1e-6)
