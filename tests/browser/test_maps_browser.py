"""The basemap in a real browser (issue #17 items 5, 7, 8). The tests have no internet, so the
providers' tile servers are played by the test (Playwright routes on their hosts answering a
small PNG, or failing): the tiles are asked for with the right URL and key, credited plainly,
on a GCJ-02 basemap (高德) drawn shifted while the stored points stay WGS-84, and when no tile
comes the grid outlines stay. A task's page has its map and the 导航 links."""

from __future__ import annotations

import io
import math
import re

import pytest
from PIL import Image

from apps.cases import services
from apps.cases.models import Case
from apps.core.gcj02 import wgs84_to_gcj02
from tests.conftest import (
    _worker_env,
    desk_login,
    field_login,
    screenshot,
    uvicorn_server,
    wait_for_js,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = dict(
    viewport={"width": 360, "height": 740},
    device_scale_factor=2,
    is_mobile=True,
    has_touch=True,
    locale="zh-CN",
    timezone_id="Asia/Shanghai",
    # The service worker would fetch the tiles itself, out of the page's routes' reach.
    service_workers="block",
)


def tile_png() -> bytes:
    image = Image.new("RGB", (256, 256), (236, 230, 214))
    for i in range(0, 256, 32):
        for x in range(256):
            image.putpixel((x, i), (200, 190, 170))
            image.putpixel((i, x), (200, 190, 170))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def serve_tiles(context, pattern: str, seen: list[str], fail: bool = False) -> None:
    body = tile_png()

    def handle(route):
        seen.append(route.request.url)
        if fail:
            route.abort("internetdisconnected")
        else:
            route.fulfill(
                status=200,
                body=body,
                content_type="image/png",
                headers={"Access-Control-Allow-Origin": "*"},
            )

    context.route(re.compile(pattern), handle)


def metres(a, b) -> float:
    lat = math.radians((a[0] + b[0]) / 2)
    return math.hypot((a[0] - b[0]) * 111_320, (a[1] - b[1]) * 111_320 * math.cos(lat))


def csp_errors(page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return errors


def test_tianditu_tiles_come_with_the_key_and_a_plain_credit(org_tx, browser, desk_context):
    env = {**_worker_env(), "MAP_BASEMAP": "tianditu", "TIANDITU_KEY": "TESTKEY123"}
    with uvicorn_server(env) as base:
        context = browser.new_context(**PHONE)
        seen: list[str] = []
        serve_tiles(context, r"^https://t[0-7]\.tianditu\.gov\.cn/", seen)
        page = context.new_page()
        blocked = csp_errors(page)
        field_login(page, base, "gw")
        page.wait_for_selector("#map .leaflet-tile-loaded")
        # Both layers (the streets and their labels), on the numbered subdomains, with the key.
        assert any("/vec_w/wmts?" in u and "LAYER=vec" in u for u in seen)
        assert any("/cva_w/wmts?" in u and "LAYER=cva" in u for u in seen)
        assert all("tk=TESTKEY123" in u and "TILEMATRIXSET=w" in u for u in seen)
        credit = page.locator("#map .leaflet-control-attribution")
        assert credit.inner_text().strip() == "天地图"
        assert credit.locator("a, svg").count() == 0  # no Leaflet link, no flag
        assert page.locator("#map path.leaflet-interactive").count() >= 1  # grid outlines too
        # The tiles kept for no signal are the very URLs the map asks for (same subdomain).
        listed = page.evaluate(
            "fetch('/api/me/').then(r => r.json()).then(me =>"
            " LDOfflineTiles.tileUrls(me.grids, JSON.parse("
            "document.getElementById('field-config').textContent).map, 1500))"
        )
        assert 0 < len(listed) <= 1500
        shown_zoom = page.evaluate("document.getElementById('map').ldMap.getZoom()")
        at_zoom = [u for u in seen if f"TILEMATRIX={shown_zoom}&" in u]
        if 13 <= shown_zoom <= 17:
            assert set(at_zoom) & set(listed)
        screenshot(page, "maps-01-field-tianditu")
        assert blocked == []
        context.close()

        # The hotspots map (item 8): the same plain credit, no flag.
        page = desk_context.new_page()
        serve_tiles(desk_context, r"^https://t[0-7]\.tianditu\.gov\.cn/", seen)
        desk_login(page, base, "cd", next_url="/evaluation/hotspots/")
        page.goto(base + "/evaluation/hotspots/")
        page.wait_for_selector("#heatmap .leaflet-tile-loaded")
        credit = page.locator("#heatmap .leaflet-control-attribution")
        assert credit.inner_text().strip() == "天地图"
        assert credit.locator("a, svg").count() == 0
        screenshot(page, "maps-02-hotspots-tianditu")


def test_on_a_gcj02_basemap_the_pin_is_drawn_shifted_and_stored_in_wgs84(org_tx, browser, tmp_path):
    org = org_tx
    lat, lng = org.point_in(org.grids["east-v1-g2"])
    shown = wgs84_to_gcj02(lat, lng)
    assert 400 < metres(shown, (lat, lng)) < 700

    photo = tmp_path / "scene.jpg"
    Image.new("RGB", (800, 600), (120, 110, 90)).save(photo, "JPEG")
    env = {**_worker_env(), "MAP_BASEMAP": "amap"}
    with uvicorn_server(env) as base:
        context = browser.new_context(**PHONE)
        seen: list[str] = []
        serve_tiles(context, r"^https://webrd0[1-4]\.is\.autonavi\.com/", seen)
        page = context.new_page()
        blocked = csp_errors(page)
        page.goto(base + "/track/report/")
        page.wait_for_selector("#map .leaflet-tile-loaded")
        page.wait_for_selector("#map path.leaflet-interactive")  # grid outlines, shifted too
        assert all("style=8" in u for u in seen)
        assert page.locator("#map .leaflet-control-attribution").inner_text().strip() == "高德地图"

        # Tap the place where the 高德 map shows the point: the form gets the WGS-84 point.
        page.evaluate(f"document.getElementById('map').ldMap.setView([{shown[0]}, {shown[1]}], 18)")
        page.wait_for_timeout(300)
        x, y = page.evaluate(
            f"(() => {{ const m = document.getElementById('map').ldMap;"
            f" const p = m.latLngToContainerPoint([{shown[0]}, {shown[1]}]);"
            f" const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }})()"
        )
        page.mouse.click(x, y)
        stored = (float(page.input_value("#lat")), float(page.input_value("#lng")))
        assert metres(stored, (lat, lng)) < 2  # to the pixel (~0.6 m at zoom 18)
        marker = page.evaluate(
            "(() => { let p = null; document.getElementById('map').ldMap.eachLayer(l =>"
            " { if (l instanceof L.Marker) p = l.getLatLng(); }); return [p.lat, p.lng]; })()"
        )
        assert metres(marker, wgs84_to_gcj02(*stored)) < 0.05  # the pin sits on the 高德 spot

        # Drag the pin 40 px east: the stored point moves ~24 m east, still WGS-84.
        box = page.locator("#map .leaflet-marker-icon").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] - 4
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + 20, cy, steps=4)
        page.mouse.move(cx + 40, cy, steps=4)
        page.mouse.up()
        wait_for_js(page, f"parseFloat(document.getElementById('lng').value) > {stored[1] + 1e-5}")
        dragged = (float(page.input_value("#lat")), float(page.input_value("#lng")))
        marker = page.evaluate(
            "(() => { let p = null; document.getElementById('map').ldMap.eachLayer(l =>"
            " { if (l instanceof L.Marker) p = l.getLatLng(); }); return [p.lat, p.lng]; })()"
        )
        assert metres(marker, wgs84_to_gcj02(*dragged)) < 0.05
        assert 15 < metres(dragged, stored) < 35
        screenshot(page, "maps-03-report-amap-pin")

        page.set_input_files("#photo", str(photo))
        page.wait_for_selector("#photo-preview img")
        page.select_option("#category", label="暴露垃圾")
        page.fill("#description", "路边垃圾桶满了")
        wait_for_js(page, "!document.getElementById('submit').disabled")
        page.click("#submit")
        page.wait_for_selector("[data-testid=tracking-number]")
        case = Case.objects.get()
        assert case.lat == pytest.approx(dragged[0], abs=1e-7)
        assert case.lng == pytest.approx(dragged[1], abs=1e-7)
        assert case.grid_id == org.grids["east-v1-g2"].pk
        assert blocked == []
        context.close()


