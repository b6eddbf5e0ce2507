"""The desk as a dispatcher sees it on a 1366×768 laptop and on a phone: who is signed in, the
live counters where they cover nothing, the case list's rows above the fold."""

import pytest

from tests.admin.conftest import at_town
from tests.conftest import desk_login, screenshot, wait_for_js

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def overlaps(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_on_a_laptop_the_header_names_the_person_and_the_list_comes_first(
    org_tx, asgi_server, browser
):
    for i in range(12):
        at_town(org_tx, description=f"占道经营 {i}")
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()
    desk_login(page, asgi_server, "td", next_url="/admin/cases/case/")
    page.wait_for_selector("#result_list")

    user = page.locator("#user-tools .ld-user").inner_text()
    assert user == "测试td · 乡镇指挥室调度员"  # the person and role, as written
    assert "TD" not in page.locator("#user-tools").inner_text()

    # The live counters sit in the header and cover no row of the list.
    counters = box(page, "#notify-desk")
    assert (
        counters["y"] + counters["height"]
        <= box(page, "#header")["y"] + box(page, "#header")["height"]
    )
    for i in range(page.locator("#result_list tbody tr").count()):
        assert not overlaps(counters, page.locator("#result_list tbody tr").nth(i).bounding_box())

    screenshot(page, "desk-list-1366")
    # On a short screen the map starts folded: eight rows or more are in view (two before).
    assert page.locator("#ld-list-map-wrap.ld-map-hidden").count() == 1
    visible = page.evaluate(
        "[...document.querySelectorAll('#result_list tbody tr')]"
        ".filter(r => r.getBoundingClientRect().bottom <= window.innerHeight).length"
    )
    assert visible >= 8, visible
    screenshot(page, "desk-list-1366")

    # 地图 unfolds it, and the choice is kept for the next page.
    page.click("[data-toggle-map]")
    page.wait_for_selector("#ld-list-map.leaflet-container")
    page.reload()
    page.wait_for_selector("#ld-list-map.leaflet-container")
    assert page.locator("#ld-list-map-wrap.ld-map-hidden").count() == 0
    context.close()


def test_on_a_phone_the_dashboard_fits_the_screen(org_tx, asgi_server, browser):
    at_town(org_tx, description="路灯不亮")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    desk_login(page, asgi_server, "td")
    page.wait_for_selector(".ld-dashboard")
    wait_for_js(page, "document.readyState === 'complete'")
    screenshot(page, "desk-dashboard-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    # The dashboard shows these numbers itself; the header's counters give way to it.
    assert page.locator("#notify-desk").is_hidden()
    context.close()
