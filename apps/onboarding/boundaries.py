"""Grid boundaries from a file: GeoJSON, or an ESRI Shapefile in a zip (.shp, .shx, .dbf and
.prj, perhaps .cpg) — the format county GIS offices (自然资源和规划局) hand out.

Coordinates are turned into WGS-84 longitude/latitude when the file names another system: a
Shapefile's .prj (e.g. CGCS2000 / 3-degree Gauss-Kruger CM 120E), or a GeoJSON ``crs`` member.
CGCS2000 longitude/latitude (EPSG:4490) agrees with WGS-84 to within centimetres and is taken
as it is. Shapefile text (the DBF) is read in the encoding the .cpg names, else UTF-8, else GBK.

Each feature needs a grid code: a property ``code`` (or ``网格编码``, ``WGBM``, ``GRID_CODE``).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from django.utils.translation import gettext as _

from apps.onboarding.reader import FileRefused, member_name, size_check, zip_check

GeoJSON = dict[str, Any]
CODE_FIELDS = ("code", "网格编码", "wgbm", "grid_code", "gridcode", "wg_code")
NAME_FIELDS = ("name", "网格名称", "wgmc", "grid_name", "gridname", "wg_name")


class Boundaries(dict[str, GeoJSON]):
    """Grid code → geometry (WGS-84), and the grid names the file gives (code → name): a grid
    the file names but the 网格 sheet does not list is imported from the file alone."""

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, str] = {}


DIGITS = 7  # about a centimetre


def _code_of(properties: dict[str, Any], fields: tuple[str, ...] = CODE_FIELDS) -> str:
    lowered = {str(k).strip().lower(): v for k, v in properties.items()}
    for name in fields:
        value = lowered.get(name)
        if value not in (None, ""):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return str(value).strip()
    return ""


def _map_coordinates(node: Any, convert: Callable[[float, float], tuple[float, float]]) -> Any:
    if isinstance(node, (list, tuple)):
        if len(node) >= 2 and all(isinstance(v, (int, float)) for v in node[:2]):
            x, y = convert(float(node[0]), float(node[1]))
            return [round(x, DIGITS), round(y, DIGITS)]
        return [_map_coordinates(child, convert) for child in node]
    return node


def _transformer(crs_text: str, *, wkt: bool) -> Callable[[float, float], tuple[float, float]]:
    """Coordinates in the named system → WGS-84 (lon, lat); identity for WGS-84 or CGCS2000."""
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_wkt(crs_text) if wkt else CRS.from_user_input(crs_text)
    except CRSError as exc:
        raise FileRefused([_("无法识别文件里的坐标系：%(e)s") % {"e": exc}]) from exc
    epsg = crs.to_epsg(min_confidence=70)
    if crs.is_geographic and (
        epsg in (4326, 4490) or "2000" in crs.name or "WGS" in crs.name.upper()
    ):
        return lambda x, y: (x, y)
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def convert(x: float, y: float) -> tuple[float, float]:
        lng, lat = transformer.transform(x, y)
        return float(lng), float(lat)

    return convert


def _lon_lat_range(geometry: GeoJSON) -> bool:
    def walk(node: Any) -> bool:
        if isinstance(node, (list, tuple)):
            if len(node) >= 2 and all(isinstance(v, (int, float)) for v in node[:2]):
                return -180 <= node[0] <= 180 and -90 <= node[1] <= 90
            return all(walk(child) for child in node)
        return True

    return walk(geometry.get("coordinates"))


def _from_geojson(raw: bytes) -> list[tuple[str, str, GeoJSON]]:
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileRefused([_("边界文件不是 UTF-8 编码的 GeoJSON：%(e)s") % {"e": exc}]) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise FileRefused([_("边界文件必须是 GeoJSON FeatureCollection。")])
    convert = None
    crs = doc.get("crs")
    if isinstance(crs, dict) and isinstance(crs.get("properties"), dict):
        name = str(crs["properties"].get("name") or "")
        if name:
            convert = _transformer(
                name.replace("urn:ogc:def:crs:", "").replace("::", ":"), wkt=False
            )
    found = []
    for index, feature in enumerate(doc.get("features") or []):
        if not isinstance(feature, dict):
            raise FileRefused([_("边界文件第 %(i)d 个要素不是 Feature。") % {"i": index + 1}])
        properties = feature.get("properties") or {}
        code = _code_of(properties)
        geometry = feature.get("geometry")
        if not isinstance(geometry, dict):
            raise FileRefused([_("边界文件第 %(i)d 个要素没有几何。") % {"i": index + 1}])
        if convert is not None:
            geometry = {
                **geometry,
                "coordinates": _map_coordinates(geometry.get("coordinates"), convert),
            }
        found.append((code, _code_of(properties, NAME_FIELDS), geometry))
    return found


def _cpg_encoding(text: str) -> str:
    name = text.strip().lower()
    aliases = {"936": "gbk", "cp936": "gbk", "65001": "utf-8", "utf8": "utf-8", "ansi": "gbk"}
    name = aliases.get(name, name)
    try:
        "".encode(name)
    except LookupError as exc:
        raise FileRefused([_(".cpg 文件写的编码 %(e)s 无法识别。") % {"e": text.strip()}]) from exc
    return name


def _from_shapefile_zip(raw: bytes) -> list[tuple[str, str, GeoJSON]]:
    import shapefile  # pyshp

    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise FileRefused([_("边界文件不是有效的 zip 压缩包。")]) from exc
    with archive:
        zip_check(archive)
        members = {
            member_name(info): info
            for info in archive.infolist()
            if not info.is_dir() and not member_name(info).startswith("__MACOSX/")
        }
        shps = [name for name in members if name.lower().endswith(".shp")]
        if len(shps) != 1:
            raise FileRefused(
                [
                    _(
                        "压缩包里必须正好有一个 .shp 文件（及同名的 .shx、.dbf、.prj），而这里有 %(n)d 个。"
                    )
                    % {"n": len(shps)}
                ]
            )
        stem = shps[0][: -len(".shp")]
        parts: dict[str, bytes] = {}
        for name, info in members.items():
            if name[: len(stem)] == stem and name[len(stem) :].lower() in (
                ".shp",
                ".shx",
                ".dbf",
                ".prj",
                ".cpg",
            ):
                parts[name[len(stem) + 1 :].lower()] = archive.read(info)
    missing = [ext for ext in ("shx", "dbf") if ext not in parts]
    if missing:
        raise FileRefused(
            [
                _("Shapefile 缺少 %(m)s 文件（与 .shp 同名）。")
                % {"m": "、".join("." + m for m in missing)}
            ]
        )
    encodings = (
        [_cpg_encoding(parts["cpg"].decode("ascii", "replace"))]
        if "cpg" in parts
        else ["utf-8", "gbk"]
    )
    records = None
    last_error: Exception | None = None
    for encoding in encodings:
        try:
            reader = shapefile.Reader(
                shp=io.BytesIO(parts["shp"]),
                shx=io.BytesIO(parts["shx"]),
                dbf=io.BytesIO(parts["dbf"]),
                encoding=encoding,
                encodingErrors="strict",
            )
            records = [
                (rec.as_dict(), shp.__geo_interface__)
                for shp, rec in zip(reader.shapes(), reader.records())
            ]
            break
        except Exception as exc:  # pyshp raises ShapefileException, struct.error, ValueError…
            # pyshp 3 reports text it cannot decode as its own dbfFileException: try the next.
            if isinstance(exc, UnicodeDecodeError) or "decode" in str(exc):
                last_error = exc
                continue
            raise FileRefused([_("Shapefile 无法读取：%(e)s") % {"e": exc}]) from exc
    if records is None:
        raise FileRefused(
            [_("Shapefile 属性表（.dbf）的文字既不是 UTF-8 也不是 GBK：%(e)s") % {"e": last_error}]
        )
    convert = (
        _transformer(parts["prj"].decode("utf-8", "replace"), wkt=True) if "prj" in parts else None
    )
    found = []
    for index, (props, geometry) in enumerate(records):
        geometry = json.loads(json.dumps(geometry))  # tuples → lists, as GeoJSON has them
        if convert is not None:
            geometry["coordinates"] = _map_coordinates(geometry.get("coordinates"), convert)
        elif not _lon_lat_range(geometry):
            raise FileRefused(
                [
                    _(
                        "Shapefile 没有 .prj 文件，坐标又不是经纬度（第 %(i)d 个要素），无法判断坐标系。"
                    )
                    % {"i": index + 1}
                ]
            )
        found.append((_code_of(props), _code_of(props, NAME_FIELDS), geometry))
    return found


def boundaries_read(*, data: bytes, name: str) -> Boundaries:
    """Grid code → GeoJSON geometry (WGS-84). Raises FileRefused for a file that cannot be read,
    a feature without a code, or a code twice."""
    size_check(len(data))
    suffix = PurePosixPath(name.lower()).suffix
    if suffix in (".geojson", ".json"):
        features = _from_geojson(data)
    elif suffix == ".zip":
        features = _from_shapefile_zip(data)
    else:
        raise FileRefused([_("网格边界文件只能是 .geojson，或装有 Shapefile 的 .zip。")])
    if not features:
        raise FileRefused([_("网格边界文件里没有要素。")])
    found = Boundaries()
    errors = []
    for index, (code, grid_name, geometry) in enumerate(features, start=1):
        if not code:
            errors.append(
                _("边界文件第 %(i)d 个要素没有网格编码（属性 code 或 网格编码）。") % {"i": index}
            )
        elif code in found:
            errors.append(_("边界文件里网格编码 %(c)s 出现了两次。") % {"c": code})
        elif any(not math.isfinite(v) for v in _flat(geometry.get("coordinates"))):
            errors.append(_("边界文件第 %(i)d 个要素的坐标无法换算。") % {"i": index})
        else:
            found[code] = geometry
            if grid_name:
                found.names[code] = grid_name
    if errors:
        raise FileRefused(errors)
    return found


def _flat(node: Any) -> list[float]:
    if isinstance(node, (list, tuple)):
        out: list[float] = []
        for child in node:
            out.extend(_flat(child))
        return out
    return [float(node)] if isinstance(node, (int, float)) else []
