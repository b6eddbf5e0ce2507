"""End to end in two headless Chromium windows: a town dispatcher dispatches a case on the
command desk, and the handler's phone shows it — toast, task list, badge — without a reload."""

import pytest

from apps.cases.models import Status
from apps.cases.tracking import display
from apps.notify.models import Notification
from tests.conftest import field_login, screenshot, submit_login, wait_for_js
from tests.notify.helpers import at_town_desk

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_dispatch_on_the_desk_appears_on_the_handlers_phone_without_reload(
    org_tx, asgi_server, celery_worker_process, desk_context, phone_context
):
    case = at_town_desk(org_tx, address="东镇人民路 18 号")

    phone = phone_context.new_page()
    field_login(phone, asgi_server, "dh")
    phone.goto(f"{asgi_server}/field/#tasks")
    phone.wait_for_selector("#tasks-empty:not([hidden])")
    wait_for_js(phone, "window.liandongNotify && window.liandongNotify.ready()")
    phone.evaluate("window.__sameDocument = true")  # gone if the page reloads

    desk = desk_context.new_page()
    desk.goto(f"{asgi_server}/admin/login/?next=/admin/cases/case/{case.pk}/change/")
    submit_login(desk, "td")
    desk.wait_for_selector("#actions")
    dispatch = desk.locator('details[data-action="dispatch"]')
    dispatch.locator("select[name=dispatch-lead_unit]").select_option(
        label="东镇城管中队（东镇 · 综合执法）"
    )
    dispatch.locator("textarea[name=dispatch-note]").fill("请今天清运")
    dispatch.locator("button[type=submit]").click()
    desk.wait_for_selector(".messagelist .success")
    screenshot(desk, "notify-desk-dispatched")

    toast = phone.locator("#toast .toast", has_text="新派遣")
    toast.wait_for(timeout=5000)
    assert display(case.tracking_number) in toast.inner_text()
    phone.locator("#tasks-list .case-card", has_text=display(case.tracking_number)).wait_for(
        timeout=5000
    )
    assert phone.locator("#tasks-badge").inner_text() == "1"
    assert phone.evaluate("window.__sameDocument") is True
    # The dispatch is younger than NOTIFY_SETTLE_S: the phone remembers it above its cursor.
    stored = phone.evaluate("JSON.parse(localStorage.getItem('liandong.notify'))")
    pushed = Notification.objects.get(recipient=org_tx.users["dh"], case=case)
    assert stored["user"] == org_tx.users["dh"].pk and stored["seen"] == [pushed.pk]
    assert stored["cursor"] < pushed.pk
    screenshot(phone, "notify-phone-new-task")

    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.lead_unit_id == org_tx.units["east-cg"].pk


def test_the_desk_counters_follow_a_new_escalation_live(
    org_tx, asgi_server, celery_worker_process, desk_context
):
    desk = desk_context.new_page()
    desk.goto(f"{asgi_server}/admin/login/?next=/admin/cases/case/")
    submit_login(desk, "td")
    desk.wait_for_selector("#notify-desk [data-notify-live].on")
    assert desk.locator('#notify-desk [data-notify-count="new"]').inner_text() == "0"
    case = at_town_desk(org_tx)
    wait_for_js(
        desk,
        "document.querySelector('#notify-desk [data-notify-count=\"new\"]').textContent === '1'",
        timeout=5,
    )
    desk.locator("#toast .toast", has_text="上报至本级").wait_for(timeout=5000)
    assert display(case.tracking_number) in desk.locator("#toast").inner_text()
    screenshot(desk, "notify-desk-counters")
