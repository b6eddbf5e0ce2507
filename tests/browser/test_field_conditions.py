"""A grid worker on a cheap Android phone (390×844) with one bar of signal, and a citizen on
随手拍: a fresh form after each report, photos of at most ~400 KB made on the phone, a draft
that survives a reload, upload progress with 立即同步, and an outbox that goes out as soon
as the network returns. Camera photos are 4000×3000 JPEGs with detail and grain (~4.5 MB).

``test_field_conditions_on_slow_3g`` measures the figures quoted in docs/apps/field.md
("Field conditions") and writes them to artifacts/field-conditions.json."""

from __future__ import annotations

import json
import random
import time

import pytest
from PIL import Image, ImageDraw

from apps.cases.models import Case, CasePhoto
from tests.conftest import ARTIFACTS, field_login, screenshot, wait_for, wait_for_js

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHOTO_LIMIT = 400 * 1024  # bytes per photo that may reach the server


def camera_photo(path, seed: int = 7) -> int:
    """A 12-megapixel "camera" JPEG with shapes, text and sensor grain: ~4.5 MB, about what a
    phone's camera writes (a flat colour would shrink to nothing and prove little)."""
    rnd = random.Random(seed)
    base = Image.effect_noise((400, 300), 60).convert("RGB").resize((4000, 3000), Image.BICUBIC)
    draw = ImageDraw.Draw(base)
    for _ in range(120):
        x, y = rnd.randrange(4000), rnd.randrange(3000)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        draw.rectangle([x, y, x + rnd.randrange(40, 600), y + rnd.randrange(40, 400)], fill=colour)
    for _ in range(30):
        draw.text(
            (rnd.randrange(3800), rnd.randrange(2900)), "XINGFU RD 12 / ABC-123", fill="white"
        )
    grain = Image.effect_noise((4000, 3000), 28).convert("RGB")
    Image.blend(base, grain, 0.25).save(path, "JPEG", quality=92)
    return path.stat().st_size


@pytest.fixture
def phone(new_phone):
    """A 390×844 phone (the size the issue was measured at), Chinese, Shanghai time."""
    return new_phone(viewport={"width": 390, "height": 844})


@pytest.fixture
def big_photo(tmp_path):
    path = tmp_path / "IMG_20261206_081500.jpg"
    assert camera_photo(path) > 3_000_000
    return path


def photo_bytes_received() -> list[int]:
    """The size of each photo as it reached the server (the stored original is the uploaded
    file byte for byte; the web and thumbnail copies are made from it later)."""
    return [photo.original.size for photo in CasePhoto.objects.order_by("pk")]


def fill_report(page, description: str, photo_path) -> None:
    page.select_option("#cat-parent", label="市容环境")
    page.select_option("#cat-leaf", label="暴露垃圾")
    page.fill("textarea[name=description]", description)
    page.set_input_files('input[type=file][data-group="main"][multiple]', str(photo_path))
    page.wait_for_selector('.photo-strip[data-group="main"] .thumb img')


def open_app_at(page, context, base: str, org, grid: str = "east-v1-g1") -> None:
    lat, lng = org.point_in(org.grids[grid])
    context.grant_permissions(["geolocation"], origin=base)
    context.set_geolocation({"latitude": lat, "longitude": lng, "accuracy": 12})
    field_login(page, base, "gw")
    wait_for_js(page, "document.querySelector('#gps-line').textContent.includes('±12')")


def test_a_fresh_form_after_filing_and_photos_under_400_kb(org_tx, asgi_server, phone, big_photo):
    page = phone.new_page()
    open_app_at(page, phone, asgi_server, org_tx)

    fill_report(page, "幸福路口垃圾堆放，已发臭", big_photo)
    page.click("#submit-report")
    page.wait_for_selector("#done-tracking")
    # The citizen's QR code and link are on the same screen, for the citizen to scan there.
    wait_for_js(
        page,
        "(() => { const img = document.querySelector('#citizen-link img.qr');"
        " return img && img.complete && img.naturalWidth > 0; })()",
    )
    link = page.locator("#citizen-link .link a").inner_text()
    assert "/track/t/" in link
    page.locator("#citizen-link").scroll_into_view_if_needed()
    screenshot(page, "field-conditions-01-filed")

    # 继续上报 opens an empty form at once.
    page.click("#done-again")
    page.wait_for_selector("#screen-report:not([hidden])")
    assert page.input_value("textarea[name=description]") == ""
    assert page.locator('.photo-strip[data-group="main"] .thumb').count() == 0
    screenshot(page, "field-conditions-02-fresh-form")

    # So does the 上报 tab, straight from the done screen.
    fill_report(page, "绿化带内有建筑垃圾", big_photo)
    page.click("#submit-report")
    page.wait_for_selector("#screen-done:not([hidden]) #done-tracking")
    page.click(".tabs a[data-tab='report']")
    page.wait_for_selector("#screen-report:not([hidden])")
    assert page.input_value("textarea[name=description]") == ""

    wait_for(lambda: CasePhoto.objects.count() == 2)
    sizes = photo_bytes_received()
    assert len(sizes) == 2 and all(0 < size <= PHOTO_LIMIT for size in sizes), sizes
    for photo in CasePhoto.objects.all():
        assert max(photo.width, photo.height) <= 1600
        assert max(photo.width, photo.height) >= 1000  # still big enough to read the case


