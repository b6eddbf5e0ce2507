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
    # Some of them are past their 办结时限 too, still not handled: late against the on-time rate.
    Case.objects.filter(
        pk__in=[c.pk for c in cases[::4]], status__in=[Status.DISPATCHED, Status.SIGNED]
    ).update(overall_deadline=timezone.now() - dt.timedelta(hours=3))
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


NO_PAGE_OVERFLOW = "document.scrollingElement.scrollWidth <= window.innerWidth"
CANVASES_DRAWN = (
    "Array.from(document.querySelectorAll('[data-overview-charts] canvas')).map("
    "c => [c.id, c.getBoundingClientRect().width, c.getBoundingClientRect().height,"
    " typeof Chart !== 'undefined' && !!Chart.getChart(c)])"
)


@pytest.mark.parametrize("width,height", [(1440, 900), (1366, 768)])
def test_the_pages_fit_a_desk_screen_and_draw_their_charts(
    org_tx, asgi_server, browser, width, height
):
    a_month_of_activity(org_tx)
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on(
            "console",
            lambda m: (
                errors.append(f"{m.text} {m.location.get('url')}") if m.type == "error" else None
            ),
        )
        log_in(page, asgi_server, "leader")
        page.wait_for_url("**/evaluation/**")

        page.goto(f"{asgi_server}/evaluation/?period=30d")
        wait_for_js(page, "document.querySelectorAll('[data-overview-charts] canvas').length === 3")
        canvases = wait_for_js(page, f"({CANVASES_DRAWN}).every(c => c[3]) && {CANVASES_DRAWN}")
        assert {c[0] for c in canvases} == {"chart-trend", "chart-colours", "chart-categories"}
        assert all(w > 100 and h > 100 for _id, w, h, _drawn in canvases), canvases
        assert page.evaluate(NO_PAGE_OVERFLOW), "the overview is wider than the screen"
        # e.g. a script refused by the Content-Security-Policy (the site has no favicon)
        assert not [e for e in errors if "favicon.ico" not in e], errors
        # Cases past their 办结时限 and not handled count against the on-time handling rate.
        handling = page.locator(".kpi", has=page.locator(".l", has_text="按时处置率"))
        assert handling.locator(".v").inner_text() != "100.0%"
        screenshot(page, f"evaluation-overview-{width}")

        # The indicator table: wider than the screen, it scrolls inside its own box and keeps
        # the name column in view; the page itself does not scroll sideways.
        page.goto(f"{asgi_server}/evaluation/indicators/?period=30d&kind=town")
        box = page.locator(".table-scroll").first
        assert page.evaluate(NO_PAGE_OVERFLOW), "the indicator table widens the page"
        right = page.evaluate(
            "(() => { const t = document.querySelector('.table-scroll table');"
            " const b = document.querySelector('.table-scroll').getBoundingClientRect();"
            " return [b.right, t.getBoundingClientRect().right, window.innerWidth]; })()"
        )
        assert right[0] <= right[2], right  # the box ends inside the window
        box.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
        first_cell = page.locator(".table-scroll tbody tr td").first.bounding_box()
        box_left = box.bounding_box()["x"]
        assert abs(first_cell["x"] - box_left) < 2  # the name column stays put
        screenshot(page, f"evaluation-indicators-{width}")

        page.goto(f"{asgi_server}/evaluation/hotspots/?period=30d")
        page.wait_for_selector("#heatmap.leaflet-container")
        details = page.locator("details.more")
        assert details.count() >= 3 and page.locator("details.more[open]").count() == 0
        assert page.evaluate(NO_PAGE_OVERFLOW), "the hotspots page is wider than the screen"
        height_closed = page.evaluate("document.scrollingElement.scrollHeight")
        assert height_closed < 4000, height_closed  # charts and map, not 11,000 px of tables
        screenshot(page, f"evaluation-hotspots-{width}")
        details.first.locator("summary").click()
        assert details.first.locator("table.data").is_visible()
    finally:
        context.close()
