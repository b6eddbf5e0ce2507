"""The real Celery worker makes the copies of an uploaded photo and clears the outbox entry."""

from __future__ import annotations

import pytest

from apps.cases.models import Case, CasePhoto
from tests import photo_files
from tests.api.conftest import report_payload, upload
from tests.conftest import wait_for


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_processes_an_uploaded_photo(org_tx, client_for, celery_worker_process):
    client = client_for(org_tx.users["gw"])
    payload = report_payload(org_tx)
    assert client.post("/api/reports/", payload, format="json").status_code == 201
    response = client.post(
        f"/api/reports/{payload['id']}/photos/",
        {"id": "p1", "photo": upload(data=photo_files.jpeg(2400, 1800))},
        format="multipart",
    )
    assert response.status_code == 201
    photo = wait_for(
        lambda: CasePhoto.objects.filter(processed_at__isnull=False).first(), timeout=60
    )
    assert photo.web and photo.thumb and (photo.width, photo.height) == (1920, 1440)
    wait_for(lambda: "photos" not in Case.objects.get().pending_work, timeout=30)