def test_when_no_tile_comes_the_grid_outlines_stay(org_tx, browser):
    env = {**_worker_env(), "MAP_BASEMAP": "tianditu", "TIANDITU_KEY": "TESTKEY123"}
    with uvicorn_server(env) as base:
        context = browser.new_context(**PHONE)
        seen: list[str] = []
        serve_tiles(context, r"^https://t[0-7]\.tianditu\.gov\.cn/", seen, fail=True)
        page = context.new_page()
        field_login(page, base, "gw")
        page.wait_for_selector("#map .ld-map-note")
        assert "底图无法加载" in page.inner_text("#map .ld-map-note")
        assert seen  # the tiles were asked for
        assert page.locator("#map .leaflet-tile-pane img").count() == 0
        assert page.locator("#map .leaflet-control-attribution").count() == 0
        assert page.locator("#map path.leaflet-interactive").count() >= 1  # outlines remain
        assert page.locator("#map.ld-map-plain").count() == 1
        screenshot(page, "maps-04-field-tiles-failed")
        context.close()


def test_a_task_shows_its_place_and_hands_it_to_the_map_apps(org_tx, browser, desk_context):
    org = org_tx
    u = org.users
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    case, _ = services.case_report(
        reporter=u["gw"],
        category=org.categories["rubbish"],
        description="桥下堆满垃圾",
        lat=lat,
        lng=lng,
        accuracy_m=6,
        address="东桥下",
    )
    g_lat, g_lng = wgs84_to_gcj02(lat, lng)
    env = {**_worker_env(), "MAP_BASEMAP": "amap"}
    with uvicorn_server(env) as base:
        context = browser.new_context(**PHONE)
        serve_tiles(context, r"^https://webrd0[1-4]\.is\.autonavi\.com/", [])
        page = context.new_page()
        field_login(page, base, "gw")
        page.goto(f"{base}/field/#case/{case.pk}")
        page.wait_for_selector("[data-testid=case-map].leaflet-container")
        page.wait_for_selector("[data-testid=case-map] path.leaflet-interactive")
        # The point is drawn where 高德 shows it.
        drawn = page.evaluate(
            "(() => { let p = null; document.querySelector('[data-testid=case-map]').ldMap"
            ".eachLayer(l => { if (l instanceof L.CircleMarker) p = l.getLatLng(); });"
            " return [p.lat, p.lng]; })()"
        )
        assert metres(drawn, (g_lat, g_lng)) < 0.05
        page.click("[data-testid=navigate]")
        links = {
            a.get_attribute("data-app"): a.get_attribute("href")
            for a in page.locator(".nav-links a").all()
        }
        screenshot(page, "maps-05-task-navigation")
        assert links["geo"].startswith(f"geo:{lat:.6f},{lng:.6f}?q={lat:.6f},{lng:.6f}")
        assert links["amap"].startswith(
            f"https://uri.amap.com/marker?position={lng:.6f},{lat:.6f}&name="
        )
        assert "coordinate=wgs84" in links["amap"] and "callnative=1" in links["amap"]
        assert links["baidu"].startswith(
            f"https://api.map.baidu.com/marker?location={lat:.6f},{lng:.6f}&title="
        )
        assert "coord_type=wgs84" in links["baidu"] and "output=html" in links["baidu"]
        assert links["tencent"].startswith(
            f"https://apis.map.qq.com/uri/v1/marker?marker=coord:{g_lat:.6f},{g_lng:.6f};title:"
        )
        assert "%E4%B8%9C%E6%A1%A5%E4%B8%8B" in links["amap"]  # 东桥下, the address as the name
        context.close()

        # The desk's case page links to the map apps too.
        serve_tiles(desk_context, r"^https://webrd0[1-4]\.is\.autonavi\.com/", [])
        page = desk_context.new_page()
        desk_login(page, base, "td", next_url=f"/admin/cases/case/{case.pk}/change/")
        page.wait_for_selector("#ld-case-map.leaflet-container")
        page.wait_for_selector("[data-testid=case-nav] a[data-app=amap]")
        href = page.get_attribute("[data-testid=case-nav] a[data-app=amap]", "href")
        assert f"position={lng:.6f},{lat:.6f}" in href
        screenshot(page, "maps-06-desk-case-navigation")


