"""随手拍: the citizen's report form — a case routed like any other, photos through the pipeline."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.cases import tracking
from apps.cases.models import Case, CasePhoto, PhotoKind, PositionSource, Source
from tests import photo_storage
from tests.public.conftest import jpeg_bytes

pytestmark = pytest.mark.django_db


def photo(name="现场.jpg", content=None):
    return SimpleUploadedFile(
        name, content or jpeg_bytes(size=(120, 90)), content_type="image/jpeg"
    )


def form(org, **overrides):
    lat, lng = org.point_in(org.grids["east-v2-g2"])
    data = {
        "category": str(org.categories["rubbish"].pk),
        "description": "桥下堆了很多建筑垃圾",
        "lat": f"{lat:.7f}",
        "lng": f"{lng:.7f}",
        "accuracy": "12",
        "position_source": "gps",
        "phone": "139 1234 5678",
        "photo": photo(),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def private_files() -> set[str]:
    return set(photo_storage.stored_files())


def test_the_form_offers_two_level_categories_a_map_and_a_camera(client, org):
    response = client.get("/track/report/")
    body = response.content.decode()
    assert response.status_code == 200
    assert '<optgroup label="市容环境">' in body and ">暴露垃圾</option>" in body
    assert 'capture="environment"' in body and 'name="csrfmiddlewaretoken"' in body
    assert "vendor/leaflet/leaflet.js" in body and 'id="locate"' in body
    assert response.cookies.get("csrftoken")


def test_a_report_becomes_a_routed_case_and_answers_with_the_tracking_number(client, org):
    response = client.post("/track/report/", form(org))
    assert response.status_code == 303
    case = Case.objects.get()
    assert response["Location"] == f"/track/t/{case.public_token}/?new=1"
    assert case.source == Source.CITIZEN and case.reporter is None
    assert case.reporter_phone == "13912345678"
    assert case.village_id == org.villages["east-v2"].pk
    assert case.position_source == PositionSource.DEVICE_GPS and case.accuracy_m == 12
    assert set(case.pending_work) == {
        "route",
        "photos",
    }  # routing and thumbnails follow in the worker
    (stored,) = CasePhoto.objects.filter(case=case)
    assert stored.kind == PhotoKind.REPORT and not stored.is_public  # faces: a dispatcher decides
    assert stored.event.action == "report"
    page = client.get(response["Location"]).content.decode()
    assert "上报成功" in page and tracking.display(case.tracking_number) in page
    assert "尾号 5678" in page


def test_a_pin_on_the_map_is_recorded_as_a_pin_without_accuracy(client, org):
    client.post("/track/report/", form(org, position_source="pin"))
    case = Case.objects.get()
    assert case.position_source == PositionSource.PIN and case.accuracy_m is None


def test_without_a_position_the_photos_gps_is_used(client, org):
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (29.0, 48.0, 18.0), 3: "E", 4: (121.0, 30.0, 18.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (9, 9, 9)).save(buffer, "JPEG", exif=exif)
    response = client.post(
        "/track/report/", form(org, lat="", lng="", photo=photo(content=buffer.getvalue()))
    )
    assert response.status_code == 303
    case = Case.objects.get()
    assert case.position_source == PositionSource.EXIF
    assert case.grid_id == org.grids["east-v1-g1"].pk


def test_the_phone_is_optional(client, org):
    assert client.post("/track/report/", form(org, phone="")).status_code == 303
    assert Case.objects.get().reporter_phone == ""


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"photo": None}, "photo", "请拍一张现场照片"),
        ({"category": ""}, "category", "请选择问题分类"),
        ({"description": "   "}, "description", "请描述一下问题"),
        ({"description": "长" * 2001}, "description", "最多 2000 字"),
        ({"lat": "", "lng": ""}, "location", "请定位或在地图上点选"),
        ({"lat": "north", "lng": "121.5"}, "location", "位置无效"),
        ({"lat": "10.0", "lng": "10.0"}, "location", "不在本辖区"),
        ({"phone": "call me"}, "phone", "手机号"),
        ({"phone": "123"}, "phone", "位数不对"),
    ],
)
def test_a_bad_report_is_refused_with_a_message_and_leaves_nothing(
    client, org, overrides, field, message
):
    before = private_files()
    response = client.post("/track/report/", form(org, **overrides))
    body = response.content.decode()
    assert response.status_code == 400
    assert f'data-field="{field}"' in body and message in body
    assert not Case.objects.exists() and not CasePhoto.objects.exists()
    assert private_files() == before


def test_a_group_category_is_not_a_category_to_file_under(client, org):
    group = org.categories["rubbish"].parent
    response = client.post("/track/report/", form(org, category=str(group.pk)))
    assert response.status_code == 400 and not Case.objects.exists()


def test_what_was_typed_is_kept_when_a_report_is_refused(client, org):
    body = client.post(
        "/track/report/", form(org, photo=None, description="桥洞下<b>垃圾</b>")
    ).content.decode()
    assert "桥洞下&lt;b&gt;垃圾&lt;/b&gt;" in body
    assert f'value="{org.categories["rubbish"].pk}" selected' in body


def test_a_file_that_is_not_a_photo_is_refused_by_name(client, org):
    fake = SimpleUploadedFile(
        "病毒.jpg", b"MZ\x90\x00 definitely not a jpeg", content_type="image/jpeg"
    )
    before = private_files()
    response = client.post("/track/report/", form(org, photo=fake))
    assert response.status_code == 400
    assert "病毒.jpg" in response.content.decode()
    assert not Case.objects.exists() and private_files() == before


def test_too_many_photos_are_refused(client, org):
    data = form(org)
    data["photo"] = [photo(f"{i}.jpg", jpeg_bytes((i, i, i))) for i in range(4)]
    response = client.post("/track/report/", data)
    assert response.status_code == 400 and "最多上传 3 张" in response.content.decode()
    assert not Case.objects.exists()


def test_reports_are_limited_per_phone_across_addresses(client, org, settings):
    settings.PUBLIC_RATE_LIMITS = {"report_phone": "2/d"}
    codes = [
        client.post(
            "/track/report/", form(org, description=f"第{i}处垃圾"), REMOTE_ADDR=f"10.4.0.{i}"
        ).status_code
        for i in range(3)
    ]
    assert codes == [303, 303, 429]
    assert Case.objects.count() == 2
    # Spaces and dashes do not make it another phone.
    again = client.post("/track/report/", form(org, phone="139-1234-5678"), REMOTE_ADDR="10.4.0.50")
    assert again.status_code == 429


def test_reports_are_limited_per_address(client, org, settings):
    settings.PUBLIC_RATE_LIMITS = {"report_ip": "1/h"}
    assert client.post("/track/report/", form(org, phone="")).status_code == 303
    limited = client.post("/track/report/", form(org, phone=""))
    assert limited.status_code == 429 and "操作太频繁" in limited.content.decode()
    assert Case.objects.count() == 1


def test_the_grid_outlines_for_the_pin_map_carry_village_names_only(client, org):
    response = client.get("/track/map/grids.geojson")
    data = response.json()
    assert response.status_code == 200 and len(data["features"]) == len(org.grids)
    assert {f["properties"]["village"] for f in data["features"]} == {
        v.name for v in org.villages.values()
    }
    assert all(set(f["properties"]) == {"village"} for f in data["features"])
