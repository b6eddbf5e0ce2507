"""WGS-84 ⇄ GCJ-02: the Python twin (apps/core/gcj02.py) and the browsers' module
(apps/core/static/core/basemap.js, run under node) give the same answers, match a published
reference point, and the inverse returns the stored point to well under half a metre."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from apps.core.gcj02 import gcj02_to_wgs84, out_of_china, wgs84_to_gcj02

ROOT = Path(__file__).resolve().parents[2]
BASEMAP_JS = ROOT / "apps" / "core" / "static" / "core" / "basemap.js"
DEMO_COUNTY = (29.87, 121.55)  # settings.MAP_DEFAULT_CENTER
POINTS = [
    DEMO_COUNTY,
    (39.915, 116.404),  # Beijing, Tiananmen
    (31.2304, 121.4737),  # Shanghai
    (22.5431, 114.0579),  # Shenzhen
    (43.8256, 87.6168),  # Urumqi
    (29.6, 121.2),
    (30.1, 121.9),
    (48.8566, 2.3522),  # Paris: outside China, no shift
]


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[0] + b[0]) / 2)
    dy = (a[0] - b[0]) * 111_320
    dx = (a[1] - b[1]) * 111_320 * math.cos(lat)
    return math.hypot(dx, dy)


def test_it_matches_the_published_reference_point():
    # wandergis/coordtransform's README: wgs84togcj02(116.404, 39.915).
    lat, lng = wgs84_to_gcj02(39.915, 116.404)
    assert lat == pytest.approx(39.91640428150164, abs=1e-12)
    assert lng == pytest.approx(116.41024449916938, abs=1e-12)


def test_the_demo_county_is_about_493_metres_off_on_a_gcj02_map():
    shifted = wgs84_to_gcj02(*DEMO_COUNTY)
    assert 480 < metres(shifted, DEMO_COUNTY) < 505


@pytest.mark.parametrize("point", POINTS)
def test_the_inverse_returns_the_point_to_under_half_a_metre(point):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(*point))
    assert metres(back, point) < 0.5
    assert metres(back, point) < 0.001  # in fact to the millimetre


def test_outside_china_nothing_moves():
    assert out_of_china(48.8566, 2.3522)
    assert wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522)
    assert gcj02_to_wgs84(48.8566, 2.3522) == (48.8566, 2.3522)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_browser_module_gives_the_same_answers_as_the_python_twin():
    script = (
        f"const m = require({json.dumps(str(BASEMAP_JS))});"
        f"const pts = {json.dumps(POINTS)};"
        "const out = pts.map(([la, ln]) => { const g = m.toGcj(la, ln); return [g, m.toWgs(g[0], g[1])]; });"
        "const nav = m.navigationLinks(29.87, 121.55, '东桥下');"
        "process.stdout.write(JSON.stringify({out, nav}));"
    )
    result = subprocess.run(
        ["node", "-e", script], capture_output=True, text=True, check=True, timeout=30
    )
    data = json.loads(result.stdout)
    for point, (gcj, back) in zip(POINTS, data["out"]):
        expected = wgs84_to_gcj02(*point)
        assert gcj[0] == pytest.approx(expected[0], abs=1e-11)
        assert gcj[1] == pytest.approx(expected[1], abs=1e-11)
        assert metres(tuple(back), point) < 0.001
    links = {link["app"]: link["href"] for link in data["nav"]}
    assert links["geo"].startswith("geo:29.870000,121.550000?q=29.870000,121.550000")
    assert "position=121.550000,29.870000" in links["amap"] and "coordinate=wgs84" in links["amap"]
    assert (
        "location=29.870000,121.550000" in links["baidu"] and "coord_type=wgs84" in links["baidu"]
    )
    # Tencent's URI API takes GCJ-02 only: the point goes shifted.
    g_lat, g_lng = wgs84_to_gcj02(29.87, 121.55)
    assert f"marker=coord:{g_lat:.6f},{g_lng:.6f};" in links["tencent"]
