"""Every indicator on a small hand-built week whose right answers are written below.

The week 2025-03-03 (Mon) … 2025-03-09 in the test organisation (east town, village east-v1;
west town for the outsider case):

    A  g1  gw   report 03-03 09:00 → accept → escalate → dispatch east-cg 10:00 → sign 10:30 (on time)
                → handle 14:00 (4 h; 办结时限 03-05 18:00: on time) → verify pass → close; rated 5★
    B  g2  gw   report 03-04 08:00 → … → dispatch east-cg 09:00 → sign late → handle 03-05 09:00 (24 h,
                办结时限 03-04 18:00: late) → verify FAIL → handle 15:00 (30 h, late) → verify pass
    C  g1  gw2  report 03-05 10:00 → rejected
    D  g2  gw   report 03-06 08:00 → … → dispatch east-cg 10:00 → RETURN 11:00 → dispatch east-cg 12:00
                → sign (on time) → extension asked + granted → DEFERRED (leaves the on-time figures)
    F  g1  gw   report 03-07 (当场处置) → verify pass by gw2 → close; rated 3★
    G  g1  gw   report 03-08, still waiting for acceptance, its clock run out → overdue now
    H  g1  gw   report 02-20 (before the week) → dispatch east-cg → signed, clock run out → overdue now
    E  west gw_w report 03-03 → dispatch west-cg → sign → handle (only in the west's figures)
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.utils import timezone

from apps.cases import services
from apps.cases.models import Case
from apps.evaluation import selectors
from apps.evaluation.indicators import INDICATORS, evaluate
from apps.evaluation.rollups import live_counters
from apps.evaluation.services import rollups_rebuild, rollups_refresh
from apps.public.models import Rating
from apps.public.services import rating_submit

from .helpers import at, fresh, report_at, steps, t

FIRST, LAST = dt.date(2025, 3, 3), dt.date(2025, 3, 9)
ALL = tuple(INDICATORS)


def _to_town(org, case, when_accept, when_escalate):
    head = "vh" if case.village_id == org.villages["east-v1"].pk else "vh_w"
    actor = org.users[head]
    return steps(
        case,
        (when_accept, services.case_accept, {"actor": actor}),
        (when_escalate, services.case_escalate, {"actor": actor, "reason": "村里处理不了"}),
    )


def _deadline(case, when):
    Case.objects.filter(pk=case.pk).update(overall_deadline=when)


def _rate(case, stars, when):
    rating = rating_submit(case=fresh(case), stars=stars, via="token")
    Rating.objects.filter(pk=rating.pk).update(created_at=when)
    from apps.cases.models import CaseEvent

    CaseEvent.objects.filter(case=case, action="rate").update(created_at=when)


@pytest.fixture
def week(org):
    u, cg = org.users, org.units["east-cg"]
    cases = {}

    a = report_at(org, t("2025-03-03", "09:00"), grid="east-v1-g1")
    a = _to_town(org, a, t("2025-03-03", "09:10"), t("2025-03-03", "09:20"))
    steps(
        a, (t("2025-03-03", "10:00"), services.case_dispatch, {"actor": u["td"], "lead_unit": cg})
    )
    _deadline(a, t("2025-03-05", "18:00"))
    steps(
        a,
        (t("2025-03-03", "10:30"), services.case_sign, {"actor": u["dh"]}),
        (
            t("2025-03-03", "14:00"),
            services.case_handle,
            {"actor": u["dh"], "result_text": "已清运"},
        ),
        (t("2025-03-04", "09:00"), services.case_verify, {"actor": u["gw"], "passed": True}),
        (t("2025-03-04", "10:00"), services.case_close, {"actor": u["td"]}),
    )
    _rate(a, 5, t("2025-03-04", "12:00"))
    cases["A"] = a

    b = report_at(org, t("2025-03-04", "08:00"), grid="east-v1-g2")
    b = _to_town(org, b, t("2025-03-04", "08:10"), t("2025-03-04", "08:20"))
    steps(
        b, (t("2025-03-04", "09:00"), services.case_dispatch, {"actor": u["td"], "lead_unit": cg})
    )
    _deadline(b, t("2025-03-04", "18:00"))
    Case.objects.filter(pk=b.pk).update(
        step_deadline=timezone.now() - dt.timedelta(hours=1)
    )  # signs late
    steps(
        b,
        (t("2025-03-04", "12:00"), services.case_sign, {"actor": u["dh"]}),
        (
            t("2025-03-05", "09:00"),
            services.case_handle,
            {"actor": u["dh"], "result_text": "处理了"},
        ),
        (
            t("2025-03-05", "10:00"),
            services.case_verify,
            {"actor": u["gw"], "passed": False, "note": "还在"},
        ),
        (
            t("2025-03-05", "15:00"),
            services.case_handle,
            {"actor": u["dh"], "result_text": "再次处理"},
        ),
        (t("2025-03-06", "09:00"), services.case_verify, {"actor": u["gw"], "passed": True}),
    )
    cases["B"] = b

    c = report_at(org, t("2025-03-05", "10:00"), user="gw2", grid="east-v1-g1")
    at(
        t("2025-03-05", "11:00"),
        services.case_reject,
        case=c,
        actor=u["vh"],
        reason="invalid",
        note="无效",
    )
    cases["C"] = c

    d = report_at(org, t("2025-03-06", "08:00"), grid="east-v1-g2")
    d = _to_town(org, d, t("2025-03-06", "08:10"), t("2025-03-06", "08:20"))
    steps(
        d,
        (t("2025-03-06", "10:00"), services.case_dispatch, {"actor": u["td"], "lead_unit": cg}),
        (
            t("2025-03-06", "11:00"),
            services.case_return,
            {"actor": u["dh"], "reason": "不归我们管"},
        ),
        (t("2025-03-06", "12:00"), services.case_dispatch, {"actor": u["td"], "lead_unit": cg}),
        (t("2025-03-06", "12:30"), services.case_sign, {"actor": u["dh"]}),
    )
    request = at(
        t("2025-03-06", "13:00"),
        services.extension_request,
        case=fresh(d),
        actor=u["dh"],
        hours=8,
        reason="需要协调",
    )
    at(
        t("2025-03-06", "13:30"),
        services.extension_decide,
        request=request,
        actor=u["td"],
        approve=True,
    )
    at(
        t("2025-03-07", "09:00"),
        services.case_defer,
        case=fresh(d),
        actor=u["td"],
        review_on=timezone.localdate() + dt.timedelta(days=30),
        reason="需要预算",
    )
    cases["D"] = d

    f = report_at(
        org, t("2025-03-07", "10:00"), grid="east-v1-g1", self_resolved=True, result_text="已扶正"
    )
    steps(
        f,
        (t("2025-03-07", "11:00"), services.case_verify, {"actor": u["gw2"], "passed": True}),
        (t("2025-03-07", "12:00"), services.case_close, {"actor": u["vh"]}),
    )
    _rate(f, 3, t("2025-03-08", "09:00"))
    cases["F"] = f

    g = report_at(org, t("2025-03-08", "10:00"), grid="east-v1-g1")
    Case.objects.filter(pk=g.pk).update(step_deadline=timezone.now() - dt.timedelta(hours=2))
    cases["G"] = g

    h = report_at(org, t("2025-02-20", "10:00"), grid="east-v1-g1")
    h = _to_town(org, h, t("2025-02-20", "10:10"), t("2025-02-20", "10:20"))
    steps(
        h,
        (t("2025-02-20", "11:00"), services.case_dispatch, {"actor": u["td"], "lead_unit": cg}),
        (t("2025-02-20", "11:30"), services.case_sign, {"actor": u["dh"]}),
    )
    Case.objects.filter(pk=h.pk).update(step_deadline=timezone.now() - dt.timedelta(hours=2))
    cases["H"] = h

    e = report_at(org, t("2025-03-03", "09:00"), user="gw_w", grid="west-v1-g1")
    e = _to_town(org, e, t("2025-03-03", "09:10"), t("2025-03-03", "09:20"))
    steps(
        e,
        (
            t("2025-03-03", "10:00"),
            services.case_dispatch,
            {"actor": u["td_w"], "lead_unit": org.units["west-cg"]},
        ),
        (t("2025-03-03", "11:00"), services.case_sign, {"actor": u["dh_w"]}),
        (
            t("2025-03-03", "13:00"),
            services.case_handle,
            {"actor": u["dh_w"], "result_text": "好了"},
        ),
    )
    cases["E"] = e
    return cases


def indicators_of(org, level, key, *, live=True, first=FIRST, last=LAST):
    if live:
        counters = live_counters(level=level, keys=[key], first_day=first, last_day=last).get(
            key, {}
        )
    else:
        counters = selectors.rollup_counters(
            level=level, keys=[key], first_day=first, last_day=last
        ).get(key, {})
    counters = dict(counters)
    user = org.users["leader"]
    counters["overdue_now"] = selectors.overdue_now(user, level=level, keys=[key]).get(key, 0)
    return evaluate(counters, ALL)


EAST_TOWN = {
    "reports": 6,  # A B C D F G (H is before the week, E is west)
    "self_resolved": 1,  # F
    "accepted": 4,  # A B D F (C rejected, G still waiting)
    "rejected": 1,  # C
    "dispatched": 4,  # A, B, D twice
    "sign_on_time_rate": 1 / 2,  # A on time, B late; D's signing left out (deferred)
    "handle_on_time_rate": 1 / 3,  # A on time; B's two handlings after its 办结时限
    "closure_rate": 2 / 4,  # A and F closed of A B D F
    "rework_rate": 1 / 4,  # verifications A✓ B✗ B✓ F✓
    "return_rate": 1 / 4,  # D's return of 4 dispatches
    "extension_requested": 1,
    "extension_granted": 1,
    "overdue_now": 2,  # G (waiting for acceptance) and H (signed, not handled)
    "handle_hours_mean": (4 + 24 + 30) / 3,  # A 4 h; B 24 h and 30 h after its dispatch
    "handle_hours_p90": 48,  # ⌈0.9·3⌉ = 3rd shortest, 30 h, falls in the ≤ 48 h bin
    "escalated": 3,  # A B D from the village to the town
    "verified": 4,
    "handled": 3,
    "satisfaction_mean": (5 + 3) / 2,  # A 5★ (03-04), F 3★ (03-08)
    "satisfaction_good_share": 1 / 2,
}


def assert_matches(values, expected):
    for code, want in expected.items():
        got = values[code]
        if isinstance(want, float):
            assert got == pytest.approx(want), code
        else:
            assert got == want, code


@pytest.mark.django_db
def test_every_indicator_of_the_town_on_the_hand_built_week(org, week):
    assert_matches(indicators_of(org, "town", org.towns["east"].pk), EAST_TOWN)


@pytest.mark.django_db
def test_the_county_and_the_village_add_up_what_is_inside_them(org, week):
    county = indicators_of(org, "county", org.county.pk)
    assert county["reports"] == 7 and county["dispatched"] == 5 and county["handled"] == 4
    village = indicators_of(org, "village", org.villages["east-v1"].pk)
    assert_matches(village, EAST_TOWN)  # every east case is in village east-v1
    assert indicators_of(org, "village", org.villages["east-v2"].pk)["reports"] == 0


@pytest.mark.django_db
def test_grids_get_the_cases_located_in_them(org, week):
    g1 = indicators_of(org, "grid", org.grids["east-v1-g1"].pk)
    g2 = indicators_of(org, "grid", org.grids["east-v1-g2"].pk)
    assert (g1["reports"], g2["reports"]) == (4, 2)  # A C F G / B D
    assert (g1["overdue_now"], g2["overdue_now"]) == (2, 0)
    assert g2["return_rate"] == pytest.approx(1 / 3) and g2["escalated"] == 2


@pytest.mark.django_db
def test_the_stationed_unit_is_judged_on_what_it_did_and_what_it_leads(org, week):
    cg = indicators_of(org, "unit", org.units["east-cg"].pk)
    assert_matches(
        cg,
        {
            "dispatched": 4,
            "return_rate": 1 / 4,
            "sign_on_time_rate": 1 / 2,
            "handle_on_time_rate": 1 / 3,
            "accepted": 3,  # A B D are led by it now (F has no unit)
            "closure_rate": 1 / 3,  # A
            "rework_rate": 1 / 3,  # A✓ B✗ B✓ — F's verification belongs to no unit
            "extension_requested": 1,
            "extension_granted": 1,
            "overdue_now": 1,  # H; G waits at the village desk, not at the unit
            "handle_hours_mean": 58 / 3,
            "handle_hours_p90": 48,
            "satisfaction_mean": 5.0,
            "satisfaction_good_share": 1.0,
            "escalated": 0,
            "reports": 0,
        },
    )
    west = indicators_of(org, "unit", org.units["west-cg"].pk)
    assert (west["dispatched"], west["handled"], west["handle_hours_mean"]) == (
        1,
        1,
        pytest.approx(3.0),
    )


@pytest.mark.django_db
def test_people_get_what_they_found_verified_and_handled(org, week):
    gw = indicators_of(org, "person", org.users["gw"].pk)
    assert (gw["reports"], gw["self_resolved"], gw["verified"], gw["rework_rate"]) == (
        5,
        1,
        3,
        pytest.approx(1 / 3),
    )
    gw2 = indicators_of(org, "person", org.users["gw2"].pk)
    assert (gw2["reports"], gw2["verified"]) == (1, 1)
    dh = indicators_of(org, "person", org.users["dh"].pk)
    assert dh["handled"] == 3 and dh["handle_on_time_rate"] == pytest.approx(1 / 3)
    assert dh["handle_hours_mean"] == pytest.approx(58 / 3) and dh["handle_hours_p90"] == 48


@pytest.mark.django_db
def test_a_shorter_period_only_counts_its_own_days(org, week):
    monday = indicators_of(org, "town", org.towns["east"].pk, first=FIRST, last=FIRST)
    assert_matches(
        monday,
        {
            "reports": 1,
            "dispatched": 1,
            "handled": 1,
            "handle_on_time_rate": 1.0,
            "handle_hours_mean": 4.0,
            "handle_hours_p90": 4,
            "escalated": 1,
            "satisfaction_mean": None,
            "rework_rate": None,
        },
    )
    before = indicators_of(
        org, "town", org.towns["east"].pk, first=dt.date(2025, 2, 1), last=dt.date(2025, 2, 28)
    )
    assert (before["reports"], before["dispatched"], before["sign_on_time_rate"]) == (1, 1, 1.0)


@pytest.mark.django_db
def test_the_rollups_give_the_same_answers_as_the_live_computation(org, week):
    rollups_rebuild(first_day=dt.date(2025, 2, 1), last_day=timezone.localdate())
    for level, key in [
        ("town", org.towns["east"].pk),
        ("unit", org.units["east-cg"].pk),
        ("person", org.users["dh"].pk),
        ("grid", org.grids["east-v1-g2"].pk),
    ]:
        assert indicators_of(org, level, key, live=False) == indicators_of(org, level, key), level
    assert_matches(indicators_of(org, "town", org.towns["east"].pk, live=False), EAST_TOWN)


@pytest.mark.django_db
def test_a_p90_beyond_the_last_bin_reads_as_longer_than_720_hours(org):
    from apps.evaluation.indicators import format_value, p90_hours

    assert p90_hours({"handle_n": 10, "hist_00": 8, "hist_12": 2}) == math.inf
    assert format_value("handle_hours_p90", math.inf) == ">720"
    assert p90_hours({"handle_n": 10, "hist_00": 9, "hist_12": 1}) == 1
    assert p90_hours({}) is None


@pytest.mark.django_db
def test_the_refresh_task_picks_up_a_step_taken_after_the_rollups_were_built(org, week):
    rollups_rebuild(first_day=dt.date(2025, 2, 1), last_day=timezone.localdate())
    # H is finally handled (today): H's report day (02-20) and today must both be recomputed.
    h = fresh(week["H"])
    services.case_handle(case=h, actor=org.users["dh"], result_text="终于处理")
    from apps.evaluation.models import RollupCursor

    RollupCursor.objects.filter(name="events").update(last_id=0)  # as if all of it were new
    rollups_refresh()
    today = timezone.localdate()
    for first, last in [(dt.date(2025, 2, 1), today), (today, today), (FIRST, LAST)]:
        key = org.units["east-cg"].pk
        assert indicators_of(org, "unit", key, live=False, first=first, last=last) == indicators_of(
            org, "unit", key, first=first, last=last
        )


@pytest.mark.django_db
def test_the_rebuild_command_writes_the_rollups(org, week):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    call_command("evaluation_rebuild", "--from", "2025-02-01", "--to", "2025-03-31", stdout=out)
    assert "rollup rows written" in out.getvalue()
    assert_matches(
        indicators_of(org, "town", org.towns["east"].pk, live=False),
        {"reports": 6, "dispatched": 4},
    )
    with pytest.raises(CommandError):
        call_command("evaluation_rebuild", "--from", "2025-03-31", "--to", "2025-02-01")
