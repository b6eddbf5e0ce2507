"""The bulk import: all or nothing, errors by row, placed by the map, idempotent re-import."""

from __future__ import annotations

import json

import pytest

from apps.places import services
from apps.places.models import Place, PlaceEvent, PlaceStatus
from tests.factories import make_person
from tests.places.conftest import add_building, point

pytestmark = pytest.mark.django_db


def csv_of(
    rows: list[str], header: str = "code,name,address,lat,lng,risk,层数,户数,联系电话"
) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def good_rows(org, n: int = 3, grid: str = "east-v1-g1") -> list[str]:
    rows = []
    for k in range(n):
        lat, lng = point(org, grid, k)
        rows.append(f",楼 {k},幸福路 {k} 号,{lat},{lng},B,{k + 2},{k * 10},1380000000{k}")
    return rows


def test_a_clean_file_is_imported_and_placed_by_the_map(org, kinds):
    result = services.places_import(
        actor=org.users["td"], kind=kinds["building"], data=csv_of(good_rows(org))
    )
    assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
    grid = org.grids["east-v1-g1"]
    places = list(Place.objects.order_by("code"))
    assert [p.code for p in places] == [f"{grid.code}{n:05d}" for n in (1, 2, 3)]
    assert {p.status for p in places} == {PlaceStatus.ACTIVE}
    assert {p.source for p in places} == {"import"}
    assert places[1].attributes == {"floors": 3, "households": 10} and places[1].risk == "B"
    assert PlaceEvent.objects.filter(action="import").count() == 3


def test_one_bad_row_refuses_the_whole_file_with_errors_by_row(org, kinds):
    rows = good_rows(org)
    lat, lng = point(org, "west-v1-g1")
    rows += [
        f",西镇楼,,{lat},{lng},A,3,,",  # outside the town desk's region
        ",,无名,29.8,121.5,A,3,,",  # no name
        "1234,坏编码楼,,29.805,121.505,A,3,,",  # bad code
        ",坏属性楼,,29.805,121.505,D,许多,,",  # bad risk and attribute
        ",远方楼,,10,10,A,3,,",  # outside every grid
    ]
    with pytest.raises(services.PlaceImportError) as refused:
        services.places_import(actor=org.users["td"], kind=kinds["building"], data=csv_of(rows))
    assert refused.value.errors == [
        "第 5 行：位置不在您的管辖范围内。",
        "第 6 行：缺少名称。",
        "第 7 行：场所编码必须是 20 位数字。",
        "第 8 行：风险等级只能是 A、B 或 C；层数须为整数。",
        "第 9 行：位置不在本辖区任何网格内。",
    ]
    assert not Place.objects.exists() and not PlaceEvent.objects.exists()


def test_a_code_must_belong_to_the_grid_of_its_position(org, kinds):
    lat, lng = point(org, "east-v1-g1")
    other = org.grids["east-v1-g2"].code
    with pytest.raises(services.PlaceImportError) as refused:
        services.places_import(
            actor=org.users["td"],
            kind=kinds["building"],
            data=csv_of([f"{other}00001,楼,,{lat},{lng},C,2,,"]),
        )
    assert "场所编码的前 15 位须是所在网格的编码" in refused.value.errors[0]


def test_re_importing_the_same_rows_changes_nothing_and_a_change_updates_by_code(org, kinds):
    services.places_import(
        actor=org.users["td"], kind=kinds["building"], data=csv_of(good_rows(org))
    )
    exported = [
        f"{p.code},{p.name},{p.address},{p.lat},{p.lng},{p.risk},{p.attributes['floors']},"
        f"{p.attributes.get('households', '')},{p.contact_phone}"
        for p in Place.objects.order_by("code")
    ]
    before = list(Place.objects.order_by("pk").values())
    again = services.places_import(
        actor=org.users["td"], kind=kinds["building"], data=csv_of(exported)
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert list(Place.objects.order_by("pk").values()) == before
    assert PlaceEvent.objects.count() == 3
    exported[0] = exported[0].replace(",B,2,", ",A,9,")
    changed = services.places_import(
        actor=org.users["td"], kind=kinds["building"], data=csv_of(exported)
    )
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 2)
    first = Place.objects.order_by("code").first()
    assert (first.risk, first.attributes["floors"], first.version) == ("A", 9, 1)
    assert first.events.order_by("pk").last().changes["risk"] == ["B", "A"]