def test_the_service_worker_keeps_the_tiles_of_my_grids(org_tx, browser):
    env = {**_worker_env(), "MAP_BASEMAP": "tianditu", "TIANDITU_KEY": "TESTKEY123"}
    with uvicorn_server(env) as base:
        context = browser.new_context(**{**PHONE, "service_workers": "allow"})
        seen: list[str] = []
        serve_tiles(context, r"^https://t[0-7]\.tianditu\.gov\.cn/", seen)
        page = context.new_page()
        field_login(page, base, "gw")
        expected = page.evaluate(
            "fetch('/api/me/').then(r => r.json()).then(me =>"
            " LDOfflineTiles.tileUrls(me.grids, JSON.parse("
            "document.getElementById('field-config').textContent).map, 1500).length)"
        )
        assert 0 < expected <= 1500
        # The worker fetched the grids' tiles ahead into its tile cache.
        wait_for_js(
            page,
            f"caches.open('ld-tiles').then(c => c.keys()).then(k => k.length >= {expected})",
            timeout=60,
        )
        keys = page.evaluate(
            "caches.open('ld-tiles').then(c => c.keys()).then(k => k.map(r => r.url))"
        )
        assert all("tianditu.gov.cn" in k and "tk=TESTKEY123" in k for k in keys)
        assert any("TILEMATRIX=17&" in k for k in keys) and any("TILEMATRIX=13&" in k for k in keys)

        # With no signal, the map's tiles come from that cache.
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        context.set_offline(True)
        before = len(seen)
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_selector("#map .leaflet-tile-loaded")
        page.wait_for_timeout(500)
        loaded = page.locator("#map .leaflet-tile-loaded").count()
        assert len(seen) - before < loaded  # tiles shown that never went to the network
        assert page.locator("#map .ld-map-note").count() == 0
        screenshot(page, "maps-07-field-offline-tiles")
        context.close()
