"""The places API: scope (404 outside), idempotent 采集, version conflicts, 附近场所, the
contact masked on the phone, import by upload, and a report tied to a place."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.cases.models import Case
from apps.places.models import Place, PlaceStatus
from tests.admin.conftest import login
from tests.places.conftest import add_building, point

pytestmark = pytest.mark.django_db


def test_a_worker_adds_a_place_once_however_often_the_phone_retries(org, kinds):
    client = login(org.users["gw"])
    lat, lng = point(org, "east-v1-g1")
    body = {
        "id": str(uuid.uuid4()),
        "kind": kinds["building"].pk,
        "name": "幸福小区 3 幢",
        "lat": lat,
        "lng": lng,
        "attributes": {"floors": 6},
        "contact_phone": "13812345678",
    }
    first = client.post("/api/places/", body, content_type="application/json")
    assert first.status_code == 201, first.json()
    data = first.json()
    assert data["status"] == "pending" and data["code"].startswith(org.grids["east-v1-g1"].code)
    assert data["contact_phone"] == "138****5678"  # masked beyond the desk
    again = client.post("/api/places/", body, content_type="application/json")
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert again.json()["id"] == data["id"] and Place.objects.count() == 1
    other = client.post("/api/places/", {**body, "name": "别的楼"}, content_type="application/json")
    assert other.status_code == 409


def test_a_place_outside_the_workers_grids_is_refused_in_chinese(org, kinds):
    lat, lng = point(org, "west-v1-g1")
    response = login(org.users["gw"]).post(
        "/api/places/",
        {
            "id": str(uuid.uuid4()),
            "kind": kinds["building"].pk,
            "name": "越界",
            "lat": lat,
            "lng": lng,
            "attributes": {"floors": 1},
        },
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "不在您负责的网格内" in response.json()["detail"]
    bad = login(org.users["gw"]).post(
        "/api/places/",
        {
            "id": str(uuid.uuid4()),
            "kind": kinds["building"].pk,
            "name": "缺属性",
            "lat": 29.805,
            "lng": 121.505,
        },
        content_type="application/json",
    )
    assert bad.status_code == 400 and "层数为必填项" in bad.json()["errors"]["attributes"][0]


def test_another_towns_place_answers_404_everywhere(org, kinds):
    west = add_building(org, kinds, who="gw_w", grid="west-v1-g1")
    for who in ("gw", "vh", "td", "dh"):
        client = login(org.users[who])
        assert client.get(f"/api/places/{west.pk}/").status_code == 404
        assert (
            client.patch(
                f"/api/places/{west.pk}/",
                {"version": 0, "name": "x"},
                content_type="application/json",
            ).status_code
            == 404
        )
        assert (
            client.post(
                f"/api/places/{west.pk}/actions/close/",
                {"reason": "x"},
                content_type="application/json",
            ).status_code
            == 404
        )
        assert west.pk not in [p["id"] for p in client.get("/api/places/").json()["results"]]
    assert login(org.users["vh_w"]).get(f"/api/places/{west.pk}/").status_code == 200
    west.refresh_from_db()
    assert (west.name, west.status, west.version) != ("x", "closed", 1)


def test_update_with_a_stale_version_is_a_409(org, kinds):
    place = add_building(org, kinds)
    client = login(org.users["gw"])
    ok = client.patch(
        f"/api/places/{place.pk}/", {"version": 0, "risk": "A"}, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["version"] == 1 and ok.json()["risk"] == "A"
    stale = client.patch(
        f"/api/places/{place.pk}/", {"version": 0, "risk": "B"}, content_type="application/json"
    )
    assert stale.status_code == 409 and "刷新" in stale.json()["detail"]
    history = client.get(f"/api/places/{place.pk}/").json()["history"]
    assert [h["action"] for h in history] == ["add", "update"]


def test_the_village_confirms_through_the_api_and_sees_the_full_contact(org, kinds):
    place = add_building(org, kinds)
    worker = login(org.users["gw"]).get(f"/api/places/{place.pk}/").json()
    assert "confirm" not in worker["allowed_actions"]
    assert (
        login(org.users["gw"]).post(f"/api/places/{place.pk}/actions/confirm/").status_code == 403
    )
    village = login(org.users["vh"])
    detail = village.get(f"/api/places/{place.pk}/").json()
    assert {"confirm", "reject"} <= set(detail["allowed_actions"])
    assert detail["contact_phone"] == "13812345678"
    done = village.post(
        f"/api/places/{place.pk}/actions/confirm/", {}, content_type="application/json"
    )
    assert done.status_code == 200 and done.json()["status"] == PlaceStatus.ACTIVE


def test_nearby_places_for_the_report_form(org, kinds):
    place = add_building(org, kinds)
    add_building(org, kinds, who="gw_w", grid="west-v1-g1")
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    found = (
        login(org.users["gw"])
        .get("/api/places/near/", {"lat": lat, "lng": lng, "radius": 500})
        .json()
    )
    assert [p["id"] for p in found] == [place.pk] and found[0]["distance_m"] > 0
    assert login(org.users["gw"]).get("/api/places/near/", {"lat": "x"}).status_code == 400


def test_kinds_carry_their_attribute_schema(org, kinds):
    data = login(org.users["gw"]).get("/api/places/kinds/").json()
    building = next(k for k in data if k["code"] == "building")
    assert building["attribute_schema"][0]["key"] == "floors"


def test_import_by_upload_answers_errors_by_row(org, kinds):
    lat, lng = point(org, "east-v1-g1")
    good = f"name,lat,lng,层数\n楼甲,{lat},{lng},3\n".encode()
    bad = f"name,lat,lng,层数\n楼甲,{lat},{lng},三\n".encode()
    client = login(org.users["td"])
    refused = client.post(
        "/api/places/import/",
        {"kind": kinds["building"].pk, "file": SimpleUploadedFile("p.csv", bad)},
    )
    assert refused.status_code == 400 and refused.json()["errors"]["rows"] == [
        "第 2 行：层数须为整数。"
    ]
    done = client.post(
        "/api/places/import/",
        {"kind": kinds["building"].pk, "file": SimpleUploadedFile("p.csv", good)},
    )
    assert done.status_code == 200 and done.json() == {"created": 1, "updated": 0, "unchanged": 0}
    assert (
        login(org.users["gw"])
        .post(
            "/api/places/import/",
            {"kind": kinds["building"].pk, "file": SimpleUploadedFile("p.csv", good)},
        )
        .status_code
        == 403
    )


def _report(client, org, place_id, grid="east-v1-g1"):
    lat, lng = org.point_in(org.grids[grid])
    return client.post(
        "/api/reports/",
        {
            "id": str(uuid.uuid4()),
            "category": org.categories["fire"].pk,
            "description": "楼道堆放杂物",
            "lat": lat,
            "lng": lng,
            "place": place_id,
        },
        content_type="application/json",
    )


def test_a_report_is_tied_to_a_place_the_reporter_sees(org, kinds):
    place = add_building(org, kinds)
    response = _report(login(org.users["gw"]), org, place.pk)
    assert response.status_code == 201, response.json()
    assert response.json()["place"] == place.pk
    assert Case.objects.get().place_id == place.pk
    west = add_building(org, kinds, who="gw_w", grid="west-v1-g1")
    refused = _report(login(org.users["gw"]), org, west.pk)
    assert refused.status_code == 400 and "找不到这个场所" in refused.json()["errors"]["place"][0]
    assert Case.objects.count() == 1
