"""POST /api/reports/{uuid}/photos/: one photo per request, retry-safe, through the Pillow
pipeline; originals private; copies made by the task; nothing left behind on a refusal."""

from __future__ import annotations

import io

import pytest
from django.test import override_settings
from PIL import Image

from apps.cases.models import Case, CasePhoto
from apps.cases.photos import case_photos_process
from tests import photo_files
from tests.api.conftest import report_payload, stored_files, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def reported(org, client_for):
    """gw's client and a report of theirs (without photos yet)."""
    client = client_for(org.users["gw"])
    payload = report_payload(org)
    assert client.post("/api/reports/", payload, format="json").status_code == 201
    return client, payload["id"]


def post_photo(client, report_id, photo_id="ph-1", file=None, kind="report"):
    return client.post(
        f"/api/reports/{report_id}/photos/",
        {"id": photo_id, "kind": kind, "photo": file or upload()},
        format="multipart",
    )


def test_a_photo_is_stored_privately_and_the_case_records_the_pending_work(reported):
    client, report_id = reported
    response = post_photo(client, report_id)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["client_id"] == "ph-1" and body["processed"] is False
    photo = CasePhoto.objects.get()
    case = photo.case
    assert "photos" in case.pending_work and case.pending_since is not None
    assert photo.event.action == "report" and photo.uploaded_by.username == "gw"
    assert photo.original.name.startswith("originals/") and not photo.web
    # The original is never given a URL of its own.
    assert "originals" not in body["thumb_url"] and "originals" not in body["web_url"]


def test_a_retried_photo_is_the_same_photo_and_no_second_file(reported):
    client, report_id = reported
    data = photo_files.jpeg()
    first = post_photo(client, report_id, file=upload(data=data))
    files_after_first = len(stored_files())
    again = post_photo(client, report_id, file=upload(data=data))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replay"] == "true" and again.json()["id"] == first.json()["id"]
    assert CasePhoto.objects.count() == 1 and len(stored_files()) == files_after_first == 1


def test_the_same_photo_id_with_another_file_is_refused(reported):
    client, report_id = reported
    assert post_photo(client, report_id).status_code == 201
    response = post_photo(client, report_id, file=upload(data=photo_files.jpeg(colour=(1, 2, 3))))
    assert response.status_code == 409
    assert CasePhoto.objects.count() == 1 and len(stored_files()) == 1


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("bomb.png", photo_files.png_bomb(), 400),
        ("big-bomb.png", photo_files.png_bomb(8000, 8000), 400),
        ("cut.jpg", photo_files.truncated(photo_files.jpeg(1200, 900)), 400),
        ("cut.png", photo_files.truncated(photo_files.png(900, 700)), 400),
        ("notes.jpg", b"this is not a picture at all", 400),
        ("scan.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\n", 400),
        ("anim.gif", photo_files.gif(), 400),
        ("empty.jpg", b"", 400),
    ],
)
def test_bad_files_are_refused_with_the_file_named_and_nothing_left(reported, name, data, status):
    client, report_id = reported
    response = post_photo(client, report_id, file=upload(name, data))
    assert response.status_code == status, response.json()
    assert name in response.json()["detail"]
    assert "photo" in response.json()["errors"]
    assert CasePhoto.objects.count() == 0 and stored_files() == []
    assert "photos" not in Case.objects.get().pending_work


@override_settings(MAX_PHOTO_BYTES=50_000)
def test_a_photo_over_the_size_limit_is_refused_with_413(reported):
    client, report_id = reported
    big = photo_files.jpeg(1600, 1200, exif_padding=60_000)
    response = post_photo(client, report_id, file=upload("huge.jpg", big))
    assert response.status_code == 413 and "huge.jpg" in response.json()["detail"]
    assert stored_files() == []


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("photo.png", photo_files.png()),
        ("photo.webp", photo_files.webp()),
        ("IMG_0001.HEIC", photo_files.heic()),
    ],
)
def test_png_webp_and_heic_are_accepted(reported, name, data):
    client, report_id = reported
    response = post_photo(client, report_id, file=upload(name, data, "application/octet-stream"))
    assert response.status_code == 201, response.json()


