"""The on-time rates count open cases that are already late, and subjects without data are
unranked: the two rules of /evaluation/help/#on-time and #no-data."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.utils import timezone

from apps.cases import services
from apps.cases.models import Case
from apps.evaluation import selectors
from apps.evaluation.selectors.scores import score_rows
from apps.evaluation.services import rollups_rebuild
from tests.factories import PASSWORD

from .helpers import report_at, steps, t

FIRST, LAST = dt.date(2025, 3, 3), dt.date(2025, 3, 9)
WEEK = "period=custom&from=2025-03-03&to=2025-03-09"


def dispatched_in_east(org, day: str) -> Case:
    u = org.users
    case = report_at(org, t(day, "09:00"), user="gw", grid="east-v1-g1")
    return steps(
        case,
        (t(day, "09:05"), services.case_accept, {"actor": u["vh"]}),
        (t(day, "09:10"), services.case_escalate, {"actor": u["vh"], "reason": "上报"}),
        (
            t(day, "10:00"),
            services.case_dispatch,
            {"actor": u["td"], "lead_unit": org.units["east-cg"]},
        ),
    )


def rebuild() -> None:
    rollups_rebuild(first_day=dt.date(2025, 3, 1), last_day=timezone.localdate())


def row_of(org, kind: str, subject_id: int, **period):
    leader = org.users["leader"]
    escope = selectors.evaluation_scope(leader)
    rows = selectors.indicator_rows(
        leader,
        escope,
        kind,
        first_day=period.get("first_day", FIRST),
        last_day=period.get("last_day", LAST),
    )
    return next(r for r in rows if r.subject.id == subject_id)


@pytest.fixture
def handled_and_late(org):
    """East's 城管中队 gets two cases on 03-03: one handled in time; the other signed, its
    办结时限 passed on 03-05, and still not handled."""
    u = org.users
    on_time = dispatched_in_east(org, "2025-03-03")
    steps(
        on_time,
        (t("2025-03-03", "10:10"), services.case_sign, {"actor": u["dh"]}),
        (t("2025-03-03", "12:00"), services.case_handle, {"actor": u["dh"], "result_text": "好"}),
    )
    late = dispatched_in_east(org, "2025-03-03")
    late = steps(late, (t("2025-03-03", "10:20"), services.case_sign, {"actor": u["dh"]}))
    Case.objects.filter(pk=late.pk).update(overall_deadline=t("2025-03-05", "10:00"))
    rebuild()
    return late


@pytest.mark.django_db
def test_an_open_case_past_its_deadline_counts_against_the_handling_rate(org, handled_and_late):
    unit = row_of(org, "stationed", org.units["east-cg"].pk)
    # One handling report on time, one case late and still open: 1 ÷ (1 + 1).
    assert unit.counters["handled_timed"] == 1 and unit.counters["handle_late_open"] == 1
    assert unit.values["handle_on_time_rate"] == pytest.approx(0.5)
    town = row_of(org, "town", org.towns["east"].pk)
    assert town.values["handle_on_time_rate"] == pytest.approx(0.5)
    # The dashboard's headline reads the same rule.
    leader = org.users["leader"]
    totals = selectors.totals_for(
        leader, selectors.evaluation_scope(leader), first_day=FIRST, last_day=LAST
    )
    assert totals["handle_on_time_rate"] == pytest.approx(0.5)


@pytest.mark.django_db
def test_a_late_case_counts_in_the_period_its_deadline_passed_in(org, handled_and_late):
    before = row_of(
        org,
        "stationed",
        org.units["east-cg"].pk,
        first_day=dt.date(2025, 3, 6),
        last_day=dt.date(2025, 3, 9),
    )
    assert before.counters["handle_late_open"] == 0
    # No handling in that period and nothing due in it: no data, not 100 %.
    assert before.values["handle_on_time_rate"] is None


@pytest.mark.django_db
def test_once_handled_a_late_case_counts_once_as_a_late_handling(org, handled_and_late):
    u = org.users
    steps(
        handled_and_late,
        (t("2025-03-06", "09:00"), services.case_handle, {"actor": u["dh"], "result_text": "迟"}),
    )
    rebuild()
    unit = row_of(org, "stationed", org.units["east-cg"].pk)
    assert unit.counters["handle_late_open"] == 0  # no longer open …
    assert (unit.counters["handled_timed"], unit.counters["handled_on_time"]) == (2, 1)  # … late
    assert unit.values["handle_on_time_rate"] == pytest.approx(0.5)


@pytest.mark.django_db
def test_a_case_not_yet_signed_past_its_signing_deadline_counts_against_the_signing_rate(
    org, handled_and_late
):
    waiting = dispatched_in_east(org, "2025-03-04")
    Case.objects.filter(pk=waiting.pk).update(step_deadline=t("2025-03-04", "12:00"))
    unit = row_of(org, "stationed", org.units["east-cg"].pk)
    assert unit.counters["sign_late_open"] == 1
    # Two signings in time, one case waiting past its deadline: 2 ÷ 3.
    assert unit.values["sign_on_time_rate"] == pytest.approx(2 / 3)


@pytest.mark.django_db
def test_a_case_that_was_deferred_leaves_the_on_time_rates(org, handled_and_late):
    from apps.cases.models import Action, CaseEvent

    CaseEvent.objects.create(case=handled_and_late, action=Action.DEFER, created_at=t("2025-03-03"))
    unit = row_of(org, "stationed", org.units["east-cg"].pk)
    assert unit.counters["handle_late_open"] == 0
    assert unit.values["handle_on_time_rate"] == pytest.approx(1.0)


def ranking(org, kind: str):
    leader = org.users["leader"]
    escope = selectors.evaluation_scope(leader)
    rows, _weights = score_rows(leader, escope, kind, first_day=FIRST, last_day=LAST)
    return rows


@pytest.mark.django_db
def test_subjects_without_data_are_unranked_and_listed_last(org, handled_and_late):
    rows = ranking(org, "stationed")
    east_cg = org.units["east-cg"].pk
    ranked = [r for r in rows if r.rank is not None]
    unranked = [r for r in rows if r.rank is None]
    assert [r.subject.id for r in ranked] == [east_cg]
    assert ranked[0].rank == 1
    assert unranked and all(r.composite is None for r in unranked)
    assert rows.index(unranked[0]) > rows.index(ranked[-1])  # last
    # Nothing about them is "perfect": every part is without data.
    assert all(p.score is None and p.value is None for r in unranked for p in r.parts)


@pytest.mark.django_db
def test_departments_with_no_cases_do_not_tie_for_first(org, handled_and_late):
    rows = ranking(org, "department")  # the county's departments have no cases at all
    assert rows and all(r.rank is None and r.composite is None for r in rows)


@pytest.mark.django_db
def test_a_subject_with_only_overdue_cases_is_ranked(org):
    """Doing nothing while cases run late is data: it scores, and low."""
    case = dispatched_in_east(org, "2025-03-04")
    Case.objects.filter(pk=case.pk).update(
        step_deadline=timezone.now() - dt.timedelta(hours=1),
        overall_deadline=t("2025-03-05", "10:00"),
    )
    Case.objects.filter(pk=case.pk).update(dispatched_at=t("2025-03-04", "10:00"))
    rebuild()
    rows = {r.subject.id: r for r in ranking(org, "stationed")}
    east_cg = rows[org.units["east-cg"].pk]
    assert east_cg.rank == 1 and east_cg.composite is not None
    parts = {p.code: p for p in east_cg.parts}
    assert parts["handle_on_time_rate"].score == pytest.approx(0.0)


@pytest.mark.django_db
def test_pages_and_exports_show_no_data_as_a_dash_and_an_empty_cell(org, handled_and_late):
    client = Client()
    assert client.login(username="leader", password=PASSWORD)
    page = client.get(f"/evaluation/?{WEEK}").content.decode()
    assert "区城管局" in page and "<td>—</td>" in page
    assert "含未完成的超时事件 1 件" in page  # under 按时处置率: the case still not handled
    response = client.get(f"/evaluation/?{WEEK}&export=csv&table=department")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[2:]
    assert rows and all(row[0] == "" and row[3] == "" for row in rows)  # rank, composite
    help_page = client.get("/evaluation/help/").content.decode()
    assert 'id="on-time"' in help_page and 'id="no-data"' in help_page
    assert "此刻已派遣或处置中" in help_page


@pytest.mark.django_db
def test_the_breakdown_of_a_subject_without_data_says_it_is_unranked(org, handled_and_late):
    client = Client()
    assert client.login(username="leader", password=PASSWORD)
    idle = org.units["east-sj"].pk  # east's 市场监管所: no cases
    page = client.get(f"/evaluation/scores/stationed/{idle}/?{WEEK}").content.decode()
    assert "不计分、不排名" in page
    assert "—<span" in page and "/1</span>" in page  # rank "—" of the one ranked unit
    listing = client.get(f"/evaluation/scores/?kind=stationed&{WEEK}").content.decode()
    assert listing.index("东镇城管中队") < listing.index("东镇市场监管所")
