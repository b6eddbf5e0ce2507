"""The basemap: which street map every map of ours draws under its grid outlines and points.

One setting chooses it (``MAP_BASEMAP``, see config/settings "Maps"); ``map_config()`` turns the
settings into the one object every page hands to ``apps/core/static/core/basemap.js`` (the field
app, 随手拍 and the public board, the desk's case list and case page, the hotspots map).
``tile_sources()`` gives the Content-Security-Policy the same hosts, so a page may load exactly
the tiles its map asks for.

This module reads no models and may be imported from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

TIANDITU = "tianditu"
AMAP = "amap"
TENCENT = "tencent"
CUSTOM = "custom"
NONE = "none"
BASEMAPS = (TIANDITU, AMAP, TENCENT, CUSTOM, NONE)

WGS84 = "wgs84"
GCJ02 = "gcj02"

# Tianditu (天地图): WMTS in Web Mercator (matrix set "w"), a vector base and its label layer.
# Its data are CGCS2000, which agrees with WGS-84 to centimetres: no shift.
TIANDITU_LAYER = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
)
# AutoNavi (高德) and Tencent (腾讯) draw GCJ-02: basemap.js shifts our points onto them.
AMAP_URL = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
# Tencent numbers its rows from the south (TMS): Leaflet's {-y}.
TENCENT_URL = "https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&type=vector&styleid=0"


@dataclass(frozen=True)
class Basemap:
    name: str
    layers: list[dict]  # each: url (Leaflet template), subdomains, maxZoom
    attribution: str
    crs: str  # the coordinates the tiles are drawn in: WGS84 or GCJ02
    problem: str = ""  # why a configured basemap cannot be drawn ("" when fine)


def resolve(
    basemap: str, *, tianditu_key: str = "", url: str = "", attribution: str = "", crs: str = ""
) -> Basemap:
    """The basemap the settings describe. A basemap that cannot be drawn (Tianditu without its
    key, ``custom`` without a URL, an unknown name) falls back to none — grid outlines on grey —
    and says why in ``problem`` (the system check shows it)."""
    name = (basemap or "").strip().lower()
    if name == TIANDITU:
        if not tianditu_key:
            return Basemap(NONE, [], "", WGS84, problem="tianditu_key_missing")
        return Basemap(
            TIANDITU,
            [
                {
                    "url": TIANDITU_LAYER.replace("{layer}", layer).replace("{key}", tianditu_key),
                    "subdomains": "01234567",
                    "maxZoom": 18,
                }
                for layer in ("vec", "cva")
            ],
            "天地图",
            WGS84,
        )
    if name == AMAP:
        return Basemap(
            AMAP, [{"url": AMAP_URL, "subdomains": "1234", "maxZoom": 18}], "高德地图", GCJ02
        )
    if name == TENCENT:
        return Basemap(
            TENCENT, [{"url": TENCENT_URL, "subdomains": "0123", "maxZoom": 18}], "腾讯地图", GCJ02
        )
    if name == CUSTOM:
        if not url:
            return Basemap(NONE, [], "", WGS84, problem="custom_url_missing")
        return Basemap(
            CUSTOM,
            [{"url": url, "subdomains": "abc", "maxZoom": 19}],
            attribution or "地图瓦片",
            GCJ02 if crs.strip().lower() == GCJ02 else WGS84,
        )
    if name in ("", NONE):
        return Basemap(NONE, [], "", WGS84)
    return Basemap(NONE, [], "", WGS84, problem="unknown_basemap")


def tile_sources(basemap: Basemap) -> list[str]:
    """The CSP ``img-src`` sources of a basemap's tiles: each layer's scheme and host, with the
    ``{s}`` subdomain placeholder as a wildcard label (``https://t{s}.tianditu.gov.cn`` →
    ``https://*.tianditu.gov.cn``)."""
    sources: list[str] = []
    for layer in basemap.layers:
        parts = urlsplit(layer["url"])
        if not (parts.scheme and parts.netloc):
            continue
        host = parts.netloc
        if "{s}" in host:
            labels = host.split(".")
            labels = ["*" if "{s}" in label else label for label in labels]
            host = ".".join(labels)
        source = f"{parts.scheme}://{host}"
        if source not in sources:
            sources.append(source)
    return sources


def tile_hosts(basemap: Basemap) -> list[str]:
    """The host names the basemap's tiles come from, a ``{s}`` label left off
    (``t{s}.tianditu.gov.cn`` → ``tianditu.gov.cn``): the field app's service worker keeps the
    tiles of these hosts and their subdomains."""
    hosts: list[str] = []
    for layer in basemap.layers:
        netloc = urlsplit(layer["url"]).netloc.rsplit("@", 1)[-1]
        name = netloc.split(":", 1)[0].lower()
        labels = [label for label in name.split(".") if "{" not in label]
        host = ".".join(labels)
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def configured() -> Basemap:
    from django.conf import settings

    return resolve(
        settings.MAP_BASEMAP,
        tianditu_key=settings.TIANDITU_KEY,
        url=settings.MAP_TILES_URL,
        attribution=settings.MAP_TILES_ATTRIBUTION,
        crs=settings.MAP_TILES_CRS,
    )


def map_config() -> dict:
    """What every map of ours needs from the server, as one JSON-able object for basemap.js:
    the basemap's tile layers, their plain attribution and coordinate system, and where to
    centre when there is nothing to fit."""
    from django.conf import settings

    basemap = configured()
    return {
        "basemap": basemap.name,
        "layers": basemap.layers,
        "attribution": basemap.attribution,
        "crs": basemap.crs,
        "center": list(settings.MAP_DEFAULT_CENTER),
    }
