"""GeoJSON import and export of grid boundaries: service, commands and admin."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.org import geo
from apps.org.models import Grid
from apps.org.services import GridImportError, grids_export_geojson, grids_import_geojson
from tests.factories import BASE_LAT, BASE_LNG, PASSWORD, SIDE, square

pytestmark = pytest.mark.django_db

# A free strip north of the test organisation's grids (they all sit in one row at BASE_LAT).
NORTH = BASE_LAT + 0.05


def feature(code: str, village_code: str, boundary: dict, name: str = "新网格", **extra) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "village_code": village_code, **extra},
        "geometry": boundary,
    }


def collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def refused(data) -> list[str]:
    with pytest.raises(GridImportError) as info:
        grids_import_geojson(data=data)
    return info.value.errors


@pytest.fixture
def village(org):
    return org.villages["east-v1"]


def test_it_imports_new_grids_and_the_map_finds_them_at_once(org, village):
    geo.locate(NORTH + 0.005, BASE_LNG + 0.005)  # the index exists before the import
    result = grids_import_geojson(
        data=json.dumps(
            collection(
                feature(
                    f"{village.code}011", village.code, square(BASE_LNG, NORTH), name="北一网格"
                ),
                feature(
                    f"{village.code}012",
                    village.code,
                    square(BASE_LNG + SIDE, NORTH),
                    name="北二网格",
                ),
            )
        )
    )
    assert sorted(result.created) == [f"{village.code}011", f"{village.code}012"]
    grid = Grid.objects.get(code=f"{village.code}011")
    assert (grid.name, grid.village, grid.min_lat, grid.max_lng) == (
        "北一网格",
        village,
        NORTH,
        BASE_LNG + SIDE,
    )
    assert geo.locate(NORTH + 0.005, BASE_LNG + 0.005).grid_id == grid.pk


def test_an_existing_code_gets_its_new_boundary_and_name(org, village):
    grid = org.grids["east-v1-g1"]
    result = grids_import_geojson(
        data=collection(feature(grid.code, village.code, square(BASE_LNG, NORTH), name="改名网格"))
    )
    assert result.updated == [grid.code] and result.created == []
    grid.refresh_from_db()
    assert grid.name == "改名网格" and grid.min_lat == NORTH
    assert geo.locate(NORTH + 0.005, BASE_LNG + 0.005).grid_id == grid.pk
    assert geo.locate(*org.point_in(org.grids["east-v1-g2"])).grid_id == org.grids["east-v1-g2"].pk


def test_export_then_import_is_a_round_trip(org):
    before = grids_export_geojson()
    assert len(before["features"]) == len(org.grids)
    first = before["features"][0]["properties"]
    assert set(first) == {"code", "name", "village_code", "village_name", "town_code", "town_name"}
    result = grids_import_geojson(data=json.dumps(before, ensure_ascii=False).encode())
    assert len(result.updated) == len(org.grids) and not result.created
    assert grids_export_geojson() == before


def test_broken_json_is_refused_with_line_and_column(org):
    [error] = refused('{"type": "FeatureCollection", "features": [}')
    assert "JSON" in error and "第 1 行" in error


def test_something_other_than_a_feature_collection_is_refused(org):
    [error] = refused({"type": "Feature", "properties": {}, "geometry": None})
    assert "FeatureCollection" in error and "Feature" in error
    assert "没有要素" in refused(collection())[0]


def test_a_point_geometry_is_refused_naming_the_feature(org, village):
    code = f"{village.code}011"
    [error] = refused(
        collection(feature(code, village.code, {"type": "Point", "coordinates": [121.5, 29.9]}))
    )
    assert "第 1 个要素" in error and code in error and "Polygon" in error and "Point" in error


def test_a_self_intersecting_polygon_is_refused_with_the_reason(org, village):
    bow_tie = {
        "type": "Polygon",
        "coordinates": [
            [
                [BASE_LNG, NORTH],
                [BASE_LNG + SIDE, NORTH + SIDE],
                [BASE_LNG + SIDE, NORTH],
                [BASE_LNG, NORTH + SIDE],
                [BASE_LNG, NORTH],
            ]
        ],
    }
    ok = feature(f"{village.code}011", village.code, square(BASE_LNG + 3 * SIDE, NORTH))
    bad_code = f"{village.code}012"
    [error] = refused(collection(ok, feature(bad_code, village.code, bow_tie)))
    assert "第 2 个要素" in error and bad_code in error and "Self-intersection" in error
    assert not Grid.objects.filter(code=ok["properties"]["code"]).exists()  # nothing half-imported


def test_coordinates_out_of_range_are_refused(org, village):
    far = {"type": "Polygon", "coordinates": [[[200, 10], [201, 10], [201, 11], [200, 10]]]}
    [error] = refused(collection(feature(f"{village.code}011", village.code, far)))
    assert "经度" in error


def test_two_features_that_overlap_each_other_are_refused(org, village):
    a = feature(f"{village.code}011", village.code, square(BASE_LNG, NORTH))
    b = feature(f"{village.code}012", village.code, square(BASE_LNG + SIDE / 2, NORTH))
    [error] = refused(collection(a, b))
    assert f"{village.code}011" in error and f"{village.code}012" in error and "重叠" in error
    assert not Grid.objects.filter(code__in=[f"{village.code}011", f"{village.code}012"]).exists()


def test_a_feature_that_overlaps_a_stored_grid_is_refused(org, village):
    stored = org.grids["west-v1-g1"]
    overlapping = square(stored.min_lng + SIDE / 2, stored.min_lat)
    errors = refused(collection(feature(f"{village.code}011", village.code, overlapping)))
    assert any(
        stored.code in error and "已有网格" in error and f"{village.code}011" in error
        for error in errors
    )


def test_touching_neighbours_and_tiny_slivers_are_accepted(org, village):
    # Shares an edge with east-v1-g1 (north side) and overlaps it by a sliver of ~1 m².
    sliver = 1e-5 / 111  # about 1 mm deep
    boundary = square(BASE_LNG, BASE_LAT + SIDE - sliver)
    result = grids_import_geojson(
        data=collection(feature(f"{village.code}011", village.code, boundary))
    )
    assert result.created == [f"{village.code}011"]


def test_an_unknown_village_code_is_refused(org):
    [error] = refused(
        collection(feature("330299999999001", "330299999999", square(BASE_LNG, NORTH)))
    )
    assert "330299999999" in error and "不存在" in error


def test_bad_code_formats_are_refused(org, village):
    errors = refused(
        collection(
            feature("12345", village.code, square(BASE_LNG, NORTH)),
            feature(f"{village.code}011", "3302", square(BASE_LNG + SIDE, NORTH)),
        )
    )
    assert "15 位" in errors[0] and "第 1 个要素" in errors[0]
    assert "12 位" in errors[1] and "第 2 个要素" in errors[1]


def test_a_code_that_does_not_start_with_its_village_code_is_refused(org, village):
    other = org.villages["west-v1"]
    [error] = refused(
        collection(feature(f"{other.code}011", village.code, square(BASE_LNG, NORTH)))
    )
    assert f"{other.code}011" in error and f"以所属村/社区代码 {village.code} 开头" in error


def test_a_repeated_code_in_the_file_is_refused(org, village):
    code = f"{village.code}011"
    [error] = refused(
        collection(
            feature(code, village.code, square(BASE_LNG, NORTH)),
            feature(code, village.code, square(BASE_LNG + 2 * SIDE, NORTH)),
        )
    )
    assert "第 2 个要素" in error and "重复" in error


def test_the_import_command_refuses_and_writes_nothing(org, village, tmp_path):
    path = tmp_path / "bad.geojson"
    path.write_text(
        json.dumps(
            collection(
                feature(f"{village.code}011", village.code, square(BASE_LNG, NORTH)),
                feature(f"{village.code}012", "330299999999", square(BASE_LNG + SIDE, NORTH)),
            )
        )
    )
    err = io.StringIO()
    with pytest.raises(CommandError, match="没有写入"):
        call_command("import_grids", str(path), stderr=err)
    assert "第 2 个要素" in err.getvalue()
    assert not Grid.objects.filter(code=f"{village.code}011").exists()


def test_the_export_and_import_commands_round_trip(org, tmp_path):
    path = tmp_path / "grids.geojson"
    call_command(
        "export_grids", "-o", str(path), "--town", org.towns["east"].code, stderr=io.StringIO()
    )
    doc = json.loads(path.read_text())
    assert len(doc["features"]) == 4
    out = io.StringIO()
    call_command("import_grids", str(path), stdout=out)
    assert "更新边界 4 个" in out.getvalue()


# --- admin ------------------------------------------------------------------------------------


def _upload(client, doc: dict):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(
        "grids.geojson", json.dumps(doc).encode(), content_type="application/geo+json"
    )
    return client.post("/admin/org/grid/import-geojson/", {"file": upload})


def test_a_county_dispatcher_imports_through_the_admin(client, org, village):
    client.login(username="cd", password=PASSWORD)
    page = client.get("/admin/org/grid/")
    assert page.status_code == 200 and "import-geojson" in page.content.decode()
    response = _upload(
        client, collection(feature(f"{village.code}011", village.code, square(BASE_LNG, NORTH)))
    )
    assert response.status_code == 302
    assert Grid.objects.filter(code=f"{village.code}011").exists()


def test_the_admin_shows_every_problem_and_imports_nothing(client, org, village):
    client.login(username="cd", password=PASSWORD)
    response = _upload(
        client,
        collection(
            feature(f"{village.code}011", village.code, square(BASE_LNG, NORTH)),
            feature(
                f"{village.code}012",
                village.code,
                {"type": "LineString", "coordinates": [[1, 1], [2, 2]]},
            ),
        ),
    )
    assert response.status_code == 400
    assert "第 2 个要素" in response.content.decode() and "LineString" in response.content.decode()
    assert not Grid.objects.filter(code=f"{village.code}011").exists()


def test_a_town_dispatcher_may_not_import_grids(client, org, village):
    client.login(username="td", password=PASSWORD)
    assert "import-geojson" not in client.get("/admin/org/grid/").content.decode()
    response = _upload(
        client, collection(feature(f"{village.code}011", village.code, square(BASE_LNG, NORTH)))
    )
    assert response.status_code == 403
    assert not Grid.objects.filter(code=f"{village.code}011").exists()


def test_the_export_action_exports_only_grids_in_scope(client, org):
    client.login(username="td", password=PASSWORD)
    east_and_west = [g.pk for g in org.grids.values()]
    response = client.post(
        "/admin/org/grid/", {"action": "export_geojson", "_selected_action": east_and_west}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    codes = {f["properties"]["code"] for f in json.loads(response.content)["features"]}
    assert codes == {g.code for k, g in org.grids.items() if k.startswith("east")}


def test_the_grid_list_of_a_town_dispatcher_shows_only_their_town(client, org):
    client.login(username="td", password=PASSWORD)
    page = client.get("/admin/org/grid/").content.decode()
    assert org.grids["east-v1-g1"].code in page
    assert org.grids["west-v1-g1"].code not in page
    assert client.get(f"/admin/org/grid/{org.grids['west-v1-g1'].pk}/change/").status_code in (
        302,
        404,
    )


def test_editing_a_boundary_in_the_admin_moves_the_grid_on_the_map(client, org, village):
    client.login(username="cd", password=PASSWORD)
    grid = org.grids["east-v1-g1"]
    response = client.post(
        f"/admin/org/grid/{grid.pk}/change/",
        {
            "code": grid.code,
            "name": grid.name,
            "village": village.pk,
            "boundary": json.dumps(square(BASE_LNG, NORTH)),
            "leader": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    grid.refresh_from_db()
    assert grid.min_lat == NORTH
    assert geo.locate(NORTH + 0.005, BASE_LNG + 0.005).grid_id == grid.pk


def test_the_region_list_is_scoped(client, org):
    client.login(username="td", password=PASSWORD)
    page = client.get("/admin/org/region/").content.decode()
    assert org.towns["east"].code in page and org.towns["west"].code not in page
    client.login(username="leader", password=PASSWORD)
    page = client.get("/admin/org/profile/").content.decode()
    assert "测试gw_w" in page
