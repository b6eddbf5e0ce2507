"""分流: the routing task's step — where a new case goes and whether it repeats another."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from apps.cases import reference
from apps.cases.models import (
    FINAL_STATUSES,
    Action,
    Case,
    CaseEvent,
    Status,
)
from apps.cases.services.base import (
    MAJOR_SEVERITIES,
    PENDING_WORK_TASKS,
    _change,
    routing_target,
)
from apps.cases.services.desk import case_joint_response
from apps.core import follow_up
from apps.org import geo
from apps.org.models import Tier


def probable_duplicate(case: Case) -> Case | None:
    """An open case of the same category within R metres and T hours, if any (its id, point
    and tracking number only)."""
    radius = settings.DUPLICATE_RADIUS_M
    dlat = radius / 111_320.0
    dlng = radius / (111_320.0 * max(math.cos(math.radians(case.lat)), 0.01))
    since = case.created_at - dt.timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    candidates = (
        Case.objects.filter(
            category_id=case.category_id,
            lat__range=(case.lat - dlat, case.lat + dlat),
            lng__range=(case.lng - dlng, case.lng + dlng),
            created_at__gte=since,
            created_at__lte=case.created_at,
        )
        .exclude(pk=case.pk)
        .exclude(status__in=FINAL_STATUSES)
        .order_by("created_at")
        .values_list("pk", "lat", "lng", "tracking_number")
    )
    # Tuples, not instances: in a busy spot every report has dozens of neighbours to look at.
    for pk, lat, lng, tracking_number in candidates[:50]:
        if geo.haversine_m(case.lat, case.lng, lat, lng) <= radius:
            return Case(pk=pk, lat=lat, lng=lng, tracking_number=tracking_number)
    return None


def case_route(*, case_id: int) -> Case | None:
    """分流: the routing task's step for a new report. Idempotent: does nothing once done.

    Flags a probable duplicate for the acceptor, suggests the unit from the routing table, and
    sends a major (Ⅰ/Ⅱ) case straight to the county centre as a joint response.
    """
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(pk=case_id).first()
        if case is None or "route" not in case.pending_work:
            return case
        # The category with its parent, from memory (a join would lock the category row too).
        case.category = reference.category_by_id(case.category_id) or case.category
        # A fix on the spot asks the grid's other workers to verify it; its event came without
        # a message of its own (see case_report). A plain report's event tells nobody.
        if case.self_resolved:
            for event_id in CaseEvent.objects.filter(
                case_id=case_id, action=Action.SELF_RESOLVE, notified_at__isnull=True
            ).values_list("pk", flat=True):
                follow_up.send_on_commit(settings.CASE_EVENT_TASK, event_id)
        remaining = [w for w in case.pending_work if w != "route"]
        duplicate = probable_duplicate(case) if case.status == Status.REPORTED else None
        fields: dict[str, Any] = {
            "pending_work": remaining,
            "pending_since": case.pending_since if remaining else None,
            "probable_duplicate_of_id": duplicate.pk if duplicate else None,
        }
        if case.severity in MAJOR_SEVERITIES and case.status == Status.REPORTED:
            _change(
                case,
                actor=None,
                action=Action.ROUTE,
                fields=fields,
                note=_("重大/较大事件，直报区县指挥中心"),
            )
            case = case_joint_response(case=case, actor=None)
            _photos_along(case)
            return case
        village_unit = routing_target(case, Tier.VILLAGE)
        suggested = village_unit if case.tier == Tier.VILLAGE else routing_target(case, case.tier)
        fields["suggested_unit_id"] = getattr(suggested, "pk", None)
        _change(
            case,
            actor=None,
            action=Action.ROUTE,
            fields=fields,
            unit=village_unit,
            public_note=_("已分流至村/社区工作站"),
            data={"probable_duplicate_of": duplicate.tracking_number} if duplicate else {},
        )
        _photos_along(case)
        return case


def _photos_along(case: Case) -> None:
    """Photos that came with the report had no message of their own (see ``report_intake``):
    the routing task makes their copies too, after the notifications (registered last, so
    they run last in ``follow_up.run_here``). One message per report."""
    if "photos" in (case.pending_work or []):
        follow_up.send_on_commit(PENDING_WORK_TASKS["photos"], case.pk)
