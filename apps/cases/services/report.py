"""上报: a report becomes a case, exactly once per client UUID.

``report_intake`` is the one way in for every channel — the field app's API, 随手拍 (citizens),
Open311 and the hotline desk: each builds a ``ReportIntake`` from its own request format and
renders the answer in its own words; the rules live here. ``case_report`` is its core (the
case and its history row); the workflow's own tests call it directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases.models import (
    Action,
    Case,
    CaseEvent,
    Category,
    PhotoKind,
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
from apps.places.models import Place
from apps.places.selectors import LIVE_STATUSES, places_visible_to

if TYPE_CHECKING:
    from apps.cases.photos import InspectedPhoto
    from apps.org.scope import AnyUser


def _content_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def case_report(
    *,
    reporter: AnyUser | None,
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
    place_id: int | None = None,
) -> tuple[Case, bool]:
    """上报: a new case from the field, a citizen or Open311. Returns ``(case, created)``.

    The same ``client_uuid`` with the same content returns the first case (``created`` False);
    with different content it is refused (DuplicateSubmission). The case starts at the
    workstation of the village whose grid contains the point, so it has an owner from its first
    moment; routing, duplicate detection and major-event handling follow in ``case_route``.
    """
    if category is None or category.parent_id is None or not category.is_active:
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
    assert match is not None  # no match was refused above
    if place_id is not None:
        _check_place(place_id, reporter)
    place = geo.place_of(match.grid_id)
    if (
        place is None or place.town_id is None or place.county_id is None
    ):  # not a village under a town
        village = Region.objects.select_related("parent__parent").get(pk=match.village_id)
        # A village always sits under a town under a county (``Region.clean`` checks the tiers).
        town = cast(Region, village.parent)
        town_id, county_id = cast(int, village.parent_id), cast(int, town.parent_id)
    else:
        town_id, county_id = place.town_id, place.county_id
    now = timezone.now()
    flagged = accuracy_m is not None and accuracy_m > settings.POSITION_ACCURACY_FLAG_M
    case = Case(
        tracking_number=new_tracking_number(),
        client_uuid=client_uuid,
        content_hash=content,
        source=source,
        reporter=reporter if isinstance(reporter, User) else None,  # not AnonymousUser
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
        place_id=place_id,
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
            event = _record(
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
    # (Attributes of this one answer, not model fields: the intake service reads them.)
    case.intake_grid_name = place.name if place is not None else None  # type: ignore[attr-defined]
    case.intake_event = event  # type: ignore[attr-defined]  # the step the photos document
    return case, True


def _check_place(place_id: int, reporter: AnyUser | None) -> None:
    """附近场所: a report may name a place its reporter may see (``places_visible_to``) that is
    on the register or waiting for confirmation; any other id is refused as unknown."""
    if (
        reporter is None
        or not places_visible_to(
            reporter, Place.objects.filter(pk=place_id, status__in=LIVE_STATUSES)
        ).exists()
    ):
        raise WorkflowError(
            _("找不到这个场所，或它不在您的网格内；请从“附近场所”中重新选择，或不选场所。"),
            field="place",
        )


def _replay(existing: Case, content: str, reporter: AnyUser | None) -> tuple[Case, bool]:
    if existing.content_hash != content or (
        existing.reporter_id and getattr(reporter, "pk", None) not in (None, existing.reporter_id)
    ):
        raise DuplicateSubmission(_("这个上报编号已用于另一条内容不同的上报；请新建一条上报。"))
    return existing, False


# --- the one intake ---------------------------------------------------------------------------


class PositionMissing(WorkflowError):
    """No point given and no photo with a GPS fix: a channel may say it in its own words."""


@dataclass(frozen=True)
class ReportIntake:
    """One report as a channel hands it in, already parsed from the channel's request format
    (JSON or multipart, a web form, Open311 parameters, a call taker's form).

    ``lat``/``lng`` None: the first photo with an EXIF GPS fix gives the point
    (``position_source`` exif). ``photos`` are uploads the channel has checked with
    ``apps.cases.photos.photo_inspect`` (a bad one refuses the report before anything is
    written); ``photo_ids``/``photo_kinds`` run parallel to them (defaults: the photo's
    fingerprint; a report photo, or "before" for a fix on the spot)."""

    source: str
    category: Category | None
    description: str
    lat: float | None
    lng: float | None
    reporter: Any = None  # the signed-in user, None for a citizen or a client
    position_source: str = PositionSource.DEVICE_GPS
    accuracy_m: float | None = None
    position_time: dt.datetime | None = None
    severity: int = Severity.ORDINARY
    address: str = ""
    reporter_phone: str = ""
    client_uuid: uuid.UUID | None = None
    self_resolved: bool = False
    result_text: str = ""
    restrict_to_grids: Iterable[int] | None = None  # a grid worker reports in their own grids
    place_id: int | None = None  # 附近场所: a place the reporter may see
    photos: Sequence[InspectedPhoto] = ()
    photo_ids: Sequence[str] = ()
    photo_kinds: Sequence[str] = ()


def report_photo_kinds(self_resolved: bool) -> set[str]:
    """The photo kinds a report may carry: before/after for a fix on the spot, else report."""
    return {PhotoKind.BEFORE, PhotoKind.AFTER} if self_resolved else {PhotoKind.REPORT}


def report_intake(intake: ReportIntake) -> tuple[Case, bool]:
    """上报 through any channel. Returns ``(case, created)``; ``created`` False is the replay of
    an earlier submission with the same client UUID (the first case, unchanged).

    Validation and placement (grid, village, town from the point: ``apps.org.geo``),
    idempotency on the client UUID (different content → ``DuplicateSubmission``), the photos
    (rows and files) in the same transaction as the case — all or nothing — and the follow-up:
    one message per report, the routing task, which takes the photos' copies along; the
    report's own history row tells nobody (see ``case_report``). Everything that can fail
    happens before the commit: a new case without photos can be answered from the returned
    object alone (``case.intake_grid_name``), with no read after the commit."""
    from apps.cases import photos as pipeline  # the photo pipeline imports this package

    photos = list(intake.photos)
    position = {
        "lat": intake.lat,
        "lng": intake.lng,
        "accuracy_m": intake.accuracy_m,
        "position_source": intake.position_source,
        "position_time": intake.position_time,
    }
    if intake.lat is None or intake.lng is None:
        fix = next((p.gps for p in photos if p.gps), None)
        if fix is None:
            raise PositionMissing(
                _("缺少位置：请打开定位、在地图上选点，或附上带 GPS 信息的照片。"), field="lat"
            )
        position = {
            "lat": fix.lat,
            "lng": fix.lng,
            "accuracy_m": None,
            "position_source": PositionSource.EXIF,
            "position_time": fix.time,
        }
    default_kind = PhotoKind.BEFORE if intake.self_resolved else PhotoKind.REPORT
    kinds = list(intake.photo_kinds) or [default_kind] * len(photos)
    if any(kind not in report_photo_kinds(intake.self_resolved) for kind in kinds):
        raise WorkflowError(
            _("当场处置的照片类型为处置前/处置后；普通上报的照片类型为上报照片。"),
            field="photo_kinds",
        )
    ids = list(intake.photo_ids) or [p.sha256[:32] for p in photos]
    report = {
        "reporter": intake.reporter,
        "category": intake.category,
        "description": intake.description,
        "severity": intake.severity,
        "address": intake.address,
        "reporter_phone": intake.reporter_phone,
        "source": intake.source,
        "client_uuid": intake.client_uuid,
        "self_resolved": intake.self_resolved,
        "result_text": intake.result_text,
        "restrict_to_grids": intake.restrict_to_grids,
        "place_id": intake.place_id,
        **position,
    }
    if not photos:
        return case_report(**report)  # commits before the caller answers
    # The case and its photos (rows and files) commit together or not at all.
    with pipeline.photo_transaction():
        case, created = case_report(**report)
        event = getattr(case, "intake_event", None) if created else _report_event(case)
        uploaded_by = (
            intake.reporter if getattr(intake.reporter, "is_authenticated", False) else None
        )
        for photo, client_id, kind in zip(photos, ids, kinds, strict=True):
            pipeline.case_photo_add(
                case=case,
                photo=photo,
                client_id=client_id,
                kind=kind,
                uploaded_by=uploaded_by,
                event=event,
                # A new case's routing task makes the copies: no message of their own.
                with_report=created,
            )
    return case, created


def _report_event(case: Case) -> CaseEvent | None:
    return (
        case.events.filter(action__in=[Action.REPORT, Action.SELF_RESOLVE]).order_by("pk").first()
    )
