"""Writes for the organisation: grid boundaries in and out as GeoJSON.

``grids_import_geojson`` checks a whole FeatureCollection before it writes anything and then
writes it in one transaction, so a file is either imported completely or not at all; every
problem is reported with the feature's position and code, in words a county's GIS clerk can act
on. ``grids_export_geojson`` writes the same format back out, so an export re-imports unchanged.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import shapely
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from shapely.geometry import shape
from shapely.validation import explain_validity

from apps.org import geo
from apps.org.models import Grid, Region, Tier

GRID_CODE = re.compile(r"^\d{15}$")
DIVISION_CODE = re.compile(r"^\d{12}$")
MAX_ERRORS = 50
# A parsed GeoJSON object (a FeatureCollection, a Feature or a geometry), as json.loads gives it.
GeoJSON: TypeAlias = dict[str, Any]
M2_PER_DEG2_AT_EQUATOR = 111_320.0**2


class GridImportError(Exception):
    """The file was refused; ``errors`` lists every problem found (at most MAX_ERRORS)."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("；".join(errors[:3]) + ("……" if len(errors) > 3 else ""))


@dataclass
class GridImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"新增网格 {len(self.created)} 个，更新边界 {len(self.updated)} 个。"


@dataclass
class _Feature:
    index: int
    code: str
    name: str
    village: Region
    geometry: GeoJSON
    shape: shapely.Geometry


# The columns ``grid_fields`` fills beside a grid's boundary.
GRID_SHAPE_FIELDS = ("min_lng", "min_lat", "max_lng", "max_lat", "centroid_lng", "centroid_lat")


def grid_fields(boundary: GeoJSON) -> dict[str, float]:
    """The bounding box and a point inside, stored beside a boundary for index-friendly
    pre-filtering in SQL and for map labels."""
    geom = shape(boundary)
    min_lng, min_lat, max_lng, max_lat = geom.bounds
    centre = geom.centroid if geom.contains(geom.centroid) else geom.representative_point()
    return {
        "min_lng": min_lng,
        "min_lat": min_lat,
        "max_lng": max_lng,
        "max_lat": max_lat,
        "centroid_lng": round(centre.x, 6),
        "centroid_lat": round(centre.y, 6),
    }


def _label(index: int, code: str | None) -> str:
    return f"第 {index + 1} 个要素（编码 {code}）" if code else f"第 {index + 1} 个要素"


def _area_m2(geom: shapely.Geometry) -> float:
    """Area in square metres, near enough for a tolerance (equirectangular at the centroid)."""
    if geom.is_empty:
        return 0.0
    lat: float = geom.centroid.y
    area: float = geom.area
    return area * M2_PER_DEG2_AT_EQUATOR * math.cos(math.radians(lat))


def _finite_coordinates(geometry: GeoJSON) -> bool:
    def walk(node: object) -> bool:
        if isinstance(node, (list, tuple)):
            if len(node) >= 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in node[:2]
            ):
                x, y = node[0], node[1]
                return math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90
            return all(walk(child) for child in node)
        return False

    return walk(geometry.get("coordinates"))


def _parse(data: str | bytes | GeoJSON) -> object:
    """Any JSON value: the caller checks that it is a FeatureCollection."""
    if isinstance(data, dict):
        return data
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise GridImportError([f"文件不是 UTF-8 编码的文本（第 {exc.start} 字节）。"]) from exc
    except json.JSONDecodeError as exc:
        raise GridImportError(
            [f"文件不是合法的 JSON：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg}。"]
        ) from exc


