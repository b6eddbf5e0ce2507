"""The /evaluation/ pages: who may open them, what each reader sees, exports, bad input."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from apps.cases import services
from apps.cases.models import Case
from apps.evaluation.services import rollups_rebuild
from tests.factories import PASSWORD

from .helpers import report_at, steps, t

WEEK = "period=custom&from=2025-03-03&to=2025-03-09"


def client_for(org, name: str) -> Client:
    client = Client()
    assert client.login(username=name, password=PASSWORD)
    return client


@pytest.fixture
def activity(org):
    """A little activity in both towns during the week of 2025-03-03, rolled up."""
    u = org.users
    for key, grid, vh, td, dh, unit in [
        ("gw", "east-v1-g1", "vh", "td", "dh", "east-cg"),
        ("gw_w", "west-v1-g1", "vh_w", "td_w", "dh_w", "west-cg"),
    ]:
        for day in ("2025-03-03", "2025-03-04"):
            case = report_at(org, t(day, "09:00"), user=key, grid=grid)
            steps(
                case,
                (t(day, "09:10"), services.case_accept, {"actor": u[vh]}),
                (t(day, "09:20"), services.case_escalate, {"actor": u[vh], "reason": "上报"}),
                (
                    t(day, "10:00"),
                    services.case_dispatch,
                    {"actor": u[td], "lead_unit": org.units[unit]},
                ),
                (t(day, "10:30"), services.case_sign, {"actor": u[dh]}),
                (t(day, "15:00"), services.case_handle, {"actor": u[dh], "result_text": "好了"}),
            )
    # one overdue case in the west, live on the colour board
    late = report_at(org, t("2025-03-05", "09:00"), user="gw_w", grid="west-v1-g1")
    Case.objects.filter(pk=late.pk).update(
        step_deadline=timezone.now() - dt.timedelta(hours=1), colour="red"
    )
    rollups_rebuild(first_day=dt.date(2025, 3, 1), last_day=timezone.localdate())


# --- who may open the pages -----------------------------------------------------------------


@pytest.mark.django_db
def test_an_anonymous_visitor_is_sent_to_log_in(org):
    response = Client().get("/evaluation/")
    assert response.status_code == 302 and response["Location"].startswith(
        "/admin/login/?next=/evaluation/"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["gw", "gl", "dh"])
def test_grid_workers_and_department_handlers_are_refused(org, name):
    client = client_for(org, name)
    for url in [
        "/evaluation/",
        "/evaluation/indicators/?kind=town",
        "/evaluation/board.json",
        "/evaluation/hotspots/?export=csv",
        "/evaluation/scores/?export=xlsx",
    ]:
        assert client.get(url).status_code == 403, url


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["leader", "cd", "td", "vh"])
def test_leaders_and_desks_open_every_page(org, activity, name):
    client = client_for(org, name)
    for url in [
        "/evaluation/",
        f"/evaluation/?{WEEK}",
        f"/evaluation/indicators/?{WEEK}",
        f"/evaluation/scores/?{WEEK}",
        f"/evaluation/hotspots/?{WEEK}",
        "/evaluation/board/",
        "/evaluation/board.json",
        "/evaluation/help/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:300])


# --- scoping ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_county_ranks_both_towns(org, activity):
    page = client_for(org, "leader").get(f"/evaluation/?{WEEK}").content.decode()
    assert "东镇" in page and "西镇" in page and "区城管局" in page


@pytest.mark.django_db
def test_a_town_dispatcher_sees_only_their_own_villages_and_units(org, activity):
    client = client_for(org, "td")
    page = client.get(f"/evaluation/?{WEEK}").content.decode()
    assert "东镇1村" in page and "东镇城管中队" in page
    assert "西镇" not in page and "区城管局" not in page
    indicators = client.get(f"/evaluation/indicators/?kind=village&{WEEK}").content.decode()
    assert "东镇2村" in indicators and "西镇1村" not in indicators


@pytest.mark.django_db
def test_a_town_dispatcher_cannot_open_another_towns_numbers(org, activity):
    client = client_for(org, "td")
    west = org.towns["west"].pk
    assert (
        client.get(f"/evaluation/indicators/?kind=village&region={west}&{WEEK}").status_code == 404
    )
    assert client.get(f"/evaluation/hotspots/?region={west}&{WEEK}").status_code == 404
    assert (
        client.get(f"/evaluation/hotspots/?region={west}&export=csv&table=area").status_code == 404
    )
    assert (
        client.get(f"/evaluation/scores/village/{org.villages['west-v1'].pk}/?{WEEK}").status_code
        == 404
    )
    assert client.get(f"/evaluation/indicators/?kind=department&{WEEK}").status_code == 404
    assert client.get(f"/evaluation/scores/?kind=town&{WEEK}").status_code == 404


@pytest.mark.django_db
def test_a_town_dispatchers_exports_hold_only_their_town(org, activity):
    client = client_for(org, "td")
    response = client.get(f"/evaluation/indicators/?kind=stationed&export=csv&{WEEK}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    names = [row[0] for row in rows[2:]]
    assert "东镇城管中队" in names and not any("西镇" in n for n in names)
    cg = rows[2 + names.index("东镇城管中队")]
    assert cg[2] == "2"  # dispatched twice that week
    response = client.get(f"/evaluation/hotspots/?export=xlsx&table=area&{WEEK}")
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [c.value for row in sheet.iter_rows() for c in row]
    assert "东镇1村" in cells and not any(isinstance(v, str) and "西镇" in v for v in cells)
    board = client.get("/evaluation/board.json").json()
    assert board["totals"]["red"] == 0  # the overdue case is in the west
    assert client_for(org, "td_w").get("/evaluation/board.json").json()["totals"]["red"] == 1


@pytest.mark.django_db
def test_a_village_handler_scores_their_grid_workers_only(org, activity):
    client = client_for(org, "vh")
    page = client.get(f"/evaluation/?{WEEK}").content.decode()
    assert "测试gw" in page and "测试gw_w" not in page
    assert (
        client.get(
            f"/evaluation/indicators/?kind=village&region={org.towns['east'].pk}"
        ).status_code
        == 404
    )
    assert client.get(f"/evaluation/scores/?kind=village&{WEEK}").status_code == 404


# --- content ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_indicator_table_shows_the_weeks_figures_and_links_to_the_cases(org, activity):
    client = client_for(org, "cd")
    page = client.get(f"/evaluation/indicators/?kind=town&{WEEK}").content.decode()
    assert "发现上报数" in page and "按时处置率" in page
    assert (
        f"/admin/cases/case/?town={org.towns['east'].pk}&amp;created_from=2025-03-03&amp;created_to=2025-03-09"
        in page
    )
    response = client.get(f"/evaluation/indicators/?kind=town&export=xlsx&{WEEK}")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    headers, east = rows[1], next(r for r in rows if r[0] == "东镇")
    assert east[headers.index("发现上报数")] == 2 and east[headers.index("派单数")] == 2


@pytest.mark.django_db
def test_the_breakdown_says_where_a_unit_lost_points(org, activity):
    client = client_for(org, "cd")
    ranking = client.get(f"/evaluation/scores/?kind=town&export=csv&{WEEK}").content.decode(
        "utf-8-sig"
    )
    assert "东镇" in ranking and "西镇" in ranking and "综合得分" in ranking
    page = client.get(f"/evaluation/scores/town/{org.towns['east'].pk}/?{WEEK}")
    assert page.status_code == 200
    text = page.content.decode()
    assert "为什么排在这里" in text and "得分构成" in text


@pytest.mark.django_db
def test_hotspots_count_by_category_area_unit_time_and_grid(org, activity):
    client = client_for(org, "cd")
    page = client.get(f"/evaluation/hotspots/?granularity=day&{WEEK}").content.decode()
    assert "<svg" in page and "暴露垃圾" in page and "heat-cells" in page
    trend = client.get(f"/evaluation/hotspots/?granularity=day&export=csv&table=trend&{WEEK}")
    rows = list(csv.reader(io.StringIO(trend.content.decode("utf-8-sig"))))[2:]
    assert (
        rows[:3] == [["2025-03-03", "2"], ["2025-03-04", "2"], ["2025-03-05", "1"]]
        and len(rows) == 7
    )
    week = client.get(f"/evaluation/hotspots/?granularity=week&export=csv&table=trend&{WEEK}")
    assert list(csv.reader(io.StringIO(week.content.decode("utf-8-sig"))))[2:] == [
        ["2025-03-03", "5"]
    ]
    cells = client.get(f"/evaluation/hotspots/?export=csv&table=cells&{WEEK}").content.decode(
        "utf-8-sig"
    )
    assert "东镇1村1号网格" in cells and "西镇1村1号网格" in cells


@pytest.mark.django_db
def test_the_colour_board_counts_open_cases_by_colour_for_each_unit(org, activity):
    board = client_for(org, "cd").get("/evaluation/board.json").json()
    units = {u["name"]: u for u in board["units"]}
    assert (
        units["东镇城管中队"]["counts"]["blue"] == 2
        and units["西镇城管中队"]["counts"]["blue"] == 2
    )
    assert board["totals"]["red"] == 1
    areas = {a["name"]: a["total"] for a in board["areas"]}
    assert areas == {"东镇": 2, "西镇": 3}


@pytest.mark.django_db
def test_the_help_page_defines_every_indicator(org):
    from apps.evaluation.indicators import INDICATORS

    page = client_for(org, "leader").get("/evaluation/help/").content.decode()
    for indicator in INDICATORS.values():
        assert indicator.label in page and indicator.definition[:20] in page


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "period=custom&from=2025-13-01",
        "period=custom&from=2025-03-09&to=2025-03-01",
        "period=forever",
        "period=custom&from=1900-01-01&to=2025-01-01",
        "category=abc",
        "category=999999",
        "export=pdf",
        "kind=planet",
        "region=abc",
    ],
)
def test_bad_input_answers_400_with_a_message(org, query):
    response = client_for(org, "cd").get(f"/evaluation/indicators/?{query}")
    assert response.status_code == 400
    assert "查询条件有误" in response.content.decode()


@pytest.mark.django_db
def test_only_get_is_allowed(org):
    assert client_for(org, "cd").post("/evaluation/").status_code == 405


@pytest.mark.django_db
def test_the_hotspot_map_credits_its_tile_source_plainly(org, activity, settings):
    settings.MAP_BASEMAP = "tianditu"
    settings.TIANDITU_KEY = "KEY"
    page = client_for(org, "cd").get(f"/evaluation/hotspots/?{WEEK}").content.decode()
    # The map is built by core/basemap.js from the one config (Leaflet's link and flag: off,
    # see LDMap.create), which names the tile source plainly.
    assert "core/basemap.js" in page and 'LDMap.create("heatmap"' in page
    start = page.index('id="map-config"')
    config = json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])
    assert config["attribution"] == "天地图" and config["crs"] == "wgs84"
    assert [layer["url"].split("?")[0] for layer in config["layers"]] == [
        "https://t{s}.tianditu.gov.cn/vec_w/wmts",
        "https://t{s}.tianditu.gov.cn/cva_w/wmts",
    ]
    assert all(layer["url"].endswith("&tk=KEY") for layer in config["layers"])


@pytest.mark.django_db
def test_the_overview_passes_its_chart_data_as_json_and_loads_chart_js_as_files(org, activity):
    page = client_for(org, "leader").get(f"/evaluation/?{WEEK}")
    html = page.content.decode()
    charts = page.context["charts"]
    assert charts["granularity"] == "day" and len(charts["trend"]["labels"]) == 7
    assert charts["trend"]["reports"][:3] == [2, 2, 1]
    assert sum(charts["trend"]["handled"]) == 4
    assert charts["colours"]["counts"][charts["colours"]["codes"].index("red")] == 1
    assert charts["categories"]["labels"] and charts["categories"]["counts"][0] == 5
    assert 'id="overview-charts"' in html and "chart-trend" in html
    # Scripts are files with the request's nonce; nothing inline.
    nonce = page.wsgi_request.csp_nonce
    assert f'vendor/chartjs/chart.umd.min.js" nonce="{nonce}"' in html
    assert f'evaluation/overview-charts.js" nonce="{nonce}"' in html
    # A quarter is drawn by week.
    quarter = client_for(org, "leader").get(
        "/evaluation/?period=custom&from=2025-01-01&to=2025-03-31"
    )
    assert quarter.context["charts"]["granularity"] == "week"


@pytest.mark.django_db
def test_the_hotspot_tables_wait_behind_a_details_element(org, activity):
    html = client_for(org, "cd").get(f"/evaluation/hotspots/?{WEEK}").content.decode()
    assert html.count('<details class="more"') >= 3
    assert html.index('id="heatmap"') < html.index('<details class="more"')
    assert "查看明细表" in html


@pytest.mark.django_db
def test_the_indicator_table_scrolls_in_its_own_box_with_the_name_column_kept(org, activity):
    html = client_for(org, "leader").get(f"/evaluation/indicators/?{WEEK}").content.decode()
    assert "<div class='table-scroll'><table class='data sticky-first'>" in html
