"""One intake for every channel (issue #16, item 3): the field app's API, 随手拍 and Open311 each
build a ``ReportIntake`` and hand it to ``services.report_intake``. The same report through any
of them makes the same case and the same history row — only where it came from (and who, when
somebody signed in) differs — and costs one message, the routing task, which also makes the
report photos' copies."""

from __future__ import annotations

import uuid

import pytest
from django.db import models

from apps.cases import services
from apps.cases import tasks as case_tasks
from apps.cases.models import Action, Case, CaseEvent, CasePhoto, Source
from apps.notify import tasks as notify_tasks  # registers fan_out_event, as a worker would
from apps.public import services as public_services
from tests.api.conftest import upload

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "13912345678"
DESCRIPTION = "桥下堆了很多建筑垃圾"
# What is the channel's own, or the moment's: left out of the comparison.
VARYING = {
    "id",
    "tracking_number",
    "public_token",
    "client_uuid",
    "source",
    "reporter",
    "accuracy_m",  # Open311 sends none
    "pending_work",  # "photos" while the citizen's and the field's photos wait for the worker
}


@pytest.fixture
def intakes(monkeypatch):
    """Every ReportIntake handed to the one service, in order."""
    seen: list[services.ReportIntake] = []
    real = services.report_intake

    def spy(intake):
        seen.append(intake)
        return real(intake)

    monkeypatch.setattr(services, "report_intake", spy)
    return seen


def _point(org) -> tuple[float, float]:
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    return round(lat, 6), round(lng, 6)


def _through_the_field_app(org, client_for) -> Case:
    lat, lng = _point(org)
    response = client_for(org.users["gw"]).post(
        "/api/reports/",
        {
            "id": str(uuid.uuid4()),
            "category": org.categories["rubbish"].pk,
            "description": DESCRIPTION,
            "severity": 3,
            "lat": lat,
            "lng": lng,
            "accuracy_m": 12,
            "position_source": "gps",
            "reporter_phone": PHONE,
            "photos": [upload()],
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return Case.objects.get(pk=response.json()["id"])


def _through_the_citizen_form(org, client) -> Case:
    lat, lng = _point(org)
    response = client.post(
        "/track/report/",
        {
            "category": str(org.categories["rubbish"].pk),
            "description": DESCRIPTION,
            "lat": str(lat),
            "lng": str(lng),
            "accuracy": "12",
            "position_source": "gps",
            "phone": PHONE,
            "photo": upload(),
        },
    )
    assert response.status_code == 303, response.content
    return Case.objects.get(source=Source.CITIZEN)


def _through_open311(org, client) -> Case:
    lat, lng = _point(org)
    _key, raw = public_services.open311_key_issue(name="测试 311 应用")
    response = client.post(
        "/open311/v2/requests.json",
        {
            "api_key": raw,
            "service_code": org.categories["rubbish"].code,
            "lat": str(lat),
            "long": str(lng),
            "description": DESCRIPTION,
            "phone": PHONE,
        },
    )
    assert response.status_code == 201, response.content
    return Case.objects.get(source=Source.OPEN311)


def _fields(case: Case) -> dict:
    return {
        f.name: getattr(case, f.attname)
        for f in Case._meta.concrete_fields
        if f.name not in VARYING and not isinstance(f, models.DateTimeField)
    }


def _report_event(case: Case) -> dict:
    event = CaseEvent.objects.get(case=case)
    assert event.action == Action.REPORT
    assert event.notified_at is not None  # tells nobody: the routing event does
    return {
        "action": event.action,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "from_tier": event.from_tier,
        "to_tier": event.to_tier,
        "public_note": event.public_note,
        "data": {k: v for k, v in event.data.items() if k != "source"},
    }


def test_every_channel_goes_through_the_one_intake_and_makes_the_same_case(
    org_tx, client_for, client, settings, intakes, sent
):
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"
    field = _through_the_field_app(org_tx, client_for)
    citizen = _through_the_citizen_form(org_tx, client)
    open311 = _through_open311(org_tx, client)

    assert [intake.source for intake in intakes] == [
        Source.GRID_WORKER,
        Source.CITIZEN,
        Source.OPEN311,
    ]
    assert [len(intake.photos) for intake in intakes] == [1, 1, 0]
    assert _fields(field) == _fields(citizen) == _fields(open311)
    assert (field.source, citizen.source, open311.source) == (
        Source.GRID_WORKER,
        Source.CITIZEN,
        Source.OPEN311,
    )
    assert field.reporter == org_tx.users["gw"]
    assert citizen.reporter is None and open311.reporter is None
    assert _report_event(field) == _report_event(citizen) == _report_event(open311)
    assert [e.data["source"] for e in CaseEvent.objects.order_by("pk")] == [
        Source.GRID_WORKER,
        Source.CITIZEN,
        Source.OPEN311,
    ]
    # One message per report, photos or not: the routing task.
    assert sent == [
        ("apps.cases.tasks.route_case", (case.pk,)) for case in (field, citizen, open311)
    ]


def test_the_routing_task_makes_the_report_photos_copies(org_tx, client_for, sent):
    case = _through_the_field_app(org_tx, client_for)
    assert case.pending_work == ["route", "photos"]
    assert sent == [("apps.cases.tasks.route_case", (case.pk,))]

    assert notify_tasks.fan_out_event.name in case_tasks.route_case.app.tasks
    case_tasks.route_case.run(case.pk)

    assert len(sent) == 1  # routed, told and the copies made in the one task
    photo = CasePhoto.objects.get(case=case)
    assert photo.processed_at is not None and photo.web and photo.thumb
    case.refresh_from_db()
    assert case.pending_work == [] and case.pending_since is None
    assert CaseEvent.objects.get(case=case, action=Action.ROUTE).notified_at is not None
