"""The basemap settings → the one map config every page hands to core/basemap.js, the CSP
hosts and the service worker's tile hosts; the system check that says a key is missing."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.core import checks, maps


def test_tianditu_is_the_default_and_needs_its_key(settings):
    settings.MAP_BASEMAP = "tianditu"
    settings.TIANDITU_KEY = ""
    config = maps.map_config()
    # No key: the grid outlines only, and the check says how to get one.
    assert config["basemap"] == "none" and config["layers"] == []
    [warning] = checks.check_basemap()
    assert warning.id == "liandong.W001" and "TIANDITU_KEY" in warning.msg
    assert "console.tianditu.gov.cn" in warning.hint

    settings.TIANDITU_KEY = "abc123"
    config = maps.map_config()
    assert config["basemap"] == "tianditu" and config["crs"] == "wgs84"
    assert config["attribution"] == "天地图"
    vec, cva = config["layers"]
    assert vec["url"] == (
        "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
        "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=abc123"
    )
    assert "/cva_w/wmts?" in cva["url"] and "LAYER=cva" in cva["url"]
    assert vec["subdomains"] == cva["subdomains"] == "01234567"
    assert checks.check_basemap() == []


@pytest.mark.parametrize(
    "name, host, attribution",
    [("amap", "is.autonavi.com", "高德地图"), ("tencent", "map.gtimg.com", "腾讯地图")],
)
def test_autonavi_and_tencent_are_drawn_in_gcj02(settings, name, host, attribution):
    settings.MAP_BASEMAP = name
    config = maps.map_config()
    assert config["crs"] == "gcj02" and config["attribution"] == attribution
    assert maps.tile_hosts(maps.configured()) == [host]
    assert maps.tile_sources(maps.configured()) == [f"https://*.{host}"]


def test_a_custom_tile_server_says_its_credit_and_coordinates(settings):
    settings.MAP_BASEMAP = "custom"
    settings.MAP_TILES_URL = "http://10.0.0.5:8080/tiles/{z}/{x}/{y}.png"
    settings.MAP_TILES_ATTRIBUTION = "县测绘院"
    settings.MAP_TILES_CRS = "GCJ02"
    config = maps.map_config()
    assert config["layers"][0]["url"] == settings.MAP_TILES_URL
    assert config["attribution"] == "县测绘院" and config["crs"] == "gcj02"
    assert maps.tile_hosts(maps.configured()) == ["10.0.0.5"]
    settings.MAP_TILES_URL = ""
    assert maps.map_config()["layers"] == []
    assert "MAP_TILES_URL" in checks.check_basemap()[0].msg


def test_none_and_unknown_names_draw_outlines_only(settings):
    settings.MAP_BASEMAP = "none"
    assert maps.map_config()["layers"] == [] and checks.check_basemap() == []
    settings.MAP_BASEMAP = "googel"
    assert maps.map_config()["layers"] == []
    assert "MAP_BASEMAP" in checks.check_basemap()[0].msg


def _json_script(page: str, element_id: str) -> dict:
    start = page.index(f'id="{element_id}"')
    return json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])


@pytest.mark.django_db
def test_every_map_page_gets_the_same_config(org, settings):
    """随手拍, the public board, the field app and the phone's /api/me/ all carry map_config()."""
    settings.MAP_BASEMAP = "amap"
    expected = maps.map_config()
    client = Client()
    assert _json_script(client.get("/track/report/").content.decode(), "map-config") == expected
    board = client.get("/track/board/")
    if board.status_code == 200:
        assert _json_script(board.content.decode(), "map-config") == expected
    from tests.factories import PASSWORD

    worker = Client()
    assert worker.login(username="gw", password=PASSWORD)
    field = worker.get("/field/").content.decode()
    assert _json_script(field, "field-config")["map"] == expected
    assert "core/basemap.js" in field and "field/case_map.js" in field
    assert worker.get("/api/me/").json()["map"] == expected
    sw = worker.get("/field/sw.js").content.decode()
    assert 'const TILE_HOSTS = ["is.autonavi.com"];' in sw
