"""Helpers for the command-desk tests: cases made through the workflow service, at the tier
a test needs, and photos with real (tiny) JPEG files in private storage."""

from __future__ import annotations

import io
import itertools

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from PIL import Image

from apps.cases import services, tracking
from apps.cases.models import Case, CasePhoto, PhotoKind
from tests.factories import PASSWORD


def report(
    org,
    *,
    grid="east-v1-g1",
    reporter="gw",
    category="rubbish",
    description="路边堆放垃圾",
    **kwargs,
) -> Case:
    """A routed report in ``grid``; each call lands at a slightly different point. The points
    are counted per test organisation, not per process: with one counter for the whole run, two
    reports of a test landed a row apart (~670 m) or side by side (~130 m) depending on how many
    reports earlier tests had made, and "nearby cases" failed now and then."""
    lat, lng = org.point_in(org.grids[grid])
    offsets = org.__dict__.setdefault("_report_offsets", itertools.count())
    step = next(offsets) % 30
    lat += (step % 6 - 3) * 0.0012
    lng += (step // 6 - 2) * 0.0012
    case, created = services.case_report(
        reporter=org.users[reporter],
        category=org.categories[category],
        description=description,
        lat=lat,
        lng=lng,
        accuracy_m=8,
        **kwargs,
    )
    assert created
    services.case_route(case_id=case.pk)
    case.refresh_from_db()
    return case


def at_town(org, town: str = "east", **kwargs) -> Case:
    """A case waiting for dispatch at a town desk (accepted by the village, escalated)."""
    suffix = "" if town == "east" else "_w"
    grid = "east-v1-g1" if town == "east" else "west-v1-g1"
    reporter = "gw" if town == "east" else "gw_w"
    case = report(org, grid=grid, reporter=reporter, **kwargs)
    services.case_accept(case=case, actor=org.users[f"vh{suffix}"])
    services.case_escalate(case=case, actor=org.users[f"vh{suffix}"], reason="村里处理不了")
    case.refresh_from_db()
    return case


def at_county(org, **kwargs) -> Case:
    case = at_town(org, **kwargs)
    services.case_escalate(case=case, actor=org.users["td"], reason="需要区级部门")
    case.refresh_from_db()
    return case


def jpeg_bytes(colour=(200, 60, 40), size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def add_photo(case: Case, kind: str = PhotoKind.REPORT) -> CasePhoto:
    data = jpeg_bytes()
    photo = CasePhoto(case=case, kind=kind, sha256="0" * 64, width=64, height=48)
    photo.original.save("p.jpg", ContentFile(data), save=False)
    photo.web.save("p.jpg", ContentFile(data), save=False)
    photo.thumb.save("p.jpg", ContentFile(data), save=False)
    photo.save()
    return photo


def num(case: Case) -> str:
    """A case's tracking number as the desk prints it (7K3M-Q9XD-2HTB-P)."""
    return tracking.display(case.tracking_number)


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def desk(org):
    """Logged-in clients by user key: ``desk['td'].get(...)``."""

    class Clients(dict):
        def __missing__(self, key):
            self[key] = login(org.users[key])
            return self[key]

    return Clients()