def test_a_reload_keeps_the_half_filled_form(org_tx, asgi_server, phone, big_photo):
    page = phone.new_page()
    open_app_at(page, phone, asgi_server, org_tx)
    fill_report(page, "井盖破损，有人差点摔倒", big_photo)
    page.check("input[name=severity][value='2']", force=True)
    page.fill("input[name=address]", "幸福路 12 号门口")
    page.fill("input[name=reporter_phone]", "13800000000")
    # Correct the pin by tapping the map a little beside it.
    box = page.locator("#map .pin").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2 + 6, box["y"] + box["height"] + 6)
    wait_for_js(page, "document.querySelector('#gps-line').textContent.includes('已手动选点')")
    pin_line = page.text_content("#gps-line")
    page.wait_for_selector("#draft-hint:not([hidden])")
    wait_for_js(page, "document.querySelector('#draft-hint').textContent.includes('草稿已保存')")
    page.wait_for_timeout(600)  # the last keystroke's save (debounced 400 ms)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    screenshot(page, "field-conditions-03-draft-saved")

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.input_value("#cat-leaf") != ""
    assert page.input_value("textarea[name=description]") == "井盖破损，有人差点摔倒"
    assert page.is_checked("input[name=severity][value='2']")
    assert page.input_value("input[name=address]") == "幸福路 12 号门口"
    assert page.input_value("input[name=reporter_phone]") == "13800000000"
    assert page.locator('.photo-strip[data-group="main"] .thumb img').count() == 1
    assert page.text_content("#gps-line") == pin_line
    assert "已恢复" in page.text_content("#draft-hint")
    screenshot(page, "field-conditions-04-draft-restored")

    # Filed: the draft is gone, a reload shows an empty form.
    page.click("#submit-report")
    page.wait_for_selector("#done-tracking")
    assert Case.objects.get().description == "井盖破损，有人差点摔倒"
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.click(".tabs a[data-tab='report']")
    assert page.input_value("textarea[name=description]") == ""
    assert page.locator('.photo-strip[data-group="main"] .thumb').count() == 0


def test_the_outbox_goes_out_on_reconnect_without_a_tap(org_tx, asgi_server, phone, big_photo):
    page = phone.new_page()
    open_app_at(page, phone, asgi_server, org_tx)
    wait_for_js(
        page, "navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=15
    )
    phone.set_offline(True)
    page.wait_for_selector("#net-status:not([hidden])")
    fill_report(page, "桥下堆满垃圾", big_photo)
    page.click("#submit-report")
    page.wait_for_selector("#screen-done .done.queued")
    page.click(".tabs a[data-tab='mine']")
    page.wait_for_selector("#queue-list .queued-badge")
    assert page.is_visible("#sync-now")
    assert "等待网络" in page.text_content("#queue-list")
    screenshot(page, "field-conditions-05-waiting")

    # 立即同步 while still offline says so instead of failing silently.
    page.click("#sync-now")
    page.wait_for_selector("#toast .toast.error")
    assert Case.objects.count() == 0

    started = time.monotonic()
    phone.set_offline(False)
    wait_for(lambda: CasePhoto.objects.count() == 1, timeout=5)
    assert time.monotonic() - started < 5
    assert Case.objects.get().description == "桥下堆满垃圾"
    wait_for_js(page, "document.querySelector('#queue-badge').hidden", timeout=10)
    assert not page.is_visible("#sync-now")


