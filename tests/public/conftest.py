"""Helpers for the public pages' tests: cases at every stage, with and without personal data."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from apps.cases import services
from apps.cases.models import CasePhoto, PhotoKind, Source, Status

CITIZEN_PHONE = "13912345678"


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """Each test counts its own attempts (the counters live in the run's shared Redis)."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"


def jpeg_bytes(colour=(40, 120, 200), size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def citizen_case(
    org,
    *,
    grid_key="east-v1-g1",
    phone=CITIZEN_PHONE,
    description="路边堆放垃圾",
    address="",
    lat_offset=0.0,
    category="rubbish",
    source=Source.CITIZEN,
):
    lat, lng = org.point_in(org.grids[grid_key])
    case, _ = services.case_report(
        reporter=None,
        category=org.categories[category],
        description=description,
        lat=lat + lat_offset,
        lng=lng + lat_offset,
        reporter_phone=phone,
        source=source,
        address=address,
    )
    services.case_route(case_id=case.pk)
    case.refresh_from_db()
    return case


def close_through_town(org, case, *, notes: dict[str, str] | None = None, town: str = "east"):
    """The whole loop: village accepts (unless it has already) and escalates, the town
    dispatches to its stationed urban-management unit, which signs and handles; a grid worker
    verifies; the town closes. ``town`` is "east" or "west" (the outsiders, suffix ``_w``)."""
    notes = notes or {}
    u, w = org.users, "" if town == "east" else "_w"
    if case.status == Status.REPORTED:
        services.case_accept(case=case, actor=u[f"vh{w}"], note=notes.get("accept", ""))
    services.case_escalate(
        case=case, actor=u[f"vh{w}"], reason=notes.get("escalate", "村里处理不了")
    )
    services.case_dispatch(
        case=case,
        actor=u[f"td{w}"],
        lead_unit=org.units[f"{town}-cg"],
        note=notes.get("dispatch", ""),
    )
    services.case_sign(case=case, actor=u[f"dh{w}"])
    services.case_handle(case=case, actor=u[f"dh{w}"], result_text=notes.get("handle", "已清运"))
    verifier = u["gw2"] if town == "east" else u["gw_w"]
    services.case_verify(case=case, actor=verifier, passed=True, note=notes.get("verify", ""))
    services.case_close(case=case, actor=u[f"td{w}"], note=notes.get("close", ""))
    case.refresh_from_db()
    return case


def add_photo(case, *, kind=PhotoKind.AFTER, public=True, processed=True) -> CasePhoto:
    photo = CasePhoto(
        case=case, kind=kind, sha256=uuid.uuid4().hex, is_public=public, width=64, height=48
    )
    photo.original.save("original.jpg", ContentFile(jpeg_bytes((200, 0, 0))), save=False)
    if processed:
        photo.web.save("web.jpg", ContentFile(jpeg_bytes((0, 200, 0))), save=False)
        photo.thumb.save("thumb.jpg", ContentFile(jpeg_bytes((0, 0, 200), (32, 24))), save=False)
    photo.save()
    return photo


@pytest.fixture
def closed_case(org):
    return close_through_town(org, citizen_case(org))
