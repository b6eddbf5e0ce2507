from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests import photo_files, photo_storage
from tests.factories import PASSWORD


@pytest.fixture(autouse=True)
def empty_photo_storage():
    """Each test starts with empty photo storage, so it can count the files it leaves."""
    photo_storage.empty_storage()
    yield


@pytest.fixture
def client_for():
    """``client_for(user)``: an API client logged in (session) as that user."""

    def make(user) -> APIClient:
        client = APIClient()
        assert client.login(username=user.username, password=PASSWORD)
        return client

    return make


def report_payload(org, grid_key: str = "east-v1-g1", **overrides) -> dict:
    lat, lng = org.point_in(org.grids[grid_key])
    payload = {
        "id": str(uuid.uuid4()),
        "category": org.categories["rubbish"].pk,
        "description": "路边堆放垃圾，影响通行",
        "severity": 3,
        "lat": lat,
        "lng": lng,
        "accuracy_m": 8,
        "position_source": "gps",
        "address": "东镇1村 幸福路 12 号",
    }
    payload.update(overrides)
    return payload


def upload(name: str = "photo.jpg", data: bytes | None = None, content_type: str = "image/jpeg"):
    return SimpleUploadedFile(
        name, photo_files.jpeg() if data is None else data, content_type=content_type
    )


def stored_files() -> list[str]:
    """Every file in photo storage (originals and copies) and in public media."""
    return photo_storage.stored_files()
