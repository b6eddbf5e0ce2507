"""POST /api/reports/: intake from the field, idempotent on the phone's UUID."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.cases import tracking
from apps.cases.models import Case, CaseEvent, CasePhoto, PositionSource, Status
from tests import photo_files
from tests.api.conftest import report_payload, stored_files, upload

pytestmark = pytest.mark.django_db

URL = "/api/reports/"


def test_a_grid_worker_reports_and_gets_the_tracking_number_colour_and_deadline(org, client_for):
    payload = report_payload(org)
    response = client_for(org.users["gw"]).post(URL, payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    case = Case.objects.get(client_uuid=payload["id"])
    assert body["id"] == case.pk
    assert body["tracking_number"] == tracking.display(case.tracking_number)
    assert body["status"] == Status.REPORTED and body["status_display"] == "待受理"
    assert body["colour"] == "blue" and body["deadline"]
    assert case.reporter == org.users["gw"] and case.grid == org.grids["east-v1-g1"]
    assert (case.accuracy_m, case.position_source, case.position_flagged) == (
        8,
        PositionSource.DEVICE_GPS,
        False,
    )
    assert "Idempotent-Replay" not in response


def test_the_same_report_sent_twice_is_one_case_and_the_replay_says_so(org, client_for):
    client = client_for(org.users["gw"])
    payload = report_payload(org)
    first = client.post(URL, payload, format="json")
    again = client.post(URL, payload, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replay"] == "true"
    assert again.json()["tracking_number"] == first.json()["tracking_number"]
    assert Case.objects.filter(client_uuid=payload["id"]).count() == 1
    assert CaseEvent.objects.filter(case__client_uuid=payload["id"]).count() == 1


def test_the_same_uuid_with_different_content_is_refused_with_409(org, client_for):
    client = client_for(org.users["gw"])
    payload = report_payload(org)
    assert client.post(URL, payload, format="json").status_code == 201
    response = client.post(URL, {**payload, "description": "另一件事"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"]
    assert Case.objects.count() == 1


def test_someone_else_cannot_replay_my_uuid_to_read_my_case(org, client_for):
    payload = report_payload(org)
    assert client_for(org.users["gw"]).post(URL, payload, format="json").status_code == 201
    response = client_for(org.users["gw2"]).post(URL, payload, format="json")
    assert response.status_code == 409
    assert "tracking_number" not in response.json()


def test_a_poor_fix_is_accepted_but_flagged_with_its_source_and_time(org, client_for):
    payload = report_payload(
        org, accuracy_m=350, position_source="pin", position_time="2024-05-01T08:00:00+08:00"
    )
    response = client_for(org.users["gw"]).post(URL, payload, format="json")
    assert response.status_code == 201
    assert response.json()["position_flagged"] is True
    case = Case.objects.get()
    assert case.position_flagged and case.position_source == PositionSource.PIN
    assert case.position_time.isoformat() == "2024-05-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": 999999}, "category"),
        ({"category": "垃圾"}, "category"),
        ({"description": ""}, "description"),
        ({"description": None}, "description"),
        ({"severity": 7}, "severity"),
        ({"id": "not-a-uuid"}, "id"),
        ({"lat": 95}, "lat"),
        ({"lat": "NaN"}, "lat"),
        ({"lng": None}, "lng"),
        ({"position_source": "satellite"}, "position_source"),
        ({"reporter_phone": "call me"}, "reporter_phone"),
        ({"self_resolved": True}, "result_text"),
        ({"position_time": "2999-01-01T00:00:00Z"}, "position_time"),
    ],
)
def test_bad_fields_get_a_field_level_400_and_leave_nothing(org, client_for, overrides, field):
    payload = report_payload(org, **overrides)
    response = client_for(org.users["gw"]).post(URL, payload, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert field in body["errors"] and body["detail"]
    assert Case.objects.count() == 0 and CaseEvent.objects.count() == 0


def test_missing_fields_are_named(org, client_for):
    response = client_for(org.users["gw"]).post(URL, {}, format="json")
    assert response.status_code == 400
    assert {"id", "category", "description"} <= set(response.json()["errors"])


def test_a_parent_category_is_not_a_leaf(org, client_for):
    payload = report_payload(org, category=org.categories["rubbish"].parent_id)
    response = client_for(org.users["gw"]).post(URL, payload, format="json")
    assert response.status_code == 400 and "category" in response.json()["errors"]


def test_a_point_outside_every_grid_is_refused_on_the_position(org, client_for):
    payload = report_payload(org, lat=30.5, lng=122.9)
    response = client_for(org.users["gw"]).post(URL, payload, format="json")
    assert response.status_code == 400
    assert "lat" in response.json()["errors"]
    assert Case.objects.count() == 0


def test_a_grid_worker_cannot_report_in_another_grid(org, client_for):
    # gw2 covers east-v1-g1 only; east-v1-g2 is a colleague's grid.
    payload = report_payload(org, grid_key="east-v1-g2")
    response = client_for(org.users["gw2"]).post(URL, payload, format="json")
    assert response.status_code == 403
    assert "lat" in response.json()["errors"]
    assert Case.objects.count() == 0


def test_a_grid_worker_of_west_cannot_report_in_east(org, client_for):
    response = client_for(org.users["gw_w"]).post(URL, report_payload(org), format="json")
    assert response.status_code == 403 and Case.objects.count() == 0


@pytest.mark.parametrize("user_key", ["dh", "td", "leader", "vh"])
def test_only_grid_workers_and_leaders_report_from_the_field(org, client_for, user_key):
    response = client_for(org.users[user_key]).post(URL, report_payload(org), format="json")
    assert response.status_code == 403 and Case.objects.count() == 0


def test_a_grid_leader_reports_in_the_grids_they_lead(org, client_for):
    response = client_for(org.users["gl"]).post(
        URL, report_payload(org, grid_key="east-v1-g2"), format="json"
    )
    assert response.status_code == 201


def test_anonymous_callers_are_refused(org):
    response = APIClient().post(URL, report_payload(org), format="json")
    assert response.status_code in (401, 403) and Case.objects.count() == 0


def test_token_auth_works_end_to_end(org):
    anonymous = APIClient()
    got = anonymous.post(
        "/api/auth/token/", {"username": "gw", "password": "test-pass-123"}, format="json"
    )
    assert got.status_code == 200
    token = got.json()["token"]
    assert Token.objects.get(key=token).user == org.users["gw"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post(URL, report_payload(org), format="json").status_code == 201


def test_a_multipart_report_carries_its_photos_in_one_transaction(org, client_for):
    payload = report_payload(org)
    payload["photos"] = [upload("a.jpg"), upload("b.png", photo_files.png(), "image/png")]
    payload["photo_ids"] = ["p-1", "p-2"]
    response = client_for(org.users["gw"]).post(URL, payload, format="multipart")
    assert response.status_code == 201, response.json()
    case = Case.objects.get()
    photos = list(case.photos.order_by("client_id"))
    assert [p.client_id for p in photos] == ["p-1", "p-2"]
    assert all(p.event.action == "report" for p in photos)
    assert "photos" in case.pending_work and case.pending_since is not None
    assert len(response.json()["photos"]) == 2


def test_without_a_fix_the_photos_exif_gps_places_the_report(org, client_for):
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    payload = report_payload(org)
    del payload["lat"], payload["lng"], payload["accuracy_m"], payload["position_source"]
    payload["photos"] = [upload("no-gps.jpg"), upload("gps.jpg", photo_files.jpeg(gps=(lat, lng)))]
    response = client_for(org.users["gw"]).post(URL, payload, format="multipart")
    assert response.status_code == 201, response.json()
    case = Case.objects.get()
    assert case.position_source == PositionSource.EXIF
    assert abs(case.lat - lat) < 1e-4 and abs(case.lng - lng) < 1e-4
    assert case.position_time is not None and case.grid == org.grids["east-v1-g1"]


def test_without_any_position_the_report_is_refused(org, client_for):
    payload = report_payload(org)
    del payload["lat"], payload["lng"]
    payload["photos"] = [upload("no-gps.jpg")]
    response = client_for(org.users["gw"]).post(URL, payload, format="multipart")
    assert response.status_code == 400 and "lat" in response.json()["errors"]
    assert Case.objects.count() == 0 and stored_files() == []


def test_one_bad_photo_refuses_the_whole_report_and_leaves_no_rows_or_files(org, client_for):
    payload = report_payload(org)
    payload["photos"] = [
        upload("good.jpg"),
        upload("broken.jpg", photo_files.truncated(photo_files.jpeg(800, 600))),
    ]
    response = client_for(org.users["gw"]).post(URL, payload, format="multipart")
    assert response.status_code == 400
    assert "broken.jpg" in response.json()["detail"]
    assert Case.objects.count() == 0 and CasePhoto.objects.count() == 0 and stored_files() == []


def test_a_report_refused_for_its_position_stores_no_photo_files(org, client_for):
    payload = report_payload(org, grid_key="west-v1-g1")
    payload["photos"] = [upload("a.jpg")]
    response = client_for(org.users["gw"]).post(URL, payload, format="multipart")
    assert response.status_code == 403
    assert Case.objects.count() == 0 and CasePhoto.objects.count() == 0 and stored_files() == []


def test_more_than_nine_photos_are_refused(org, client_for):
    payload = report_payload(org)
    payload["photos"] = [upload(f"{i}.jpg", photo_files.jpeg(colour=(i, i, i))) for i in range(10)]
    response = client_for(org.users["gw"]).post(URL, payload, format="multipart")
    assert response.status_code == 400 and "photos" in response.json()["errors"]
    assert Case.objects.count() == 0 and stored_files() == []


def test_a_self_resolved_report_goes_straight_to_verification_with_before_and_after_photos(
    org, client_for
):
    payload = report_payload(org, self_resolved=True, result_text="已当场清理")
    payload["photos"] = [
        upload("before.jpg"),
        upload("after.jpg", photo_files.jpeg(colour=(9, 9, 9))),
    ]
    payload["photo_kinds"] = ["before", "after"]
    response = client_for(org.users["gw"]).post(URL, payload, format="multipart")
    assert response.status_code == 201, response.json()
    case = Case.objects.get()
    assert case.self_resolved and case.status == Status.HANDLED and case.result_text == "已当场清理"
    assert sorted(case.photos.values_list("kind", flat=True)) == ["after", "before"]
    assert case.events.get().action == "self_resolve"


def test_a_self_resolved_report_refuses_plain_report_photos(org, client_for):
    payload = report_payload(org, self_resolved=True, result_text="已清理")
    payload["photos"] = [upload("x.jpg")]
    payload["photo_kinds"] = ["report"]
    response = client_for(org.users["gw"]).post(URL, payload, format="multipart")
    assert response.status_code == 400 and "photo_kinds" in response.json()["errors"]
    assert Case.objects.count() == 0


def test_the_uuid_is_unique_across_reporters_even_with_different_uuid_spelling(org, client_for):
    value = uuid.uuid4()
    client = client_for(org.users["gw"])
    assert client.post(URL, report_payload(org, id=str(value)), format="json").status_code == 201
    again = client.post(URL, report_payload(org, id=str(value).upper()), format="json")
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
