"""On a phone, a department handler signs for a dispatched case and reports back with an
after photo; then a grid worker verifies it on site with a photo. Same workflow rules as the
desk: the buttons are the case's allowed actions."""

from __future__ import annotations

import pytest
from PIL import Image

from apps.cases import services
from apps.cases.models import CasePhoto, Status
from tests.conftest import screenshot, wait_for
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(context, base: str, username: str):
    page = context.new_page()
    page.goto(base + "/field/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")
    return page


def test_sign_for_report_back_and_verify_from_the_phone(org_tx, asgi_server, browser, tmp_path):
    u = org_tx.users
    lat, lng = org_tx.point_in(org_tx.grids["east-v1-g1"])
    case, _ = services.case_report(
        reporter=u["gw"],
        category=org_tx.categories["rubbish"],
        description="桥下堆满垃圾",
        lat=lat,
        lng=lng,
        accuracy_m=6,
        address="东桥下",
    )
    services.case_route(case_id=case.pk)
    services.case_accept(case=case, actor=u["vh"])
    services.case_escalate(case=case, actor=u["vh"], reason="需要城管中队")
    services.case_dispatch(case=case, actor=u["td"], lead_unit=org_tx.units["east-cg"])
    photo = tmp_path / "after.jpg"
    Image.new("RGB", (1200, 900), (200, 200, 210)).save(photo, "JPEG")

    phone = dict(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    handler = browser.new_context(**phone)
    page = log_in(handler, asgi_server, "dh")
    # A department handler does not report from the field: the app opens on the tasks.
    page.wait_for_selector("#tasks-list li")
    assert page.text_content("#tasks-badge") == "1"
    assert page.is_hidden(".tabs a[data-tab='report']")
    screenshot(page, "field-10-tasks")
    page.click(f"a[href='#case/{case.pk}']")
    page.click("button[data-action='sign']")
    page.click(".action-form button[type=submit]")
    page.wait_for_selector("button[data-action='handle']")
    page.click("button[data-action='handle']")
    page.fill(".action-form textarea[name=result_text]", "已清运 3 车，现场已冲洗")
    page.set_input_files(".action-form input[type=file][multiple]", str(photo))
    page.wait_for_selector(".action-form .thumb img")
    screenshot(page, "field-11-handle-form")
    page.click(".action-form button[type=submit]")
    wait_for(lambda: case.__class__.objects.get(pk=case.pk).status == Status.HANDLED)
    assert list(CasePhoto.objects.filter(case=case).values_list("kind", flat=True)) == ["after"]
    handler.close()

    verifier = browser.new_context(**phone)
    page = log_in(verifier, asgi_server, "gw2")
    page.click(".tabs a[data-tab='tasks']")
    page.click(f"a[href='#case/{case.pk}']")
    page.click("button[data-action='verify']")
    page.check(".action-form input[name=passed][value=true]", force=True)
    page.set_input_files(".action-form input[type=file][multiple]", str(photo))
    page.wait_for_selector(".action-form .thumb img")
    page.click(".action-form button[type=submit]")
    wait_for(lambda: case.__class__.objects.get(pk=case.pk).status == Status.VERIFIED)
    page.wait_for_selector("#case-body .timeline li:nth-child(8)")
    screenshot(page, "field-12-verified")
    assert sorted(CasePhoto.objects.filter(case=case).values_list("kind", flat=True)) == [
        "after",
        "verify",
    ]
    verifier.close()
