"""One clock everywhere, in headless Chromium (issue #17, items 6 and 9): a case whose clock ran
past its deadline before the sweep noticed shows red and "已超时" with its 本环节时限 on the
phone (390×844), on the desk (1440×900 and 1366×768) and on the public page; and a dispatcher
picks a deadline with the browser's date-time picker and sees it in working time."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.cases import clock as work_clock
from apps.cases import services
from apps.cases.models import Case, Colour
from apps.cases.selectors import case_clock
from tests.admin.conftest import at_town, num
from tests.conftest import desk_login, screenshot, wait_for
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = dict(
    viewport={"width": 390, "height": 844},
    device_scale_factor=2,
    is_mobile=True,
    has_touch=True,
    locale="zh-CN",
    timezone_id="Asia/Shanghai",
)


def _overdue_but_stored_yellow(org) -> Case:
    case = at_town(org, description="人行道井盖缺失")
    services.case_dispatch(case=case, actor=org.users["td"], lead_unit=org.units["east-cg"])
    now = timezone.now()
    # The sweep last saw it yellow; the deadline passed ten days ago; the 办结时限 is still ahead.
    Case.objects.filter(pk=case.pk).update(
        colour=Colour.YELLOW,
        step_deadline=now - dt.timedelta(days=10),
        yellow_at=now - dt.timedelta(days=11),
        overall_deadline=now + dt.timedelta(days=20),
    )
    case.refresh_from_db()
    return case


def test_an_overdue_case_is_red_and_late_on_every_screen(org_tx, asgi_server, browser):
    case = _overdue_but_stored_yellow(org_tx)
    clock = case_clock(case)
    assert clock.colour == Colour.RED and clock.text.startswith("已超时")
    local = timezone.localtime(case.step_deadline)

    # The phone: the department handler's task list and the case.
    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    page.goto(asgi_server + "/field/login/")
    page.fill("input[name=username]", "dh")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")
    card = page.locator(f"a[href='#case/{case.pk}']")
    card.wait_for()
    assert card.get_attribute("data-colour") == "red"
    assert card.locator(".bar.red").count() == 1
    assert card.locator(".due").inner_text().startswith("本环节已超时")
    screenshot(page, "clock-field-tasks-390")
    card.click()
    page.wait_for_selector("#case-body .facts")
    facts = page.locator("#case-body .facts").inner_text()
    assert "本环节时限（签收）" in facts and "已超时" in facts and "剩" not in facts
    assert page.locator("#case-body .case-head .pill.red").count() == 1
    screenshot(page, "clock-field-case-390")

    # The public page, on the same phone.
    page.goto(f"{asgi_server}/track/t/{case.public_token}/")
    status = page.locator("[data-testid=status]")
    assert "colour-red" in (status.get_attribute("class") or "")
    assert "已超时" in status.inner_text() and "预计办结" not in status.inner_text()
    assert f"{local.month}月{local.day}日" in page.locator("[data-testid=clock]").inner_text()
    screenshot(page, "clock-public-track-390")
    page.click("text=时限说明")
    page.wait_for_selector("[data-testid=clock-rule]")
    screenshot(page, "clock-rule-390")
    phone.close()

    # The desk, at both desk sizes.
    for width, height in ((1440, 900), (1366, 768)):
        desk = browser.new_context(
            viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        page = desk.new_page()
        desk_login(page, asgi_server, "td", next_url=f"/admin/cases/case/?q={num(case)}")
        row = page.locator("#result_list tbody tr").first
        assert row.locator(".ld-dot.ld-c-red").count() == 1
        assert row.locator(".ld-time").inner_text().startswith("已超时")
        assert "本环节时限" in row.locator(".ld-time").get_attribute("title")
        screenshot(page, f"clock-desk-list-{width}")
        page.goto(f"{asgi_server}/admin/cases/case/{case.pk}/change/")
        assert page.locator("[data-testid=clock-colour]").get_attribute("data-colour") == "red"
        assert "已超时" in page.locator("[data-testid=clock-text]").inner_text()
        assert "本环节时限" in page.locator("[data-testid=clock-text]").inner_text()
        assert "办结时限" in page.locator(".ld-facts").inner_text()
        screenshot(page, f"clock-desk-case-{width}")
        desk.close()


def test_a_dispatcher_picks_a_deadline_and_sees_it_in_working_time(org_tx, asgi_server, browser):
    case = at_town(org_tx, description="路灯杆倾斜")
    for width, height in ((1440, 900), (1366, 768)):
        desk = browser.new_context(
            viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        page = desk.new_page()
        desk_login(page, asgi_server, "td", next_url=f"/admin/cases/case/{case.pk}/change/")
        form = page.locator('details[data-action="dispatch"]')
        form.locator("select[name=dispatch-lead_unit]").select_option(
            label="东镇城管中队（东镇 · 综合执法）"
        )
        picker = form.locator("input[name=dispatch-deadline_hours_until]")
        assert picker.get_attribute("type") == "datetime-local"

        # A moment in the past is refused, in words.
        past = timezone.localtime(timezone.now() - dt.timedelta(hours=2))
        picker.fill(past.strftime("%Y-%m-%dT%H:%M"))
        result = form.locator("[data-testid=deadline-result]")
        wait_for(lambda: "晚于现在" in result.inner_text())

        # Twelve working hours from now.
        until = work_clock.add_working_hours(timezone.now(), 12) + dt.timedelta(minutes=1)
        until = timezone.localtime(until).replace(second=0, microsecond=0)
        picker.fill(until.strftime("%Y-%m-%dT%H:%M"))
        wait_for(lambda: "个工作小时，截止" in result.inner_text())
        assert f"{until.month}月{until.day}日 {until:%H:%M}" in result.inner_text()
        hours = float(form.locator("input[name=dispatch-deadline_hours]").input_value())
        assert 11.9 < hours < 12.2
        screenshot(page, f"clock-desk-picker-{width}")

        # Typing hours instead clears the picker and says where they end.
        form.locator("input[name=dispatch-deadline_hours]").fill("8")
        wait_for(lambda: result.inner_text().startswith("合 8 个工作小时，截止"))
        assert picker.input_value() == ""
        if width == 1366:
            picker.fill(until.strftime("%Y-%m-%dT%H:%M"))
            wait_for(
                lambda: (
                    "个工作小时，截止" in result.inner_text() and "合 8 " not in result.inner_text()
                )
            )
            form.locator("button[type=submit]").click()
            page.wait_for_selector(".messagelist .success")
            case.refresh_from_db()
            assert abs(case.overall_deadline - until) < dt.timedelta(minutes=2)
            screenshot(page, "clock-desk-picker-dispatched")
        desk.close()


def test_bulk_dispatch_offers_the_picker_with_the_working_time_result(org_tx, asgi_server, browser):
    first, second = at_town(org_tx, description="路面坑洼"), at_town(org_tx, description="护栏损坏")
    desk = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    page = desk.new_page()
    desk_login(page, asgi_server, "td", next_url="/admin/cases/case/")
    for case in (first, second):
        page.check(f"input.action-select[value='{case.pk}']")
    page.select_option("select[name=action]", "dispatch_selected")
    page.click("button[name=index]")
    page.wait_for_selector("input[name=deadline_hours_until]")
    page.select_option("select[name=lead_unit]", label="东镇城管中队（东镇 · 综合执法）")
    until = work_clock.add_working_hours(timezone.now(), 6) + dt.timedelta(minutes=1)
    until = timezone.localtime(until).replace(second=0, microsecond=0)
    page.fill("input[name=deadline_hours_until]", until.strftime("%Y-%m-%dT%H:%M"))
    result = page.locator("[data-testid=deadline-result]")
    wait_for(lambda: "个工作小时，截止" in result.inner_text())
    assert f"{until.month}月{until.day}日 {until:%H:%M}" in result.inner_text()
    screenshot(page, "clock-desk-bulk-picker-1366")
    page.click("input[type=submit][value=派遣]")
    page.wait_for_selector(".messagelist .success")
    for case in (first, second):
        case.refresh_from_db()
        assert abs(case.overall_deadline - until) < dt.timedelta(minutes=2)
    desk.close()
