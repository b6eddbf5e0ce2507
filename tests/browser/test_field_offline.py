"""End to end on a phone: log in, report with a photo and a (mocked) GPS fix, lose the
network, report again (kept on the phone as 待同步), get the network back — and both reports
arrive exactly once, with their photos processed by the real worker."""

from __future__ import annotations

import pytest
from PIL import Image

from apps.cases.models import Case, CasePhoto, PositionSource
from tests.conftest import screenshot, submit_login, wait_for, wait_for_js

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def fill_report(page, description: str, photo_path: str) -> None:
    page.select_option("#cat-parent", label="市容环境")
    page.select_option("#cat-leaf", label="暴露垃圾")
    page.fill("textarea[name=description]", description)
    page.fill("input[name=address]", "幸福路 12 号门口")
    page.set_input_files('input[type=file][data-group="main"][multiple]', photo_path)
    page.wait_for_selector('.photo-strip[data-group="main"] .thumb img')


def test_reports_made_online_and_offline_each_arrive_exactly_once(
    org_tx, asgi_server, celery_worker_process, phone_context, tmp_path
):
    gw = org_tx.users["gw"]
    lat, lng = org_tx.point_in(org_tx.grids["east-v1-g1"])
    photo_path = tmp_path / "IMG_20240501.jpg"
    Image.new("RGB", (2400, 1800), (90, 140, 60)).save(photo_path, "JPEG", quality=90)

    phone_context.grant_permissions(["geolocation"], origin=asgi_server)
    phone_context.set_geolocation({"latitude": lat, "longitude": lng, "accuracy": 12})
    page = phone_context.new_page()
    page.goto(asgi_server + "/field/")

    # Log in once.
    page.wait_for_selector("input[name=username]")
    screenshot(page, "field-01-login")
    submit_login(page, "gw")
    page.wait_for_selector("body[data-ready='1']")
    wait_for_js(page, "document.querySelector('#gps-line').textContent.includes('±12')")
    wait_for_js(
        page, "navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=15
    )

    # First report, online.
    fill_report(page, "幸福路口垃圾堆放，已发臭", str(photo_path))
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "field-02-report-form")
    page.click("#submit-report")
    page.wait_for_selector("#done-tracking")
    tracking_online = page.text_content("#done-tracking")
    screenshot(page, "field-03-submitted")
    first = Case.objects.get(reporter=gw)
    assert first.tracking_number == tracking_online.replace("-", "")
    assert first.position_source == PositionSource.DEVICE_GPS and first.accuracy_m == 12
    wait_for_js(page, "document.querySelector('#queue-badge').hidden")  # its photo went too

    # Second report, with no network: kept on the phone.
    phone_context.set_offline(True)
    page.wait_for_selector("#net-status:not([hidden])")
    page.click("#done-again")
    fill_report(page, "绿化带内有建筑垃圾", str(photo_path))
    page.click("#submit-report")
    page.wait_for_selector("#screen-done .done.queued")
    assert "待同步" in page.text_content("#screen-done")
    screenshot(page, "field-04-saved-offline")
    page.click(".tabs a[data-tab='mine']")
    page.wait_for_selector("#queue-list .queued-badge")
    assert page.text_content("#queue-badge") == "1"
    screenshot(page, "field-05-list-offline")

    # The app starts again with no network (service worker + cached data) and still knows.
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("#queue-badge") == "1"
    assert Case.objects.filter(reporter=gw).count() == 1

    # Back online: the phone sends the waiting report by itself — exactly once.
    phone_context.set_offline(False)
    wait_for(
        lambda: Case.objects.filter(reporter=gw).count() == 2 and CasePhoto.objects.count() == 2,
        timeout=30,
    )
    wait_for_js(page, "document.querySelector('#queue-badge').hidden", timeout=20)
    cases = list(Case.objects.filter(reporter=gw).order_by("created_at"))
    assert [c.description for c in cases] == ["幸福路口垃圾堆放，已发臭", "绿化带内有建筑垃圾"]
    assert len({c.client_uuid for c in cases}) == 2
    for case in cases:
        photos = list(case.photos.all())
        assert len(photos) == 1
        # Downscaled on the phone before upload: long side 1600, not the camera's 2400.
        assert (photos[0].width, photos[0].height) == (1600, 1200)
    wait_for(lambda: CasePhoto.objects.filter(processed_at__isnull=False).count() == 2, timeout=60)

    # My reports shows both; the detail has the processed photo and the timeline.
    page.click("[data-refresh='mine']")
    wait_for_js(page, "document.querySelectorAll('#mine-list li').length === 2")
    screenshot(page, "field-06-my-reports")
    page.click(f"a[href='#case/{cases[1].pk}']")
    page.wait_for_selector("#case-body .gallery img")
    wait_for_js(
        page,
        "Array.from(document.querySelectorAll('#case-body .gallery img')).every(i => i.complete && i.naturalWidth > 0)",
    )
    screenshot(page, "field-07-case-detail")
    assert Case.objects.filter(reporter=gw).count() == 2  # still exactly once