def test_suishoupai_sends_a_downscaled_photo(org_tx, asgi_server, phone, big_photo):
    page = phone.new_page()
    lat, lng = org_tx.point_in(org_tx.grids["east-v1-g1"])
    page.goto(asgi_server + "/track/report/")
    page.set_input_files("#photo", str(big_photo))
    page.wait_for_selector("#photo-preview img")
    wait_for_js(page, "document.querySelector('#photo').dataset.shrunk !== undefined")
    shrunk = [int(n) for n in page.get_attribute("#photo", "data-shrunk").split(",")]
    assert shrunk and all(size <= PHOTO_LIMIT for size in shrunk)
    page.evaluate(
        """([lat, lng]) => {
          document.querySelector('#lat').value = lat;
          document.querySelector('#lng').value = lng;
          document.querySelector('#position_source').value = 'pin';
        }""",
        [lat, lng],
    )
    page.select_option("#category", label="暴露垃圾")
    page.fill("#description", "小区门口垃圾桶满了三天没人清")
    screenshot(page, "field-conditions-06-suishoupai")
    page.click("#submit")
    page.wait_for_load_state("load")
    wait_for(lambda: CasePhoto.objects.count() == 1)
    case = Case.objects.get()
    assert case.description == "小区门口垃圾桶满了三天没人清"
    sizes = photo_bytes_received()
    print("随手拍 photo bytes reaching the server:", sizes)
    assert len(sizes) == 1 and 0 < sizes[0] <= PHOTO_LIMIT, sizes
    photo = CasePhoto.objects.get()
    assert max(photo.width, photo.height) <= 1600
    screenshot(page, "field-conditions-07-suishoupai-sent")


def throttle(page, offline: bool = False):
    """Slow 3G with one bar: ~400 kbit/s up, ~400 ms latency; the CPU 4× slower."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": offline,
            "latency": 400,
            "downloadThroughput": 400 * 1024 / 8,
            "uploadThroughput": 400 * 1024 / 8,
        },
    )
    return cdp


def test_field_conditions_on_slow_3g(org_tx, asgi_server, phone, big_photo):
    """Time and taps for a report with a 12-megapixel photo, bytes per photo, and the time an
    offline report takes to reach the server after the network returns, all throttled."""
    page = phone.new_page()
    open_app_at(page, phone, asgi_server, org_tx)
    cdp = throttle(page)
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    wait_for_js(page, "document.querySelector('#gps-line').textContent.includes('±12')")

    # Online: from the first tap to the tracking number on screen.
    started = time.monotonic()
    taps = 0
    page.select_option("#cat-parent", label="市容环境")
    taps += 1
    page.select_option("#cat-leaf", label="暴露垃圾")
    taps += 1
    page.fill("textarea[name=description]", "幸福路口垃圾堆放，已发臭")
    taps += 1  # the text box (typing is not counted as taps)
    page.set_input_files('input[type=file][data-group="main"]:not([multiple])', str(big_photo))
    taps += 2  # 拍照 and the camera's shutter
    page.wait_for_selector('.photo-strip[data-group="main"] .thumb img', timeout=60000)
    page.click("#submit-report")
    taps += 1
    wait_for_js(
        page, "/照片 1\\/1 上传中 \\d+%/.test(document.querySelector('#submit-report').textContent)"
    )
    screenshot(page, "field-conditions-08-uploading")
    page.wait_for_selector("#done-tracking", timeout=120000)
    wait_for_js(page, "document.querySelector('#queue-badge').hidden", timeout=120000)
    report_seconds = time.monotonic() - started

    # Offline report, then the network comes back (still slow): no tap.
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.wait_for_selector("#net-status:not([hidden])")
    page.click("#done-again")
    fill_report(page, "绿化带内有建筑垃圾", big_photo)
    page.click("#submit-report")
    page.wait_for_selector("#screen-done .done.queued", timeout=60000)
    page.click(".tabs a[data-tab='mine']")
    page.wait_for_selector("#queue-list .queued-badge")
    reconnected = time.monotonic()
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 400, "downloadThroughput": 51200, "uploadThroughput": 51200},
    )
    wait_for_js(page, "/上传中 \\d+%/.test(document.querySelector('#queue-list').textContent)")
    screenshot(page, "field-conditions-09-sync-progress")
    wait_for(lambda: Case.objects.count() == 2, timeout=60)
    report_arrived = time.monotonic() - reconnected
    wait_for(lambda: CasePhoto.objects.count() == 2, timeout=120)
    photo_arrived = time.monotonic() - reconnected
    sizes = photo_bytes_received()

    figures = {
        "profile": "390x844, 400 kbit/s up/down, 400 ms latency, CPU 4x slower",
        "camera_photo_bytes": big_photo.stat().st_size,
        "report_seconds": round(report_seconds, 1),
        "report_taps": taps,
        "photo_upload_bytes": sizes,
        "offline_report_arrived_seconds": round(report_arrived, 1),
        "offline_photo_arrived_seconds": round(photo_arrived, 1),
    }
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS.parent / "field-conditions.json").write_text(json.dumps(figures, indent=2))
    print(figures)
    assert all(size <= PHOTO_LIMIT for size in sizes)
    assert report_arrived < 10
