"""End to end in headless Chromium: a town dispatcher works the command desk."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.cases.models import Action, Case, Colour, Status
from tests.admin.conftest import add_photo, at_town, num, report
from tests.conftest import desk_login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_town_dispatcher_filters_red_cases_opens_one_and_dispatches_it(
    org_tx, asgi_server, desk_context
):
    org = org_tx
    calm = at_town(org, description="路灯不亮")
    red = at_town(org, description="垃圾堆积三天无人清理", address="东镇人民路 18 号")
    add_photo(red)
    report(org, grid="east-v2-g1", description="井盖缺失")
    at_town(org, town="west", description="西镇的事件")
    # The case has sat past its deadline (what the sweep would have found).
    Case.objects.filter(pk=red.pk).update(
        colour=Colour.RED, step_deadline=timezone.now() - dt.timedelta(hours=5)
    )

    page = desk_context.new_page()
    desk_login(page, asgi_server, "td")
    page.wait_for_selector(".ld-dashboard")
    assert page.locator('[data-colour-count="red"]').inner_text() == "1"
    screenshot(page, "desk-dashboard")

    page.locator(".ld-model-links a", has_text="事件").first.click()
    page.wait_for_selector("#result_list")
    page.locator("#changelist-filter a", has_text="红：已超时").click()
    page.wait_for_url("**colour__exact=red**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert num(red) in rows.first.inner_text()
    assert "超时" in rows.first.locator(".ld-time").inner_text()
    page.wait_for_selector("#ld-list-map.leaflet-container canvas")
    screenshot(page, "desk-list-red")

    page.click(f"text={num(red)}")
    page.wait_for_selector("#actions")
    assert num(red) in page.locator("h1").inner_text()
    assert num(calm) in page.locator(".ld-nearby").inner_text()  # same category, close by
    dispatch = page.locator('details[data-action="dispatch"]')
    dispatch.locator("select[name=dispatch-lead_unit]").select_option(
        label="东镇城管中队（东镇 · 综合执法）"
    )
    dispatch.locator("label", has_text="东镇市场监管所").click()
    dispatch.locator("input[name=dispatch-deadline_hours]").fill("24")
    dispatch.locator("textarea[name=dispatch-note]").fill("请今天清运")
    screenshot(page, "desk-case-before-dispatch")
    dispatch.locator("button[type=submit]").click()

    page.wait_for_selector(".messagelist .success")
    assert "已派遣至 东镇城管中队" in page.locator(".messagelist").inner_text()
    last = page.locator("#timeline .ld-ev").last
    assert last.get_attribute("data-action") == "dispatch"
    assert "东镇城管中队" in last.inner_text() and "协办：东镇市场监管所" in last.inner_text()
    assert "请今天清运" in last.inner_text()
    screenshot(page, "desk-case-dispatched")

    red.refresh_from_db()
    assert red.status == Status.DISPATCHED and red.lead_unit_id == org.units["east-cg"].pk
    assert red.events.filter(action=Action.DISPATCH, actor=org.users["td"]).count() == 1