def test_at_most_nine_photos_per_report(reported):
    client, report_id = reported
    for i in range(9):
        assert (
            post_photo(
                client, report_id, f"p{i}", upload(data=photo_files.jpeg(colour=(i, 0, 0)))
            ).status_code
            == 201
        )
    response = post_photo(
        client, report_id, "p9", upload("tenth.jpg", photo_files.jpeg(colour=(99, 0, 0)))
    )
    assert response.status_code == 400 and "tenth.jpg" in response.json()["detail"]
    assert CasePhoto.objects.count() == 9 and len(stored_files()) == 9
    # A retry of one of the nine is still answered as a replay.
    assert (
        post_photo(
            client, report_id, "p0", upload(data=photo_files.jpeg(colour=(0, 0, 0)))
        ).status_code
        == 200
    )


def test_photos_of_an_unknown_report_answer_404(org, client_for):
    response = post_photo(client_for(org.users["gw"]), "6f1c1d2e-0000-4000-8000-000000000000")
    assert response.status_code == 404 and stored_files() == []


def test_someone_elses_report_takes_no_photos_from_me(reported, org, client_for):
    _, report_id = reported
    # gw2 sees the case (same grid) but did not report it; gw_w does not even see it.
    assert post_photo(client_for(org.users["gw2"]), report_id).status_code == 403
    assert post_photo(client_for(org.users["gw_w"]), report_id).status_code == 404
    assert CasePhoto.objects.count() == 0 and stored_files() == []


def test_a_plain_report_refuses_before_after_kinds(reported):
    client, report_id = reported
    response = post_photo(client, report_id, kind="after")
    assert response.status_code == 400 and "kind" in response.json()["errors"]


def test_processing_makes_served_copies_and_clears_the_pending_work(reported, org, client_for):
    client, report_id = reported
    post_photo(client, report_id, "a", upload(data=photo_files.jpeg(3000, 2000)))
    post_photo(client, report_id, "b", upload("b.png", photo_files.png(), "image/png"))
    case = Case.objects.get()
    assert case_photos_process(case_id=case.pk) == 2
    assert case_photos_process(case_id=case.pk) == 0  # idempotent
    case.refresh_from_db()
    assert "photos" not in case.pending_work
    detail = client.get(f"/api/cases/{case.pk}/").json()
    big = next(p for p in detail["photos"] if p["client_id"] == "a")
    assert big["processed"] is True
    web = client.get(big["web_url"])
    assert web.status_code == 200 and web["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(b"".join(web.streaming_content))).size == (1920, 1280)
    thumb = client.get(big["thumb_url"])
    assert max(Image.open(io.BytesIO(b"".join(thumb.streaming_content))).size) == 320
    # Another town's grid worker cannot fetch the copy (404, as if it did not exist).
    assert client_for(org.users["gw_w"]).get(big["web_url"]).status_code == 404


def test_only_the_copies_are_served_never_the_original(reported):
    client, report_id = reported
    photo_id = post_photo(client, report_id).json()["id"]
    assert client.get(f"/api/photos/{photo_id}/original/").status_code == 404
    # Not processed yet: no copy to serve, and still no original.
    assert client.get(f"/api/photos/{photo_id}/web/").status_code == 404


def test_a_signed_public_link_works_only_while_the_photo_is_public(reported):
    from rest_framework.test import APIClient

    from apps.cases.photos import photo_url

    client, report_id = reported
    post_photo(client, report_id)
    case = Case.objects.get()
    case_photos_process(case_id=case.pk)
    photo = CasePhoto.objects.get()
    anonymous = APIClient()
    assert anonymous.get(photo_url(photo, "thumb")).status_code == 404
    link = photo_url(photo, "thumb", public=True)
    assert anonymous.get(link).status_code == 404  # not marked public
    CasePhoto.objects.filter(pk=photo.pk).update(is_public=True)
    response = anonymous.get(link)
    assert response.status_code == 200 and response["Cache-Control"].startswith("public")
    assert anonymous.get(link.replace("&t=", "&t=x")).status_code == 404  # a forged token