def grids_import_geojson(
    *,
    data: str | bytes | GeoJSON,
    allowed_villages: QuerySet[Region] | Iterable[Region] | None = None,
    overlap_tolerance_m2: float | None = None,
) -> GridImportResult:
    """Create or update grids from a GeoJSON FeatureCollection, all or nothing.

    Each feature: a Polygon or MultiPolygon (WGS84 lon/lat) with properties ``code`` (15 digits),
    ``name``, ``village_code`` (12 digits, an existing village/community; the grid code must
    start with it) and optionally ``village_name``, ``town_code``, ``town_name``. A feature whose
    code exists replaces that grid's name and boundary. ``allowed_villages`` limits which
    villages the caller may touch (the admin passes the user's scope).

    Steps: 1. parse; 2. check every feature on its own; 3. check the features against each
    other and against the grids already stored for overlaps; 4. write, in one transaction;
    5. tell the map index.
    """
    tolerance = (
        settings.GRID_OVERLAP_TOLERANCE_M2 if overlap_tolerance_m2 is None else overlap_tolerance_m2
    )
    doc = _parse(data)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        found = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise GridImportError([f"文件必须是 GeoJSON FeatureCollection，而这是 {found!s}。"])
    raw_features = doc.get("features")
    if not isinstance(raw_features, list) or not raw_features:
        raise GridImportError(["FeatureCollection 里没有要素（features 为空或不是列表）。"])

    errors: list[str] = []
    village_codes = set()
    for raw in raw_features:
        props = raw.get("properties") if isinstance(raw, dict) else None
        if isinstance(props, dict) and isinstance(props.get("village_code"), str):
            village_codes.add(props["village_code"])
    villages = {
        v.code: v
        for v in Region.objects.filter(code__in=village_codes, tier=Tier.VILLAGE).select_related(
            "parent"
        )
    }
    allowed_ids = None if allowed_villages is None else {v.pk for v in allowed_villages}

    # --- 2. each feature on its own -----------------------------------------------------------
    features: list[_Feature] = []
    seen_codes: dict[str, int] = {}
    for index, raw in enumerate(raw_features):
        if len(errors) >= MAX_ERRORS:
            break
        if not isinstance(raw, dict) or raw.get("type") != "Feature":
            errors.append(f"{_label(index, None)}：不是 GeoJSON Feature。")
            continue
        props = raw.get("properties")
        if not isinstance(props, dict):
            errors.append(f"{_label(index, None)}：缺少 properties。")
            continue
        code = props.get("code")
        code = str(code).strip() if code is not None else ""
        label = _label(index, code or None)
        problems = []
        if not GRID_CODE.match(code):
            problems.append("网格编码 code 必须是 15 位数字（村/社区代码 + 3 位序号）")
        elif code in seen_codes:
            problems.append(f"网格编码与第 {seen_codes[code] + 1} 个要素重复")
        name = str(props.get("name") or "").strip()
        if not name:
            problems.append("缺少网格名称 name")
        elif len(name) > 100:
            problems.append("网格名称超过 100 个字")
        village_code = str(props.get("village_code") or "").strip()
        village = villages.get(village_code)
        if not DIVISION_CODE.match(village_code):
            problems.append("村/社区代码 village_code 必须是 12 位数字")
        elif village is None:
            problems.append(f"村/社区代码 {village_code} 不存在（请先建好该村/社区）")
        else:
            if GRID_CODE.match(code) and not code.startswith(village_code):
                problems.append(f"网格编码必须以所属村/社区代码 {village_code} 开头")
            if allowed_ids is not None and village.pk not in allowed_ids:
                problems.append(f"村/社区 {village.name}（{village_code}）不在您的管辖范围内")
            town_code = props.get("town_code")
            if town_code and village.parent and str(town_code).strip() != village.parent.code:
                problems.append(
                    f"town_code {town_code} 与该村/社区所属乡镇 {village.parent.code} 不符"
                )
        geometry = raw.get("geometry")
        geom = None
        if not isinstance(geometry, dict) or geometry.get("type") not in (
            "Polygon",
            "MultiPolygon",
        ):
            found = geometry.get("type") if isinstance(geometry, dict) else "无"
            problems.append(f"几何类型必须是 Polygon 或 MultiPolygon，而这是 {found}")
        elif not _finite_coordinates(geometry):
            problems.append("坐标必须是经度 -180～180、纬度 -90～90 的数字（WGS84）")
        else:
            try:
                geom = shape(geometry)
            except Exception as exc:  # shapely raises several types for malformed rings
                problems.append(f"几何无法解析：{exc}")
            else:
                if not geom.is_empty and not geom.is_valid:
                    problems.append(f"多边形无效（{explain_validity(geom)}），例如边界自相交")
                    geom = None
                elif geom.is_empty or geom.area == 0:
                    problems.append("多边形为空或面积为零")
                    geom = None
        if problems:
            errors.append(f"{label}：{'；'.join(problems)}。")
            continue
        # No problems: the village exists and the geometry is a valid polygon (checked above).
        assert village is not None and isinstance(geometry, dict) and geom is not None
        seen_codes[code] = index
        features.append(_Feature(index, code, name, village, geometry, geom))

    # --- 3. overlaps, within the file and with the stored grids ------------------------------
    if features and len(errors) < MAX_ERRORS:
        shapes = [f.shape for f in features]
        tree = shapely.STRtree(shapes)
        left, right = tree.query(shapes, predicate="intersects")
        for i, j in zip(left.tolist(), right.tolist()):
            if i < j and len(errors) < MAX_ERRORS:
                overlap = _area_m2(shapes[i].intersection(shapes[j]))
                if overlap > tolerance:
                    a, b = features[i], features[j]
                    errors.append(
                        f"{_label(a.index, a.code)}：与{_label(b.index, b.code)}重叠约 {overlap:,.0f} 平方米。"
                    )
        min_x, min_y, max_x, max_y = shapely.total_bounds(shapes)
        replacing = {f.code for f in features}
        stored = (
            Grid.objects.filter(
                min_lng__lte=max_x, max_lng__gte=min_x, min_lat__lte=max_y, max_lat__gte=min_y
            )
            .exclude(code__in=replacing)
            .values_list("code", "name", "boundary")
        )
        for code, name, boundary in stored.iterator(chunk_size=2000):
            existing = shape(boundary)
            for k in tree.query(existing, predicate="intersects").tolist():
                overlap = _area_m2(existing.intersection(shapes[k]))
                if overlap > tolerance and len(errors) < MAX_ERRORS:
                    f = features[k]
                    errors.append(
                        f"{_label(f.index, f.code)}：与已有网格 {name}（{code}）重叠约 {overlap:,.0f} 平方米。"
                    )

    if errors:
        if len(errors) >= MAX_ERRORS:
            errors.append(f"错误太多，只列出前 {MAX_ERRORS} 条。")
        raise GridImportError(errors)

    # --- 4. write ---------------------------------------------------------------------------
    result = GridImportResult()
    with transaction.atomic():
        existing = {
            g.code: g
            for g in Grid.objects.select_for_update().filter(code__in=[f.code for f in features])
        }
        new, changed = [], []
        for f in features:
            values = {
                "name": f.name,
                "village": f.village,
                "boundary": f.geometry,
                **grid_fields(f.geometry),
            }
            grid = existing.get(f.code)
            if grid is None:
                new.append(Grid(code=f.code, **values))
                result.created.append(f.code)
            else:
                for key, value in values.items():
                    setattr(grid, key, value)
                changed.append(grid)
                result.updated.append(f.code)
        Grid.objects.bulk_create(new, batch_size=1000)
        if changed:
            Grid.objects.bulk_update(
                changed,
                ["name", "village", "boundary", *GRID_SHAPE_FIELDS],
                batch_size=1000,
            )
        geo.invalidate()  # in the rows' transaction: the version moves when they commit
    return result


def grids_export_geojson(*, grids: QuerySet[Grid] | None = None) -> GeoJSON:
    """The grids as a GeoJSON FeatureCollection in the import format (re-imports unchanged)."""
    queryset = (
        (Grid.objects.all() if grids is None else grids)
        .select_related("village__parent")
        .order_by("code")
    )
    features = []
    for grid in queryset.iterator(chunk_size=2000):
        village, town = grid.village, grid.village.parent
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": grid.code,
                    "name": grid.name,
                    "village_code": village.code,
                    "village_name": village.name,
                    "town_code": town.code if town else "",
                    "town_name": town.name if town else "",
                },
                "geometry": grid.boundary,
            }
        )
    return {"type": "FeatureCollection", "features": features}
