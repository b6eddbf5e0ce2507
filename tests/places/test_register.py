"""The places register: kinds' attributes, codes, who adds, updates, confirms and closes what,
and the history that keeps every change."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError

from apps.org.models import Grid
from apps.places import services
from apps.places.attributes import clean_attributes, schema_problems
from apps.places.models import Place, PlaceEvent, PlaceKind, PlaceStatus
from apps.places.selectors import places_near, places_visible_to
from tests.places.conftest import BUILDING_SCHEMA, PREMISES_SCHEMA, add_building, point

pytestmark = pytest.mark.django_db


# --- kinds and their attributes -------------------------------------------------------------


def test_a_kind_declares_its_attributes_and_they_are_checked():
    cleaned, problems = clean_attributes(BUILDING_SCHEMA, {"层数": "6", "households": 12})
    assert cleaned == {"floors": 6, "households": 12} and problems == []
    _, problems = clean_attributes(BUILDING_SCHEMA, {"households": "许多"})
    assert problems == ["户数须为整数", "层数为必填项"]
    _, problems = clean_attributes(PREMISES_SCHEMA, {"licence": "X1", "category": "大商场"})
    assert problems == ["类别须为以下之一：小商店、小餐饮、小作坊"]
    cleaned, problems = clean_attributes(
        PREMISES_SCHEMA, {"licence": "X1", "extinguisher": "是", "colour": "红"}
    )
    assert cleaned == {"licence": "X1", "extinguisher": True}
    assert problems == ["未定义的属性“colour”"]
    cleaned, problems = clean_attributes(BUILDING_SCHEMA, {"floors": 3, "built": "2020/5/1"})
    assert problems == ["建成日期须为日期（如 2026-12-06）"]


def test_a_kind_with_a_broken_schema_is_refused():
    assert schema_problems([{"key": "Floors", "label": "", "type": "float"}]) == [
        "第 1 项属性的 key 必须是小写字母开头的字母、数字或下划线。",
        "第 1 项属性缺少名称 label。",
        "第 1 项属性的类型必须是 int、text、choice、bool、date 之一。",
    ]
    kind = PlaceKind(
        code="x", name="x", attribute_schema=[{"key": "a", "label": "甲", "type": "choice"}]
    )
    with pytest.raises(ValidationError):
        kind.clean()


def test_inspection_frequency_follows_the_risk_level(kinds):
    building = kinds["building"]
    assert [building.inspection_days_for(r) for r in "ABC"] == [45, 90, 180]


def test_a_place_with_bad_attributes_is_refused_and_nothing_is_written(org, kinds):
    with pytest.raises(services.PlaceError) as refused:
        add_building(org, kinds, attributes={"households": 3})
    assert "层数为必填项" in refused.value.message
    assert not Place.objects.exists() and not PlaceEvent.objects.exists()


# --- adding: codes, grids, status -----------------------------------------------------------


def test_a_grid_worker_adds_a_place_in_their_grid_and_it_waits_for_the_village(org, kinds):
    place = add_building(org, kinds)
    grid = org.grids["east-v1-g1"]
    assert place.code == f"{grid.code}00001" and len(place.code) == 20
    assert (place.grid_id, place.village_id, place.town_id, place.county_id) == (
        grid.pk,
        org.villages["east-v1"].pk,
        org.towns["east"].pk,
        org.county.pk,
    )
    assert place.status == PlaceStatus.PENDING and place.verified_at is None
    second = add_building(org, kinds)
    assert second.code == f"{grid.code}00002"
    other = add_building(org, kinds, grid="east-v1-g2")
    assert other.code == f"{org.grids['east-v1-g2'].code}00001"


def test_a_place_outside_the_workers_grids_is_refused(org, kinds):
    with pytest.raises(services.NotPermitted) as refused:
        add_building(org, kinds, grid="west-v1-g1")
    assert "不在您负责的网格内" in refused.value.message
    with pytest.raises(services.PlaceError) as outside:
        add_building(org, kinds, lat=10.0, lng=10.0)
    assert "不在本辖区任何网格内" in outside.value.message
    assert not Place.objects.exists()


def test_a_desk_adds_a_place_on_the_register_at_once_within_its_region(org, kinds):
    place = add_building(org, kinds, who="td", grid="east-v2-g1")
    assert place.status == PlaceStatus.ACTIVE and place.verified_by == org.users["td"]
    with pytest.raises(services.NotPermitted):
        add_building(org, kinds, who="td", grid="west-v1-g1")
    with pytest.raises(services.NotPermitted):
        add_building(org, kinds, who="leader")


def test_a_polygon_kind_takes_its_position_from_the_polygon(org, kinds):
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    d = 0.001
    ring = [
        [lng - d, lat - d],
        [lng + d, lat - d],
        [lng + d, lat + d],
        [lng - d, lat + d],
        [lng - d, lat - d],
    ]
    place, _ = services.place_add(
        actor=org.users["gw"],
        kind=kinds["site"],
        name="某工地",
        polygon={"type": "Polygon", "coordinates": [ring]},
    )
    assert place.lat == pytest.approx(lat) and place.lng == pytest.approx(lng)
    bowtie = [
        [lng - d, lat - d],
        [lng + d, lat + d],
        [lng + d, lat - d],
        [lng - d, lat + d],
        [lng - d, lat - d],
    ]
    with pytest.raises(services.PlaceError) as refused:
        services.place_add(
            actor=org.users["gw"],
            kind=kinds["site"],
            name="自相交",
            polygon={"type": "Polygon", "coordinates": [bowtie]},
        )
    assert "范围多边形无效" in refused.value.message
    with pytest.raises(services.PlaceError):
        services.place_add(
            actor=org.users["gw"], kind=kinds["site"], name="无范围", lat=lat, lng=lng
        )


def test_the_same_client_uuid_is_one_place(org, kinds):
    key = uuid.uuid4()
    first = add_building(org, kinds, client_uuid=key, name="同一栋")
    again, created = services.place_add(
        actor=org.users["gw"], kind=kinds["building"], name="同一栋", lat=0, lng=0, client_uuid=key
    )
    assert not created and again.pk == first.pk
    with pytest.raises(services.DuplicateSubmission):
        services.place_add(
            actor=org.users["gw"], kind=kinds["building"], name="另一栋", client_uuid=key
        )
    assert Place.objects.count() == 1


def test_codes_continue_after_imported_codes(org, kinds):
    grid = org.grids["east-v1-g1"]
    lat, lng = point(org, "east-v1-g1")
    csv = f"code,name,lat,lng,层数\n{grid.code}00041,导入楼,{lat},{lng},5\n".encode()
    services.places_import(actor=org.users["td"], kind=kinds["building"], data=csv)
    assert add_building(org, kinds).code == f"{grid.code}00042"


# --- updates, versions, history -------------------------------------------------------------


def test_an_update_checks_the_version_and_records_what_changed(org, kinds):
    place = add_building(org, kinds)
    services.place_update(
        actor=org.users["gw"],
        place=place,
        version=0,
        changes={"name": "新名字", "attributes": {"floors": 7}, "contact_phone": "13900001111"},
    )
    place.refresh_from_db()
    assert (place.name, place.attributes, place.version) == (
        "新名字",
        {"floors": 7, "households": 24},
        1,
    )
    with pytest.raises(services.ConcurrentChange):
        services.place_update(actor=org.users["gw"], place=place, version=0, changes={"name": "旧"})
    event = place.events.get(action="update")
    assert event.changes["name"][1] == "新名字"
    assert event.changes["attributes"] == [
        {"floors": 6, "households": 24},
        {"floors": 7, "households": 24},
    ]
    # The contact's number is never kept in clear in the history.
    assert event.changes["contact_phone"] == ["138****5678", "139****1111"]
    assert "13900001111" not in str(list(PlaceEvent.objects.values_list("changes", flat=True)))
    # No difference, no write, no history row.
    services.place_update(actor=org.users["gw"], place=place, version=1, changes={"name": "新名字"})
    assert place.events.count() == 2 and Place.objects.get(pk=place.pk).version == 1


def test_a_worker_cannot_move_a_place_out_of_their_grids(org, kinds):
    place = add_building(org, kinds)
    lat, lng = point(org, "east-v2-g1")
    with pytest.raises(services.NotPermitted):
        services.place_update(
            actor=org.users["gw"], place=place, version=0, changes={"lat": lat, "lng": lng}
        )
    lat, lng = point(org, "east-v1-g2")
    moved = services.place_update(
        actor=org.users["gw"], place=place, version=0, changes={"lat": lat, "lng": lng}
    )
    assert moved.grid_id == org.grids["east-v1-g2"].pk and moved.code == place.code


def test_history_is_append_only(org, kinds):
    place = add_building(org, kinds)
    event = place.events.get()
    assert event.action == "add" and event.changes["name"] == [None, place.name]
    event.note = "篡改"
    with pytest.raises(ValidationError):
        event.save()
    with pytest.raises(ValidationError):
        event.delete()


# --- confirm, reject, close -----------------------------------------------------------------


def test_only_the_places_village_confirms_it(org, kinds):
    place = add_building(org, kinds)
    for who in ("vh_w", "td", "gw", "cd"):
        with pytest.raises(services.NotPermitted):
            services.place_confirm(actor=org.users[who], place=place)
    confirmed = services.place_confirm(actor=org.users["vh"], place=place, note="核实无误")
    assert confirmed.status == PlaceStatus.ACTIVE and confirmed.verified_by == org.users["vh"]
    with pytest.raises(services.IllegalTransition):
        services.place_confirm(actor=org.users["vh"], place=confirmed)
    assert [e.action for e in confirmed.events.all()] == ["add", "confirm"]


def test_reject_needs_a_reason_and_a_rejected_place_cannot_be_edited(org, kinds):
    place = add_building(org, kinds)
    with pytest.raises(services.PlaceError):
        services.place_reject(actor=org.users["vh"], place=place, reason=" ")
    rejected = services.place_reject(actor=org.users["vh"], place=place, reason="重复采集")
    assert rejected.status == PlaceStatus.REJECTED
    with pytest.raises(services.IllegalTransition):
        services.place_update(
            actor=org.users["gw"], place=rejected, version=rejected.version, changes={"name": "x"}
        )


def test_close_by_the_desk_of_the_place(org, kinds):
    place = add_building(org, kinds)
    with pytest.raises(services.NotPermitted):
        services.place_close(actor=org.users["td_w"], place=place, reason="已拆除")
    with pytest.raises(services.NotPermitted):
        services.place_close(actor=org.users["gw"], place=place, reason="已拆除")
    closed = services.place_close(actor=org.users["td"], place=place, reason="已拆除")
    assert closed.status == PlaceStatus.CLOSED


# --- who sees what --------------------------------------------------------------------------


def test_each_role_sees_the_places_of_its_scope(org, kinds):
    a = add_building(org, kinds)  # east-v1-g1
    b = add_building(org, kinds, grid="east-v1-g2")
    c = add_building(org, kinds, who="td", grid="east-v2-g1")
    w = add_building(org, kinds, who="gw_w", grid="west-v1-g1")
    seen = {
        who: set(places_visible_to(org.users[who]).values_list("pk", flat=True))
        for who in org.users
    }
    assert seen["gw"] == {a.pk, b.pk}
    assert seen["gw2"] == {a.pk}
    assert seen["vh"] == {a.pk, b.pk}
    assert seen["td"] == {a.pk, b.pk, c.pk}
    assert seen["gw_w"] == seen["vh_w"] == seen["td_w"] == {w.pk}
    assert seen["cd"] == seen["leader"] == {a.pk, b.pk, c.pk, w.pk}
    assert seen["dh"] == seen["dh_c"] == set()


def test_a_department_sees_the_kinds_it_supervises_in_its_region(org, kinds):
    lat, lng = point(org, "east-v1-g1")
    shop, _ = services.place_add(
        actor=org.users["td"],
        kind=kinds["premises"],
        name="小卖部",
        lat=lat,
        lng=lng,
        attributes={"licence": "91330200X"},
    )
    lat, lng = point(org, "west-v1-g1")
    west_shop, _ = services.place_add(
        actor=org.users["td_w"],
        kind=kinds["premises"],
        name="西镇小卖部",
        lat=lat,
        lng=lng,
        attributes={"licence": "91330200Y"},
    )
    add_building(org, kinds)
    from apps.org.models import Role
    from tests.factories import make_person

    sj_county = make_person("dh_sj", Role.DEPARTMENT_HANDLER, unit=org.units["county-sj"])
    sj_east = make_person("dh_sj_e", Role.DEPARTMENT_HANDLER, unit=org.units["east-sj"])
    assert set(places_visible_to(sj_county).values_list("pk", flat=True)) == {shop.pk, west_shop.pk}
    assert set(places_visible_to(sj_east).values_list("pk", flat=True)) == {shop.pk}


def test_places_near_lists_what_the_user_sees_nearest_first(org, kinds):
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    far = add_building(org, kinds, lat=lat + 0.002, lng=lng)
    near = add_building(org, kinds, lat=lat + 0.0005, lng=lng)
    add_building(org, kinds, who="gw_w", grid="west-v1-g1")
    found = places_near(lat=lat, lng=lng, user=org.users["gw"], radius_m=300)
    assert [p.pk for p, _d in found] == [near.pk, far.pk]
    assert 50 < found[0][1] < 60
    assert places_near(lat=lat, lng=lng, user=org.users["gw_w"]) == []
    assert places_near(lat=lat, lng=lng, user=org.users["gw"], radius_m=100)[0][0].pk == near.pk


def test_a_sequence_is_per_grid_and_kept_in_the_database(org, kinds):
    add_building(org, kinds)
    from apps.places.models import GridSequence

    assert GridSequence.objects.get(grid=org.grids["east-v1-g1"]).last == 1
    assert Grid.objects.count() == 8
