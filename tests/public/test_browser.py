"""End to end on a phone: a citizen sends a snapshot report (photo + mocked GPS), gets the
tracking number, looks it up later, and — once the organisation has closed the case through
the workflow — rates it. Real uvicorn, real Celery worker (routing, photo copies)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from apps.cases import photos as pipeline
from apps.cases import services as workflow
from apps.cases import tracking
from apps.cases.models import Action, Case, CasePhoto, PhotoKind, Source, Status
from apps.public.models import Rating
from tests.conftest import screenshot, wait_for, wait_for_js

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def scene(path, colour, label):
    image = Image.new("RGB", (1600, 1200), colour)
    draw = ImageDraw.Draw(image)
    for i in range(0, 1600, 80):
        draw.line([(i, 1200), (i + 400, 600)], fill=(255, 255, 255), width=6)
    draw.rectangle([520, 380, 1080, 820], outline=(30, 30, 30), width=18)
    draw.text((560, 420), label, fill=(0, 0, 0))
    image.save(path, "JPEG", quality=88)
    return path


def test_a_citizen_reports_tracks_and_rates(
    org_tx, asgi_server, celery_worker_process, phone_context, tmp_path
):
    org = org_tx
    lat, lng = org.point_in(org.grids["east-v1-g2"])
    lat, lng = lat + 0.0011, lng - 0.0013
    before = scene(tmp_path / "IMG_0412.jpg", (120, 110, 90), "before")
    after = scene(tmp_path / "IMG_0519.jpg", (70, 150, 80), "after")

    phone_context.grant_permissions(["geolocation"], origin=asgi_server)
    phone_context.set_geolocation({"latitude": lat, "longitude": lng, "accuracy": 12})
    page = phone_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The public start page, then the snapshot report form.
    page.goto(asgi_server + "/track/")
    screenshot(page, "public-01-start")
    page.click("text=随手拍 · 我要反映")
    page.wait_for_selector("#report-form")
    page.wait_for_selector(".leaflet-interactive")  # the grid outlines drew on the pin map
    page.set_input_files("#photo", str(before))
    page.wait_for_selector("#photo-preview img")
    page.click("#locate")
    wait_for_js(page, "document.querySelector('#location-status').textContent.includes('12 米')")
    page.wait_for_selector(".leaflet-marker-icon")
    page.select_option("#category", label="暴露垃圾")
    page.fill("#description", "河边步道旁堆了好几袋垃圾，已经有味道了")
    page.fill("#phone", "139 1234 5678")
    screenshot(page, "public-02-report-form")
    page.click("#submit")

    # The answer: the tracking number and the link page.
    page.wait_for_selector("[data-testid=tracking-number]")
    shown = page.text_content("[data-testid=tracking-number]").strip()
    screenshot(page, "public-03-submitted")
    case = Case.objects.get()
    assert shown == tracking.display(case.tracking_number)
    assert case.source == Source.CITIZEN and case.reporter_phone == "13912345678"
    assert (
        abs(case.lat - lat) < 1e-6
        and case.accuracy_m == 12
        and case.grid_id == org.grids["east-v1-g2"].pk
    )
    # The worker routes it and makes the photo's copies.
    wait_for(lambda: Case.objects.get(pk=case.pk).pending_work == [], timeout=30)
    assert CasePhoto.objects.get(case=case).processed_at is not None

    # Later, on another visit, the citizen types the number loosely.
    page.goto(asgi_server + "/track/")
    page.fill("#n", shown.lower().replace("-", " "))
    page.click("form.lookup button")
    page.wait_for_selector("[data-testid=state]")
    assert page.text_content("[data-testid=state]").strip() == "已收到，等待受理"
    assert "已分流至村/社区工作站" in page.text_content("[data-testid=timeline]")
    screenshot(page, "public-04-status-received")

    # The organisation closes the loop through the workflow service, with an after photo.
    u = org.users
    case = Case.objects.get(pk=case.pk)
    workflow.case_accept(case=case, actor=u["vh"])
    workflow.case_escalate(case=case, actor=u["vh"], reason="需要城管清运")
    workflow.case_dispatch(case=case, actor=u["td"], lead_unit=org.units["east-cg"])
    workflow.case_sign(case=case, actor=u["dh"])
    page.reload()
    assert page.text_content("[data-testid=state]").strip() == "处置单位正在处理"
    assert "乡镇派驻机构" in page.text_content("[data-testid=status]")
    screenshot(page, "public-05-status-in-hand")
    workflow.case_handle(case=case, actor=u["dh"], result_text="已清运 4 袋垃圾")
    with open(after, "rb") as handle:
        inspected = pipeline.photo_inspect(handle, name="after.jpg")
    handled = case.events.filter(action=Action.HANDLE).get()
    pipeline.case_photo_add(
        case=case,
        photo=inspected,
        client_id="after-1",
        kind=PhotoKind.AFTER,
        uploaded_by=u["dh"],
        event=handled,
    )
    wait_for(
        lambda: CasePhoto.objects.filter(
            case=case, kind=PhotoKind.AFTER, processed_at__isnull=False
        ).exists(),
        timeout=30,
    )
    workflow.case_verify(case=case, actor=u["gw"], passed=True)  # a grid worker of east-v1-g2
    workflow.case_close(case=case, actor=u["td"])

    page.reload()
    assert page.text_content("[data-testid=state]").strip() == "已办结"
    page.wait_for_selector(".photos img")
    assert page.eval_on_selector(".photos img", "img => img.complete && img.naturalWidth > 0")
    screenshot(page, "public-06-closed")

    # The rating, with the last four digits of the phone given at the report.
    page.click("label.star-choice:has-text('较满意')")
    page.fill("#comment", "清理得很干净，谢谢")
    page.fill("#rate-digits", "5678")
    screenshot(page, "public-07-rating")
    page.click(".rate-form button[type=submit]")
    page.wait_for_selector("text=感谢您的评价")
    screenshot(page, "public-08-rated")
    rating = Rating.objects.get(case=case)
    assert (rating.stars, rating.comment, rating.via) == (4, "清理得很干净，谢谢", "phone")
    assert Case.objects.get(pk=case.pk).status == Status.CLOSED
    assert errors == []
