"""Three-level evaluation: composite scores from the weights in the admin, ranking, breakdown."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.cases import services
from apps.evaluation import selectors
from apps.evaluation.models import EvaluationWeight
from apps.evaluation.selectors.scores import indicator_score, score_rows
from apps.evaluation.services import rollups_rebuild

from .helpers import report_at, steps, t

FIRST, LAST = dt.date(2025, 3, 3), dt.date(2025, 3, 9)


@pytest.fixture
def two_towns(org):
    """East handles its case within its 办结时限 and closes it; west signs late and never handles."""
    u = org.users
    day = "2025-03-03"
    dispatched = {}
    for town, suffix in (("east", ""), ("west", "_w")):
        case = report_at(org, t(day, "09:00"), user=f"gw{suffix}", grid=f"{town}-v1-g1")
        head, dispatcher, unit = u[f"vh{suffix}"], u[f"td{suffix}"], org.units[f"{town}-cg"]
        dispatched[town] = steps(
            case,
            (t(day, "09:05"), services.case_accept, {"actor": head}),
            (t(day, "09:10"), services.case_escalate, {"actor": head, "reason": "上报"}),
            (t(day, "10:00"), services.case_dispatch, {"actor": dispatcher, "lead_unit": unit}),
        )
    east, west = dispatched["east"], dispatched["west"]
    steps(
        east,
        (t(day, "10:10"), services.case_sign, {"actor": u["dh"]}),
        (t(day, "12:00"), services.case_handle, {"actor": u["dh"], "result_text": "好"}),
        (t(day, "13:00"), services.case_verify, {"actor": u["gw"], "passed": True}),
        (t(day, "14:00"), services.case_close, {"actor": u["td"]}),
    )
    from apps.cases.models import Case

    Case.objects.filter(pk=west.pk).update(step_deadline=timezone.now() - dt.timedelta(hours=1))
    steps(west, (t("2025-03-04", "10:00"), services.case_sign, {"actor": u["dh_w"]}))
    rollups_rebuild(first_day=dt.date(2025, 3, 1), last_day=timezone.localdate())


def scores_of(org, kind="town"):
    escope = selectors.evaluation_scope(org.users["leader"])
    rows, weights = score_rows(org.users["leader"], escope, kind, first_day=FIRST, last_day=LAST)
    return {r.subject.name: r for r in rows}, weights


@pytest.mark.django_db
def test_the_town_that_signs_and_handles_on_time_ranks_first(org, two_towns):
    rows, _weights = scores_of(org)
    east, west = rows["东镇"], rows["西镇"]
    assert (east.rank, west.rank) == (1, 2)
    assert east.composite == pytest.approx(100.0)  # every indicator with data is perfect
    # West: signed late (0), closure 0 %, overdue count worst … and the reasons say so.
    reasons = [p.code for p in west.reasons]
    assert "closure_rate" in reasons and "sign_on_time_rate" in reasons


@pytest.mark.django_db
def test_indicators_without_data_neither_help_nor_hurt(org, two_towns):
    rows, weights = scores_of(org)
    east = rows["东镇"]
    parts = {p.code: p for p in east.parts}
    assert (
        parts["satisfaction_good_share"].score is None
        and parts["satisfaction_good_share"].share == 0
    )
    assert parts["rework_rate"].score == pytest.approx(100.0)  # one verification, passed
    assert sum(p.share for p in east.parts) == pytest.approx(1.0)


@pytest.mark.django_db
def test_the_weights_edited_in_the_admin_decide_the_score(org, two_towns):
    EvaluationWeight.objects.filter(kind="town").delete()
    EvaluationWeight.objects.create(kind="town", indicator="sign_on_time_rate", weight=1)
    rows, weights = scores_of(org)
    assert weights == {"sign_on_time_rate": 1.0}
    assert rows["东镇"].composite == pytest.approx(100.0)
    assert rows["西镇"].composite == pytest.approx(0.0)
    assert rows["西镇"].reasons[0].lost == pytest.approx(100.0)


@pytest.mark.django_db
def test_ties_share_a_rank_and_subjects_without_data_come_last(org, two_towns):
    EvaluationWeight.objects.filter(kind="stationed").delete()
    EvaluationWeight.objects.create(kind="stationed", indicator="return_rate", weight=1)
    rows, _ = scores_of(org, "stationed")
    assert rows["东镇城管中队"].rank == rows["西镇城管中队"].rank == 1  # no returns at either
    assert rows["东镇市场监管所"].composite is None and rows["东镇市场监管所"].rank is None


def test_relative_indicators_score_against_the_peers():
    assert indicator_score("reports", 5, [5, 10, None]) == 0.5
    assert indicator_score("overdue_now", 0, [0, 4]) == 1.0
    assert indicator_score("overdue_now", 4, [0, 4]) == 0.0
    assert indicator_score("overdue_now", 0, [0, 0]) == 1.0
    assert indicator_score("escalated", 2, [1, 2, 3]) == 0.5
    assert indicator_score("handle_hours_mean", 10.0, [5.0, 10.0]) == 0.5
    assert indicator_score("satisfaction_mean", 4.0, [4.0]) == 0.75
    assert indicator_score("rework_rate", 0.25, [0.25]) == 0.75
    assert indicator_score("closure_rate", None, [0.5]) is None
