"""The places register on the desk: a place's page with its cases and history, the village's
confirm button, the import page — each scoped to the desk."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.cases import services as case_services
from apps.places.models import Place, PlaceStatus
from tests.admin.conftest import login
from tests.places.conftest import add_building, point

pytestmark = pytest.mark.django_db


def test_a_places_page_shows_its_cases_and_history(org, kinds):
    place = add_building(org, kinds, name="幸福楼")
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    case, _ = case_services.case_report(
        reporter=org.users["gw"],
        category=org.categories["fire"],
        description="楼道堆物",
        lat=lat,
        lng=lng,
        place_id=place.pk,
    )
    page = login(org.users["td"]).get(f"/admin/places/place/{place.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "幸福楼" in body and "关联事件（1）" in body and "采集" in body
    assert "13812345678" in body  # the desk sees the contact in full
    assert login(org.users["td_w"]).get(f"/admin/places/place/{place.pk}/change/").status_code in (
        302,
        404,
    )
    assert login(org.users["gw"]).get(f"/admin/places/place/{place.pk}/change/").status_code == 302


def test_the_village_confirms_from_the_places_page(org, kinds):
    place = add_building(org, kinds)
    page = login(org.users["vh"]).get(f"/admin/places/place/{place.pk}/change/")
    assert "确认（在册）" in page.content.decode()
    assert (
        "确认（在册）"
        not in login(org.users["td"])
        .get(f"/admin/places/place/{place.pk}/change/")
        .content.decode()
    )
    login(org.users["td"]).post(f"/admin/places/place/{place.pk}/act/confirm/")
    assert Place.objects.get(pk=place.pk).status == PlaceStatus.PENDING
    login(org.users["vh"]).post(f"/admin/places/place/{place.pk}/act/confirm/")
    assert Place.objects.get(pk=place.pk).status == PlaceStatus.ACTIVE
    assert (
        login(org.users["vh_w"])
        .post(f"/admin/places/place/{place.pk}/act/close/", {"reason": "x"})
        .status_code
        == 404
    )
    assert Place.objects.get(pk=place.pk).status == PlaceStatus.ACTIVE


def test_the_import_page_shows_errors_by_row_or_imports(org, kinds):
    lat, lng = point(org, "east-v1-g1")
    client = login(org.users["td"])
    assert client.get("/admin/places/place/import/").status_code == 200
    bad = f"name,lat,lng,层数\n楼甲,{lat},{lng},\n".encode()
    refused = client.post(
        "/admin/places/place/import/",
        {"kind": kinds["building"].pk, "file": SimpleUploadedFile("p.csv", bad)},
    )
    assert refused.status_code == 400 and "第 2 行：层数为必填项。" in refused.content.decode()
    good = f"name,lat,lng,层数\n楼甲,{lat},{lng},4\n".encode()
    done = client.post(
        "/admin/places/place/import/",
        {"kind": kinds["building"].pk, "file": SimpleUploadedFile("p.csv", good)},
    )
    assert done.status_code == 302 and Place.objects.get().attributes == {"floors": 4}
    assert login(org.users["vh"]).get("/admin/places/place/import/").status_code == 403
