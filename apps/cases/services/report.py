"""上报: a report becomes a case, exactly once per client UUID."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases.models import (
    Action,
    Case,
    Category,
    PositionSource,
    Severity,
    Source,
    Status,
)
from apps.cases.services.base import (
    DuplicateSubmission,
    NotPermitted,
    WorkflowError,
    _record,
    clock_fields,
)
from apps.cases.tracking import new_tracking_number
from apps.core import follow_up
from apps.org import geo
from apps.org.models import Region, Tier


def _content_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def case_report(
    *,
    reporter,
    category: Category,
    description: str,
    lat: float,
    lng: float,
    position_source: str = PositionSource.DEVICE_GPS,
    accuracy_m: float | None = None,
    position_time: dt.datetime | None = None,
    severity: int = Severity.ORDINARY,
    address: str = "",
    reporter_phone: str = "",
    source: str = Source.GRID_WORKER,
    client_uuid: uuid.UUID | None = None,
    self_resolved: bool = False,
    result_text: str = "",
    restrict_to_grids: Iterable[int] | None = None,
) -> tuple[Case, bool]:
    """上报: a new case from the field, a citizen or Open311. Returns ``(case, created)``.

    The same ``client_uuid`` with the same content returns the first case (``created`` False);
    with different content it is refused (DuplicateSubmission). The case starts at the
    workstation of the village whose grid contains the point, so it has an owner from its first
    moment; routing, duplicate detection and major-event handling follow in ``case_route``.
    """
    if category.parent_id is None or not category.is_active:
        raise WorkflowError(_("请选择一个启用的小类。"), field="category")
    if (
        not (isinstance(lat, (int, float)) and isinstance(lng, (int, float)))
        or math.isnan(lat)
        or math.isnan(lng)
    ):
        raise WorkflowError(_("位置无效。"), field="lat")
    content = _content_hash(
        {
            "category": category.pk,
            "description": description,
            "lat": round(lat, 6),
            "lng": round(lng, 6),
            "severity": int(severity),
            "self_resolved": bool(self_resolved),
        }
    )
    # No lookup of client_uuid up front: a first submission (nearly every one) needs none, and
    # a retry is caught by the unique constraint below and answered as the replay it is.
    match = geo.locate(lat, lng)
    refusal = None
    if match is None:
        refusal = WorkflowError(
            _("该位置不在本辖区任何网格内（也不在附近 %(m)d 米内），请核对定位或移动地图上的点。")
            % {"m": int(settings.GRID_SNAP_DISTANCE_M)},
            field="lat",
        )
    elif restrict_to_grids is not None and match.grid_id not in set(restrict_to_grids):
        refusal = NotPermitted(
            _("该位置不在您负责的网格内。请确认定位是否准确，或请这个网格的网格员上报。"),
            field="lat",
        )
    if refusal is not None:
        # A retry of a report taken earlier is still a replay, even if the grids changed since.
        existing = (
            Case.objects.filter(client_uuid=client_uuid).first()
            if client_uuid is not None
            else None
        )
        if existing is not None:
            return _replay(existing, content, reporter)
        raise refusal
    place = geo.place_of(match.grid_id)
    if (
        place is None or place.town_id is None or place.county_id is None
    ):  # not a village under a town
        village = Region.objects.select_related("parent__parent").get(pk=match.village_id)
        town_id, county_id = village.parent_id, village.parent.parent_id
    else:
        town_id, county_id = place.town_id, place.county_id
    now = timezone.now()
    flagged = accuracy_m is not None and accuracy_m > settings.POSITION_ACCURACY_FLAG_M
    case = Case(
        tracking_number=new_tracking_number(),
        client_uuid=client_uuid,
        content_hash=content,
        source=source,
        reporter=reporter if getattr(reporter, "is_authenticated", False) else None,
        reporter_phone=reporter_phone,
        category=category,
        severity=severity,
        description=description,
        address=address,
        lat=lat,
        lng=lng,
        accuracy_m=accuracy_m,
        position_source=position_source,
        position_time=position_time,
        position_flagged=flagged,
        grid_id=match.grid_id,
        village_id=match.village_id,
        town_id=town_id,
        county_id=county_id,
        tier=Tier.VILLAGE,
        holder_id=match.village_id,
        self_resolved=self_resolved,
        result_text=result_text,
        pending_work=["route"],
        pending_since=now,
    )
    status = Status.HANDLED if self_resolved else Status.REPORTED
    case.status = status
    if self_resolved:
        case.handled_at = now
    for key, value in clock_fields(case, status=status, now=now).items():
        setattr(case, key, value)
    try:
        with transaction.atomic():
            case.save()
            # One message for the report: the routing task, which also fans out the report's own
            # event (the assignment is what the report is waiting for; its notification
            # follows a moment later). If the message is lost, the outbox has both.
            follow_up.send_on_commit("apps.cases.tasks.route_case", case.pk)
            _record(
                case,
                action=Action.SELF_RESOLVE if self_resolved else Action.REPORT,
                actor=case.reporter,
                from_status="",
                from_tier="",
                note=result_text,
                notify=False,
                tells_nobody=not self_resolved,
                public_note=_("问题已上报") if not self_resolved else _("网格员已当场处置，待核查"),
                data={"source": source, "snapped_m": round(match.distance_m, 1)}
                if match.distance_m
                else {"source": source},
            )
    except IntegrityError:
        # client_uuid taken: this is a retry of a report already stored (or two retries raced
        # and the other one won). Same content → the replay; different content → 409.
        if client_uuid is not None:
            existing = Case.objects.filter(client_uuid=client_uuid).first()
            if existing is not None:
                return _replay(existing, content, reporter)
        raise
    # The map index's name of the grid, for the answer to the phone: nothing after the commit
    # may need the database or the cache (a failure there would answer an error for a report
    # already stored).
    case.intake_grid_name = place.name if place is not None else None
    return case, True


def _replay(existing: Case, content: str, reporter) -> tuple[Case, bool]:
    if existing.content_hash != content or (
        existing.reporter_id and getattr(reporter, "pk", None) not in (None, existing.reporter_id)
    ):
        raise DuplicateSubmission(_("这个上报编号已用于另一条内容不同的上报；请新建一条上报。"))
    return existing, False