def test_a_department_re_imports_by_its_own_reference(org, kinds):
    dept = make_person("dh_sj", "department_handler", unit=org.units["county-sj"])
    lat, lng = point(org, "east-v1-g1")
    header = "external_ref,name,lat,lng,营业执照号,类别"
    data = csv_of([f"LIC-1,小卖部,{lat},{lng},LIC-1,小商店"], header)
    first = services.places_import(actor=dept, kind=kinds["premises"], data=data)
    again = services.places_import(actor=dept, kind=kinds["premises"], data=data)
    assert (first.created, again.created, again.unchanged) == (1, 0, 1)
    place = Place.objects.get()
    assert place.supervising_unit == org.units["county-sj"]


def test_geojson_points_and_polygons(org, kinds):
    lat, lng = point(org, "east-v1-g2")
    d = 0.001
    ring = [
        [lng - d, lat - d],
        [lng + d, lat - d],
        [lng + d, lat + d],
        [lng - d, lat + d],
        [lng - d, lat - d],
    ]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "一号工地"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            },
            {
                "type": "Feature",
                "properties": {"name": "坏工地"},
                "geometry": {"type": "Point", "coordinates": [lng, lat]},
            },
        ],
    }
    with pytest.raises(services.PlaceImportError) as refused:
        services.places_import(
            actor=org.users["cd"],
            kind=kinds["site"],
            data=json.dumps(doc).encode(),
            filename="s.geojson",
        )
    assert refused.value.errors == [
        "第 2 个要素：建筑工地须提供范围：GeoJSON Polygon 或 MultiPolygon。"
    ]
    doc["features"].pop()
    result = services.places_import(
        actor=org.users["cd"],
        kind=kinds["site"],
        data=json.dumps(doc).encode(),
        filename="s.geojson",
    )
    assert result.created == 1 and Place.objects.get().grid == org.grids["east-v1-g2"]


def test_who_may_import_and_how_much(org, kinds, settings):
    for who in ("gw", "vh", "leader"):
        with pytest.raises(services.NotPermitted):
            services.places_import(
                actor=org.users[who], kind=kinds["building"], data=csv_of(good_rows(org))
            )
    settings.PLACES_IMPORT_MAX_ROWS = 2
    with pytest.raises(services.PlaceImportError) as too_many:
        services.places_import(
            actor=org.users["td"], kind=kinds["building"], data=csv_of(good_rows(org))
        )
    assert "一次最多导入 2 行" in too_many.value.errors[0]
    settings.PLACES_IMPORT_MAX_BYTES = 100
    with pytest.raises(services.PlaceImportError) as too_big:
        services.places_import(
            actor=org.users["td"], kind=kinds["building"], data=csv_of(good_rows(org))
        )
    assert "文件超过" in too_big.value.errors[0]
    assert not Place.objects.exists()


def test_a_town_cannot_overwrite_another_towns_place_by_its_code(org, kinds):
    lat, lng = point(org, "west-v1-g1")
    services.places_import(
        actor=org.users["td_w"], kind=kinds["building"], data=csv_of([f",西楼,,{lat},{lng},C,2,,"])
    )
    west = Place.objects.get()
    with pytest.raises(services.PlaceImportError) as refused:
        services.places_import(
            actor=org.users["td"],
            kind=kinds["building"],
            data=csv_of([f"{west.code},改名,,{lat},{lng},C,2,,"]),
        )
    assert refused.value.errors == ["第 2 行：位置不在您的管辖范围内。"]
    assert Place.objects.get().name == "西楼"


def test_a_moved_place_re_imports_by_its_code(org, kinds):
    place = add_building(org, kinds, who="td")
    lat, lng = point(org, "east-v1-g2")
    services.place_update(
        actor=org.users["td"], place=place, version=0, changes={"lat": lat, "lng": lng}
    )
    row = f"{place.code},{place.name},,{lat},{lng},C,6,24,13812345678"
    result = services.places_import(
        actor=org.users["td"], kind=kinds["building"], data=csv_of([row])
    )
    assert (result.created, result.unchanged) == (0, 1)
