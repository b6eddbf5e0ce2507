"""On a phone, a department handler signs for a dispatched case and reports back with an
after photo; then a grid worker verifies it on site with a photo. Same workflow rules as the
desk: the buttons are the case's allowed actions."""

from __future__ import annotations

import pytest
from PIL import Image

from apps.cases.models import CasePhoto, Status
from tests.cases.helpers import dispatched_at_town
from tests.conftest import field_login, screenshot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_for_report_back_and_verify_from_the_phone(org_tx, asgi_server, new_phone, tmp_path):
    case = dispatched_at_town(org_tx)
    photo = tmp_path / "after.jpg"
    Image.new("RGB", (1200, 900), (200, 200, 210)).save(photo, "JPEG")

    handler = new_phone()
    page = handler.new_page()
    field_login(page, asgi_server, "dh")
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

    verifier = new_phone()
    page = verifier.new_page()
    field_login(page, asgi_server, "gw2")
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
