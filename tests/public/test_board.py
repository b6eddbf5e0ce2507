"""大联动公开 (/track/board/): the colours and rates of every town and department, for anyone,
with withheld categories left out and small numbers hidden."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from apps.cases import services as workflow
from apps.cases.models import Case, Colour
from apps.evaluation.services import rollups_rebuild
from apps.public import services as public
from tests.public.conftest import CITIZEN_PHONE, citizen_case, close_through_town

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def board_settings(settings):
    settings.PUBLIC_BOARD_WITHHELD_CATEGORIES = ["guihua"]  # 规划建设 and its 违法建筑
    settings.PUBLIC_BOARD_MIN_COUNT = 5
    cache.clear()


@pytest.fixture
def county(org):
    return build_county(org)


def build_county(org):
    """East: 5 cases closed and rated (4 good), 1 accepted, 4 waiting (2 of them red), and 3
    withheld cases (red); west: one waiting case."""
    closed = [close_through_town(org, citizen_case(org, description=f"垃圾{i}")) for i in range(5)]
    for case, stars in zip(closed, [5, 5, 4, 5, 2]):
        public.rating_submit(case=case, stars=stars, comment="", via="token")
    accepted = citizen_case(org)
    workflow.case_accept(case=accepted, actor=org.users["vh"])
    waiting = [citizen_case(org, grid_key="east-v1-g2") for _ in range(4)]
    # Past their deadline, as the sweep found them (the board counts the colour a case shows).
    late = {"colour": Colour.RED, "step_deadline": timezone.now() - dt.timedelta(hours=1)}
    Case.objects.filter(pk__in=[c.pk for c in waiting[:2]]).update(**late)
    withheld = [
        citizen_case(org, category="illegal_building", description="违章搭建，涉及邻里")
        for _ in range(3)
    ]
    Case.objects.filter(pk__in=[c.pk for c in withheld]).update(**late)
    citizen_case(org, grid_key="west-v1-g1")
    rollups_rebuild()
    return org


def row_cells(html: str, table: str, name: str) -> list[str]:
    body = re.search(rf'data-testid="{table}">(.*?)</table>', html, re.S).group(1)
    row = re.search(rf"<tr><th scope=\"row\">{name}</th>(.*?)</tr>", body, re.S).group(1)
    return re.findall(r"<td[^>]*>(.*?)</td>", row)


def test_anyone_sees_each_towns_colours_and_rates(county):
    response = Client().get("/track/board/")
    assert response.status_code == 200
    html = response.content.decode()
    # open, red, yellow, blue, closure rate, on time, satisfaction. East has 5 open (1 accepted,
    # 4 waiting): shown; 2 red and 3 blue: under 5, hidden.
    assert row_cells(html, "towns", "东镇") == [
        "5",
        "&lt;5",
        "0",
        "&lt;5",
        "83%",
        "100%",
        "80%",
    ]
    assert row_cells(html, "towns", "西镇") == ["&lt;5", "0", "0", "&lt;5", "—", "—", "—"]


def test_withheld_categories_count_nowhere_and_no_personal_data_shows(county):
    html = Client().get("/track/board/").content.decode()
    # 3 withheld red cases would make east's red 5: it stays "<5" (the 2 red rubbish cases).
    assert row_cells(html, "towns", "东镇")[1] == "&lt;5"
    assert "规划建设类事件涉及个人信息，不在本页统计" in html
    assert CITIZEN_PHONE not in html and "违章搭建" not in html and "垃圾0" not in html


def test_a_department_counts_its_stationed_units_work(county):
    html = Client().get("/track/board/").content.decode()
    cells = row_cells(html, "departments", county.units["county-cg"].name)
    # The east 城管中队 (stationed by 城管局) handled the five closed cases.
    assert cells[5] == "100%"


def test_the_board_is_cached_between_requests(county, django_assert_max_num_queries):
    Client().get("/track/board/")
    with django_assert_max_num_queries(0):
        response = Client().get("/track/board/?period=30d")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("public, max-age=")


def test_an_unknown_period_falls_back_to_thirty_days(county):
    html = Client().get("/track/board/?period=forever").content.decode()
    assert 'aria-current="page" class="current">近 30 天' in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", [(390, 844), (1440, 900)], ids=["phone", "desk"])
def test_the_board_reads_on_a_phone_and_a_desk(org_tx, asgi_server, browser, size):
    from tests.conftest import ARTIFACTS, wait_for_js

    build_county(org_tx)
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(f"{asgi_server}/track/board/")
    assert page.locator("h1").inner_text() == "大联动公开"
    wait_for_js(page, "document.getElementById('board-map').dataset.ready === '1'", timeout=10)
    assert page.locator("#board-map .leaflet-interactive").count() >= 1  # east village's circle
    # The tables never push the page sideways: they scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"public-board-{size[0]}.png"), full_page=True)
    page.close()
