"""Grid boundaries from the files GIS offices hand out: a zipped ESRI Shapefile in a projected
CGCS2000 Gauss-Kruger system (reprojected to WGS-84 from its .prj), GBK text in the DBF."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import shapefile
from pyproj import CRS, Transformer

from apps.onboarding.boundaries import boundaries_read
from apps.onboarding.reader import FileRefused
from apps.org.models import Grid, Region
from tests.onboarding.helpers import (
    GRID1,
    GRID2,
    SMALL_COUNTY,
    from_template,
    import_file,
    refusals,
)

pytestmark = pytest.mark.django_db

GAUSS_KRUGER_120E = 4549  # CGCS2000 / 3-degree Gauss-Kruger CM 120E
NAMES = {"330999101001001": "东城社区第1网格", "330999102201001": "西山村第1网格"}


def shapefile_zip(
    polygons: dict[str, dict],
    *,
    epsg: int | None,
    cpg: str | None = "GBK",
    encoding="gbk",
    parts=("shp", "shx", "dbf", "prj", "cpg"),
) -> bytes:
    to_projected = (
        Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
        if epsg and epsg != 4490
        else None
    )
    files = {"shp": io.BytesIO(), "shx": io.BytesIO(), "dbf": io.BytesIO()}
    writer = shapefile.Writer(
        shp=files["shp"],
        shx=files["shx"],
        dbf=files["dbf"],
        shapeType=shapefile.POLYGON,
        encoding=encoding,
    )
    writer.field("WGBM", "C", size=20)
    writer.field("NAME", "C", size=40)
    for code, polygon in polygons.items():
        ring = polygon["coordinates"][0]
        if to_projected is not None:
            ring = [list(to_projected.transform(x, y)) for x, y in ring]
        writer.poly([list(reversed(ring))])  # a Shapefile's outer ring runs clockwise
        writer.record(code, NAMES.get(code, "网格"))
    writer.close()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for ext, handle in files.items():
            if ext in parts:
                archive.writestr(f"网格/wg.{ext}", handle.getvalue())
        if epsg and "prj" in parts:
            archive.writestr("网格/wg.prj", CRS.from_epsg(epsg).to_wkt("WKT1_ESRI"))
        if cpg and "cpg" in parts:
            archive.writestr("网格/wg.cpg", cpg)
    return out.getvalue()


def without_boundaries():
    rows = {k: [list(r) for r in v] for k, v in SMALL_COUNTY.items()}
    for row in rows["网格"]:
        row[4] = ""
    return rows


def close_to(a, b, tolerance=1e-6):
    return all(abs(x - y) < tolerance for p, q in zip(a, b) for x, y in zip(p, q))


def test_a_projected_shapefile_is_reprojected_to_wgs84_and_imported():
    data = shapefile_zip(
        {"330999101001001": GRID1, "330999102201001": GRID2}, epsg=GAUSS_KRUGER_120E
    )
    boundaries = boundaries_read(data=data, name="网格边界.zip")
    report = import_file(from_template(without_boundaries()), boundaries=boundaries)
    assert not report.refused, refusals(report)
    stored = Grid.objects.get(code="330999101001001").boundary
    assert stored["type"] == "Polygon"
    ring = stored["coordinates"][0]
    assert sorted(map(tuple, ring[:-1])) != [] and close_to(
        sorted(ring[:-1]), sorted(GRID1["coordinates"][0][:-1])
    )
    # The same file again changes nothing.
    again = import_file(from_template(without_boundaries()), boundaries=boundaries)
    assert {r.outcome for r in again.rows} == {"same"}, refusals(again)


def test_cgcs2000_longitude_latitude_is_taken_as_it_is():
    data = shapefile_zip({"330999101001001": GRID1}, epsg=4490, cpg=None, encoding="utf-8")
    found = boundaries_read(data=data, name="x.zip")
    assert close_to(
        found["330999101001001"]["coordinates"][0], list(reversed(GRID1["coordinates"][0])), 1e-9
    )


def test_gbk_text_without_a_cpg_is_read():
    to = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    assert to  # the writer below stores GBK names, and there is no .cpg to say so
    data = shapefile_zip({"330999101001001": GRID1}, epsg=GAUSS_KRUGER_120E, cpg=None)
    assert "330999101001001" in boundaries_read(data=data, name="x.zip")


def test_a_projected_shapefile_without_a_prj_is_refused():
    data = shapefile_zip(
        {"330999101001001": GRID1}, epsg=GAUSS_KRUGER_120E, parts=("shp", "shx", "dbf", "cpg")
    )
    with pytest.raises(FileRefused, match="没有 .prj 文件"):
        boundaries_read(data=data, name="x.zip")


def test_a_shapefile_without_its_dbf_is_refused():
    data = shapefile_zip(
        {"330999101001001": GRID1}, epsg=GAUSS_KRUGER_120E, parts=("shp", "shx", "prj")
    )
    with pytest.raises(FileRefused, match=r"缺少 \.dbf"):
        boundaries_read(data=data, name="x.zip")


def test_a_broken_shapefile_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for ext in ("shp", "shx", "dbf"):
            archive.writestr(f"wg.{ext}", b"garbage")
    with pytest.raises(FileRefused, match="Shapefile 无法读取"):
        boundaries_read(data=out.getvalue(), name="x.zip")


def test_a_self_intersecting_boundary_refuses_the_whole_import():
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[120.1, 30.1], [120.11, 30.11], [120.11, 30.1], [120.1, 30.11], [120.1, 30.1]]
        ],
    }
    boundaries = boundaries_read(
        data=shapefile_zip({"330999101001001": bowtie, "330999102201001": GRID2}, epsg=4490),
        name="x.zip",
    )
    report = import_file(from_template(without_boundaries()), boundaries=boundaries)
    assert report.refused
    assert any("自相交" in line for line in refusals(report)), refusals(report)
    assert not Region.objects.exists()


def test_a_geojson_boundary_file_with_a_crs_member_is_reprojected():
    to = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    ring = [list(to.transform(x, y)) for x, y in GRID1["coordinates"][0]]
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}},
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "330999101001001"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    found = boundaries_read(data=json.dumps(doc).encode(), name="x.geojson")
    assert close_to(found["330999101001001"]["coordinates"][0], GRID1["coordinates"][0])


def test_a_boundary_for_a_grid_not_in_the_sheet_is_refused():
    boundaries = {"330999101001999": GRID2}
    report = import_file(from_template(), boundaries=boundaries)
    assert report.refused and "不在“网格”表里" in report.errors[0]


def test_grids_named_in_the_shapefile_alone_are_imported_without_a_grid_sheet():
    data = shapefile_zip(
        {"330999101001001": GRID1, "330999102201001": GRID2}, epsg=GAUSS_KRUGER_120E
    )
    boundaries = boundaries_read(data=data, name="网格边界.zip")
    assert boundaries.names["330999102201001"] == "西山村第1网格"  # the DBF's NAME, in GBK
    rows = {k: v for k, v in SMALL_COUNTY.items() if k != "网格"}
    report = import_file(from_template(rows), boundaries=boundaries)
    assert not report.refused, refusals(report)
    from_file = [r for r in report.rows if r.sheet == "网格边界文件"]
    assert [(r.key, r.outcome) for r in from_file] == [
        ("330999101001001", "create"),
        ("330999102201001", "create"),
    ]
    assert report.counts()["网格边界文件"]["create"] == 2
    grid = Grid.objects.get(code="330999102201001")
    assert grid.village.code == "330999102201" and grid.leader is None
    # Again, with the sheet's leader set meanwhile: the file alone leaves the leader alone.
    import_file(from_template(without_boundaries()), boundaries=None)  # boundaries kept
    assert Grid.objects.get(code="330999101001001").leader.username == "gl001"
    again = import_file(from_template(rows), boundaries=boundaries)
    assert {r.outcome for r in again.rows} == {"same"}, refusals(again)
    assert Grid.objects.get(code="330999101001001").leader.username == "gl001"
