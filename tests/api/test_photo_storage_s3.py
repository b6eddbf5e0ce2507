"""Photos on S3-compatible object storage (PHOTO_STORAGE=s3; #18 item 4): the photo path end to
end on a bucket of a real S3 server (moto_server, tests/s3_server.py) — upload through the API,
the copies made by the pipeline function the Celery task calls, served through our views only;
the bucket's objects private; nothing left behind by a refusal or a rollback."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.test import Client
from PIL import Image

from apps.cases.models import Case, CasePhoto, private_storage
from apps.cases.photos import case_photo_add, case_photos_process, photo_inspect, photo_transaction
from config import photo_storage
from tests import photo_files
from tests.api.conftest import report_payload, stored_files, upload
from tests.cases.helpers import report
from tests.s3_server import s3_photos, s3_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def post_photo(client, report_id, photo_id="ph-1", file=None):
    return client.post(
        f"/api/reports/{report_id}/photos/",
        {"id": photo_id, "kind": "report", "photo": file or upload()},
        format="multipart",
    )


def test_a_report_photo_goes_through_the_bucket_and_is_served_only_by_our_views(
    org, client_for, s3_photos
):
    client = client_for(org.users["gw"])
    payload = report_payload(org)
    assert client.post("/api/reports/", payload, format="json").status_code == 201
    response = post_photo(client, payload["id"], file=upload(data=photo_files.jpeg(2400, 1600)))
    assert response.status_code == 201, response.json()
    photo = CasePhoto.objects.get()
    # The original is an object in the bucket, and only there.
    assert s3_photos.keys() == [s3_photos.key(photo.original.name)]
    assert stored_files() == [photo.original.name]

    # What the worker does (apps.cases.tasks.process_case_photos), reading the original back.
    assert case_photos_process(case_id=photo.case_id) == 1
    photo.refresh_from_db()
    assert photo.web.name.startswith("web/") and photo.thumb.name.startswith("thumbs/")
    assert s3_photos.keys() == sorted(
        s3_photos.key(name) for name in (photo.original.name, photo.web.name, photo.thumb.name)
    )

    # Served through the intake API to someone who sees the case: the bytes in the bucket.
    detail = client.get(f"/api/cases/{photo.case_id}/").json()
    web = client.get(detail["photos"][0]["web_url"])
    assert web.status_code == 200 and web["Content-Type"] == "image/jpeg"
    served = b"".join(web.streaming_content)
    assert served == s3_photos.read(photo.web.name)
    assert Image.open(io.BytesIO(served)).size == (1920, 1280)
    # Not to a grid worker of another town, and not to anyone before a dispatcher publishes it.
    assert client_for(org.users["gw_w"]).get(detail["photos"][0]["web_url"]).status_code == 404
    case = Case.objects.get()
    public_url = f"/track/p/{case.tracking_number}/{photo.pk}/thumb.jpg"
    assert Client().get(public_url).status_code == 404
    CasePhoto.objects.filter(pk=photo.pk).update(is_public=True)
    thumb = Client().get(public_url)
    assert thumb.status_code == 200
    assert b"".join(thumb.streaming_content) == s3_photos.read(photo.thumb.name)

    # The bucket itself serves nobody: no object is readable without credentials, none has a
    # grant to everyone.
    for key in s3_photos.keys():
        assert s3_photos.anonymous_get(key) == 403, key
        assert s3_photos.public_grants(key) == [], key


def test_the_server_does_enforce_acls_so_the_refusal_above_means_something(s3_photos):
    # A control: an object made public-read on purpose IS served to anyone by this server.
    key = s3_photos.key("control/public.txt")
    s3_photos.client.put_object(Bucket=s3_photos.bucket, Key=key, Body=b"x", ACL="public-read")
    try:
        assert s3_photos.anonymous_get(key) == 200
        assert s3_photos.public_grants(key) != []
    finally:
        s3_photos.client.delete_object(Bucket=s3_photos.bucket, Key=key)


def test_a_refused_report_leaves_no_object_in_the_bucket(org, client_for, s3_photos):
    payload = report_payload(org)
    payload["photos"] = [
        upload("good.jpg"),
        upload("broken.jpg", photo_files.truncated(photo_files.jpeg(800, 600))),
    ]
    response = client_for(org.users["gw"]).post("/api/reports/", payload, format="multipart")
    assert response.status_code == 400 and "broken.jpg" in response.json()["detail"]
    assert Case.objects.count() == 0 and s3_photos.keys() == []


def test_a_rolled_back_upload_takes_its_object_out_of_the_bucket(org, s3_photos):
    case = report(org)
    with pytest.raises(RuntimeError), photo_transaction():
        case_photo_add(
            case=case,
            photo=photo_inspect(upload()),
            client_id="a",
            kind="report",
            uploaded_by=org.users["gw"],
        )
        assert len(s3_photos.keys()) == 1
        raise RuntimeError("something later in the request failed")
    assert CasePhoto.objects.count() == 0 and s3_photos.keys() == []


def test_a_copy_gone_from_the_bucket_is_a_404_not_an_error(org, client_for, s3_photos):
    client = client_for(org.users["gw"])
    payload = report_payload(org)
    client.post("/api/reports/", payload, format="json")
    assert post_photo(client, payload["id"]).status_code == 201
    photo = CasePhoto.objects.get()
    case_photos_process(case_id=photo.case_id)
    photo.refresh_from_db()
    s3_photos.client.delete_object(Bucket=s3_photos.bucket, Key=s3_photos.key(photo.web.name))
    response = client.get(client.get(f"/api/cases/{photo.case_id}/").json()["photos"][0]["web_url"])
    assert response.status_code == 404


def test_an_original_gone_from_the_bucket_is_logged_and_not_retried_forever(
    org, client_for, s3_photos, caplog
):
    client = client_for(org.users["gw"])
    payload = report_payload(org)
    client.post("/api/reports/", payload, format="json")
    assert post_photo(client, payload["id"]).status_code == 201
    photo = CasePhoto.objects.get()
    s3_photos.client.delete_object(Bucket=s3_photos.bucket, Key=s3_photos.key(photo.original.name))
    assert case_photos_process(case_id=photo.case_id) == 0
    assert "has no original file" in caplog.text
    assert "photos" not in Case.objects.get().pending_work


def test_a_name_already_taken_never_overwrites_another_photo(s3_photos):
    storage = private_storage()
    first = storage.save("web/000/1/same.jpg", ContentFile(b"first"))
    second = storage.save("web/000/1/same.jpg", ContentFile(b"second"))
    assert first != second
    assert s3_photos.read(first) == b"first" and s3_photos.read(second) == b"second"


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"bucket": ""}, "PHOTO_S3_BUCKET"),
        ({"bucket": "photos", "acl": "public-read"}, "PHOTO_S3_ACL"),
        ({"bucket": "photos", "addressing_style": "auto"}, "PHOTO_S3_ADDRESSING_STYLE"),
    ],
)
def test_settings_that_would_lose_or_expose_photos_are_refused_at_start(options, refused):
    with pytest.raises(ImproperlyConfigured, match=refused):
        photo_storage.s3_photo_storage(**options)
