"""System checks of the deployment's settings (``manage.py check``, shown at every start)."""

from __future__ import annotations

from django.core import checks

from apps.core import maps

MAP_PROBLEMS = {
    "tianditu_key_missing": (
        "天地图底图需要密钥 TIANDITU_KEY，未设置时地图只显示网格轮廓。",
        "在 https://console.tianditu.gov.cn/ 注册并创建“浏览器端”应用，把得到的 tk 设为环境变量"
        " TIANDITU_KEY（并在应用的域名白名单里填本站域名）；或设 MAP_BASEMAP=amap / tencent /"
        " custom / none。见 docs/operations.md“底图”。",
    ),
    "custom_url_missing": (
        "MAP_BASEMAP=custom 但没有设置 MAP_TILES_URL，地图只显示网格轮廓。",
        "设置 MAP_TILES_URL（Leaflet 瓦片地址模板）、MAP_TILES_ATTRIBUTION 和 MAP_TILES_CRS。",
    ),
    "unknown_basemap": (
        "MAP_BASEMAP 的取值不认识，地图只显示网格轮廓。",
        "可选：tianditu、amap、tencent、custom、none。",
    ),
}


@checks.register("liandong")
def check_basemap(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A basemap that was asked for but cannot be drawn (e.g. Tianditu without its key)."""
    problem = maps.configured().problem
    if not problem:
        return []
    message, hint = MAP_PROBLEMS[problem]
    return [checks.Warning(message, hint=hint, id="liandong.W001")]
