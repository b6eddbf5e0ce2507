"""Shared steps for the notification tests: build a case through the workflow service, fan its
events out the way the Celery task does, and ask who was told."""

from __future__ import annotations

from apps.cases.models import CaseEvent
from apps.notify import services
from apps.notify.models import Notification
from tests.cases.helpers import at_town_desk, report  # noqa: F401 - steps the notify tests share


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
