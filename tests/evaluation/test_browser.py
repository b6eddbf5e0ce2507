"""End to end in headless Chromium: a leader reads the evaluation dashboard, the hotspots and the
live colour board. Screenshots are kept in artifacts/screenshots/evaluation-*.png."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from apps.cases.models import Case, Colour, Status
from apps.evaluation.services import rollups_rebuild
from apps.public.models import Rating
from apps.public.services import rating_submit
from tests.conftest import screenshot, submit_login, wait_for, wait_for_js

from .helpers import fresh, report_at
from .test_rollup_consistency import GRIDS, take_step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def a_month_of_activity(org, seed: int = 7) -> None:
    """Random workflow activity over the last 30 days in both towns, then the rollups."""
    rng = random.Random(seed)
    clock = timezone.now() - dt.timedelta(days=30)
    cases: list[Case] = []
    for _ in range(260):
        clock = min(
            clock + dt.timedelta(hours=rng.uniform(0, 5.5)),
            timezone.now() - dt.timedelta(minutes=6),
        )
        open_cases = [
            c for c in cases if c.status not in (Status.CLOSED, Status.REJECTED, Status.MERGED)
        ]
        if rng.random() < 0.15 or not open_cases:
            user, grid = rng.choice(GRIDS)
            category = rng.choice(["rubbish", "rubbish", "illegal_building", "fire"])
            cases.append(report_at(org, clock, user=user, grid=grid, category=category))
        else:
            take_step(org, rng, fresh(rng.choice(open_cases)), clock, progress_bias=6.0)
        cases = [fresh(c) for c in cases]
    for case in [c for c in cases if c.status == Status.CLOSED][:8]:
        rating = rating_submit(case=case, stars=rng.choice([5, 5, 4, 3, 2]), via="token")
        Rating.objects.filter(pk=rating.pk).update(created_at=case.updated_at)
    Case.objects.filter(
        pk__in=[
            c.pk
            for c in cases[::4]
            if c.status not in (Status.CLOSED, Status.REJECTED, Status.MERGED)
        ]
    ).update(colour=Colour.RED, step_deadline=timezone.now() - dt.timedelta(hours=3))
    rollups_rebuild(first_day=timezone.localdate() - dt.timedelta(days=40))


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login/?next=/evaluation/")
    submit_login(page, username)


def test_a_leader_reads_the_dashboard_and_the_hotspots(org_tx, asgi_server, desk_context):
    a_month_of_activity(org_tx)
    page = desk_context.new_page()
    log_in(page, asgi_server, "leader")
    page.wait_for_url("**/evaluation/**")
    page.goto(f"{asgi_server}/evaluation/?period=30d")
    assert page.locator(".kpi .l", has_text="发现上报数").count() == 1
    ranking = page.locator(".ranking[data-kind=town] table.data tbody tr")
    assert ranking.count() == 2  # 东镇 and 西镇, ranked
    assert page.locator(".ranking[data-kind=department] table.data").count() == 1
    screenshot(page, "evaluation-dashboard")

    # Why a town ranks where it does.
    page.locator(".ranking[data-kind=town] tbody tr").first.locator("a").first.click()
    page.wait_for_selector(".big-score")
    assert "为什么排在这里" in page.content()
    assert (
        page.locator("select[name=period]").input_value() == "30d"
    )  # the same period as the ranking
    screenshot(page, "evaluation-score-breakdown")

    page.goto(f"{asgi_server}/evaluation/hotspots/?period=30d&granularity=day")
    page.wait_for_selector("#heatmap.leaflet-container")
    wait_for_js(
        page,
        "document.querySelectorAll('#heatmap path.leaflet-interactive, #heatmap canvas').length > 0",
    )
    assert page.locator("svg.chart").count() == 4  # trend, category, area, unit
    assert page.locator("svg.chart a").count() > 0  # bars and dots link to the cases
    screenshot(page, "evaluation-hotspots")


def test_the_colour_board_updates_itself_when_a_case_turns_red(org_tx, asgi_server, desk_context):
    org = org_tx
    report_at(org, timezone.now() - dt.timedelta(hours=1), grid="east-v1-g1")
    page = desk_context.new_page()
    log_in(page, asgi_server, "td")
    page.goto(f"{asgi_server}/evaluation/board/")
    red = page.locator("[data-total=red]")
    assert red.inner_text() == "0"
    late = report_at(org, timezone.now() - dt.timedelta(hours=2), grid="east-v1-g2")
    Case.objects.filter(pk=late.pk).update(
        colour=Colour.RED, step_deadline=timezone.now() - dt.timedelta(hours=1)
    )
    wait_for(lambda: red.inner_text() == "1", timeout=25, interval=0.5)
    assert "东镇1村" in page.locator("table[data-board=areas]").inner_text()
    screenshot(page, "evaluation-colour-board")
