"""Shared steps for the notification tests: build a case through the workflow service, fan its
events out the way the Celery task does, and ask who was told."""

from __future__ import annotations

from apps.cases import services as workflow
from apps.cases.models import CaseEvent
from apps.notify import services
from apps.notify.models import Notification


def report(org, reporter="gw", grid="east-v1-g1", **kwargs):
    lat, lng = org.point_in(org.grids[grid])
    case, _ = workflow.case_report(
        reporter=org.users[reporter],
        category=org.categories["rubbish"],
        description="路边堆放垃圾",
        lat=lat,
        lng=lng,
        accuracy_m=8,
        **kwargs,
    )
    return case


def at_town_desk(org, **kwargs):
    """A routed, accepted case escalated from the village to the east town's desk."""
    case = report(org, **kwargs)
    workflow.case_route(case_id=case.pk)
    workflow.case_accept(case=case, actor=org.users["vh"])
    workflow.case_escalate(case=case, actor=org.users["vh"], reason="村里处理不了")
    return case


def fan_out(case) -> list[Notification]:
    """Run the fan-out for every event of the case not yet notified, oldest first."""
    made: list[Notification] = []
    for event_id in (
        CaseEvent.objects.filter(case=case, notified_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    ):
        made += services.event_fan_out(event_id=event_id)
    return made


def told(case, kind: str | None = None, action: str | None = None) -> set[str]:
    qs = Notification.objects.filter(case=case)
    if kind:
        qs = qs.filter(kind=kind)
    if action:
        qs = qs.filter(event__action=action)
    return set(qs.values_list("recipient__username", flat=True))
