"""The workflow service: every state change of a case, in the words of DOMAIN.md §4.

Each public function validates who may act (``rules.allowed_actions``), changes the case with
one conditional UPDATE (``WHERE id = ? AND version = ?`` — the loser of a race gets
``ConcurrentChange``, on SQLite and PostgreSQL alike), appends one history event, and queues
follow-up work (notifications, routing) for after the commit. All of it inside one transaction:
a step either happens completely or not at all.

    case_report            上报          case_accept      受理/立案     case_reject    不予立案
    case_merge             合并          case_dispatch    派遣          case_sign      签收
    case_return            退单          extension_request / extension_decide  延期
    case_escalate          上报上级      case_joint_response  闪电集结
    case_handle            处置反馈      case_verify      核查/返工     case_close     结案
    case_reopen            重新打开      case_urge        督办          case_defer / case_resume 挂账
    case_route             分流 (the routing task's step)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases import clock, reference, rules
from apps.cases.models import (
    FINAL_STATUSES,
    Action,
    Case,
    CaseEvent,
    Category,
    Colour,
    ExtensionRequest,
    ExtensionStatus,
    PositionSource,
    RejectReason,
    RoutingRule,
    Severity,
    Source,
    Status,
    Step,
)
from apps.cases.tracking import new_tracking_number
from apps.core import follow_up
from apps.org import geo
from apps.org.models import TIER_ABOVE, Region, Tier, Unit, UnitKind
from apps.org.scope import profile_of

log = logging.getLogger(__name__)


class WorkflowError(Exception):
    """A step that cannot be taken; ``message`` is meant for the person who tried."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotPermitted(WorkflowError):
    status_code = 403


class IllegalTransition(WorkflowError):
    status_code = 409


class ConcurrentChange(WorkflowError):
    status_code = 409


class DuplicateSubmission(WorkflowError):
    """The same client UUID arrived with different content."""

    status_code = 409


STEP_FOR_STATUS = {
    Status.REPORTED: Step.ACCEPT,
    Status.ACCEPTED: Step.DISPATCH,
    Status.DISPATCHED: Step.SIGN,
    Status.SIGNED: Step.HANDLE,
    Status.HANDLED: Step.VERIFY,
    Status.VERIFIED: Step.CLOSE,
}
DESK_REGION_FIELD = {Tier.VILLAGE: "village_id", Tier.TOWN: "town_id", Tier.COUNTY: "county_id"}
MAJOR_SEVERITIES = {Severity.MAJOR, Severity.SERIOUS}


# --- internals ---------------------------------------------------------------------------


def _actor_label(actor) -> str:
    if actor is None:
        return _("系统")
    profile = profile_of(actor)
    if profile is None:
        return actor.get_username()
    where = (
        profile.unit.name if profile.unit_id else (profile.region.name if profile.region_id else "")
    )
    return f"{where} {profile.get_role_display()}".strip()


def _require(case: Case, actor, action: str) -> None:
    if actor is None:
        return  # the system (sweep, routing task) acts under its own rules
    if action not in rules.allowed_actions(case, actor):
        if case.status in FINAL_STATUSES and action not in ("reopen",):
            raise IllegalTransition(
                _(
                    "这个事件的状态是“%(status)s”，不能再%(action)s。如问题仍未解决，请联系指挥中心重新打开事件，或新建一条上报。"
                )
                % {"status": case.get_status_display(), "action": _ACTION_WORDS.get(action, action)}
            )
        raise NotPermitted(
            _(
                "您不能对这个事件执行“%(action)s”（当前状态：%(status)s）。请刷新查看您可以执行的操作；如确需办理，请联系持有这个事件的指挥中心。"
            )
            % {"action": _ACTION_WORDS.get(action, action), "status": case.get_status_display()}
        )


_ACTION_WORDS = {
    "accept": "受理",
    "reject": "不予立案",
    "merge": "合并",
    "dispatch": "派遣",
    "redispatch": "改派",
    "sign": "签收",
    "return": "退单",
    "extension_request": "申请延期",
    "extension_decide": "审批延期",
    "escalate": "上报上级",
    "handle": "处置反馈",
    "verify": "核查",
    "close": "结案",
    "reopen": "重新打开",
    "urge": "督办",
    "defer": "挂账",
    "resume": "恢复办理",
    "joint_response": "组织联合处置",
}


def clock_fields(
    case: Case, *, status: str, now: dt.datetime, extra_hours: float = 0.0
) -> dict[str, Any]:
    """Clock and colour for a case entering ``status`` at ``now`` (a fresh step clock)."""
    if status in FINAL_STATUSES:
        return {
            "step": Step.CLOSE,
            "step_started_at": now,
            "step_deadline": None,
            "yellow_at": None,
            "escalate_at": None,
            "sweep_due_at": None,
            "colour": Colour.GREEN,
        }
    if status == Status.DEFERRED:
        return {
            "step_deadline": None,
            "yellow_at": None,
            "escalate_at": None,
            "sweep_due_at": None,
            "colour": Colour.GREY,
        }
    step = STEP_FOR_STATUS[status]
    hours = clock.limit_hours(case, step) + extra_hours
    basis = clock.time_basis(case)
    deadline = clock.add_limit(now, hours, basis)
    # 80 % of the limit in the limit's own time: a working-hours case reported on Friday evening
    # turns yellow on Monday morning, not on Sunday night.
    yellow_at = clock.add_limit(now, hours * clock.YELLOW_FRACTION, basis)
    escalate_at = clock.add_limit(deadline, hours * clock.ESCALATE_AFTER_FRACTION, basis)
    return {
        "step": step,
        "step_started_at": now,
        "step_deadline": deadline,
        "yellow_at": yellow_at,
        "escalate_at": escalate_at,
        "sweep_due_at": yellow_at,
        "colour": Colour.BLUE,
    }


def _record(
    case: Case,
    *,
    action: str,
    actor,
    from_status: str,
    from_tier: str,
    note: str = "",
    public_note: str = "",
    unit: Unit | None = None,
    data: dict | None = None,
    notify: bool = True,
    tells_nobody: bool = False,
) -> CaseEvent:
    """Append to the case's history. ``notify`` False: the caller has the fan-out sent some
    other way (a self-resolved report's event goes out with its routing); either way the event
    waits in the outbox (``notified_at`` empty) until it is fanned out. ``tells_nobody``: an
    event with no one to tell (a plain report: its reporter is the actor, and the routing event
    that follows tells the desk) is born out of the outbox, with no fan-out at all."""
    event = CaseEvent.objects.create(
        case=case,
        action=action,
        actor=actor,
        actor_label=_actor_label(actor),
        from_status=from_status,
        to_status=case.status,
        from_tier=from_tier,
        to_tier=case.tier,
        unit=unit,
        note=note,
        public_note=public_note,
        data=data or {},
        notified_at=timezone.now() if tells_nobody else None,
    )
    if notify:
        follow_up.send_on_commit(
            "apps.notify.tasks.fan_out_event", event.pk, in_memory={"event": event}
        )
    return event


def _change(
    case: Case,
    *,
    actor,
    action: str,
    fields: dict[str, Any],
    note: str = "",
    public_note: str = "",
    unit: Unit | None = None,
    data: dict | None = None,
    now: dt.datetime | None = None,
) -> CaseEvent:
    """Apply ``fields`` to the case if nobody changed it since it was read, and record it."""
    now = now or timezone.now()
    from_status, from_tier = case.status, case.tier
    restart = fields.pop("_restart_clock", False)
    if restart or ("status" in fields and fields["status"] != case.status):
        probe = Case(**{f.attname: getattr(case, f.attname) for f in Case._meta.concrete_fields})
        for key, value in fields.items():
            setattr(probe, key, value)
        probe.category = case.category
        fields = {
            **clock_fields(
                probe,
                status=fields.get("status", case.status),
                now=now,
                extra_hours=fields.pop("_extra_hours", 0.0),
            ),
            **fields,
        }
    fields.pop("_extra_hours", None)
    fields["updated_at"] = now
    changed = Case.objects.filter(pk=case.pk, version=case.version).update(
        version=F("version") + 1, **fields
    )
    if not changed:
        raise ConcurrentChange(_("这个事件刚刚被别人处理过，请刷新后再试。"))
    for key, value in fields.items():
        setattr(case, key, value)
    case.version += 1
    if from_status == Status.SIGNED and case.status != Status.SIGNED:
        # A request for more time only makes sense while the unit is handling: once the case is
        # handled, returned, escalated or parked, an undecided request is closed by the system
        # (otherwise it would block the next unit's request and linger on the desk forever).
        ExtensionRequest.objects.filter(case_id=case.pk, status=ExtensionStatus.PENDING).update(
            status=ExtensionStatus.DENIED, decided_at=now
        )
    return _record(
        case,
        action=action,
        actor=actor,
        from_status=from_status,
        from_tier=from_tier,
        note=note,
        public_note=public_note,
        unit=unit,
        data=data,
    )


def _locked(case: Case) -> Case:
    """Re-read the case inside the transaction (row lock on PostgreSQL) so checks see the
    current state; the version check in ``_change`` settles races on SQLite too."""
    return Case.objects.select_for_update(of=("self",)).select_related("category").get(pk=case.pk)


# --- report ------------------------------------------------------------------------------


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


# --- routing (the Celery task calls this) -------------------------------------------------


def routing_target(case: Case, tier: str) -> Unit | None:
    """The unit the routing table names for this case at ``tier`` (a suggestion for the desk)."""
    if tier == Tier.VILLAGE:
        return Unit.objects.filter(
            region_id=case.village_id, kind=UnitKind.WORKSTATION, is_active=True
        ).first()
    rule = (
        RoutingRule.objects.filter(category_id=case.category_id, tier=tier)
        .select_related("department")
        .first()
        or RoutingRule.objects.filter(category_id=case.category.parent_id, tier=tier)
        .select_related("department")
        .first()
    )
    if rule is None:
        return None
    if tier == Tier.COUNTY:
        return rule.department
    if rule.department_id:
        stationed = Unit.objects.filter(
            region_id=case.town_id, department_id=rule.department_id, is_active=True
        ).first()
        if stationed:
            return stationed
    if rule.platform_code:
        return (
            Unit.objects.filter(
                region_id=case.town_id, platform__code=rule.platform_code, is_active=True
            )
            .order_by("pk")
            .first()
        )
    return None


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
                follow_up.send_on_commit("apps.notify.tasks.fan_out_event", event_id)
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
            return case_joint_response(case=case, actor=None)
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
        return case


# --- desk steps ---------------------------------------------------------------------------


def case_accept(*, case: Case, actor, note: str = "") -> Case:
    """受理/立案."""
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "accept")
        _change(
            case,
            actor=actor,
            action=Action.ACCEPT,
            note=note,
            public_note=_("已立案"),
            fields={"status": Status.ACCEPTED, "accepted_at": timezone.now()},
        )
    return case


def case_reject(*, case: Case, actor, reason: str, note: str = "") -> Case:
    """不予立案, with a reason: invalid, duplicate (use ``case_merge``) or not public business."""
    if reason not in RejectReason.values:
        raise WorkflowError(_("请选择不予立案的原因。"), field="reason")
    if not note.strip():
        raise WorkflowError(_("请写明不予立案的说明。"), field="note")
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "reject")
        _change(
            case,
            actor=actor,
            action=Action.REJECT,
            note=note,
            public_note=_("不予立案：%(r)s") % {"r": RejectReason(reason).label},
            fields={
                "status": Status.REJECTED,
                "reject_reason": reason,
                "closed_at": timezone.now(),
                "lead_unit_id": None,
            },
        )
    return case


def case_merge(*, case: Case, into: Case, actor, note: str = "") -> Case:
    """合并: a duplicate report joins an open case and shares its outcome (reporters are told)."""
    if into.pk == case.pk:
        raise WorkflowError(_("不能合并到自身。"), field="into")
    with transaction.atomic():
        # Lock both rows in id order so two merges in opposite directions cannot deadlock.
        if case.pk < into.pk:
            case, into = _locked(case), _locked(into)
        else:
            into, case = _locked(into), _locked(case)
        _require(case, actor, "merge")
        if into.status in FINAL_STATUSES:
            raise IllegalTransition(
                _("目标事件已办结，不能合并进去；请选择一个在办的事件。"), field="into"
            )
        if into.merged_into_id:
            raise IllegalTransition(
                _("目标事件本身已被合并；请合并到它所并入的那个事件。"), field="into"
            )
        if actor is not None and not rules.is_desk_of(into, actor) and into.town_id != case.town_id:
            raise NotPermitted(_("只能合并到本辖区的事件，请重新选择。"), field="into")
        _change(
            case,
            actor=actor,
            action=Action.MERGE,
            note=note,
            public_note=_("与同一问题的另一上报合并办理"),
            fields={
                "status": Status.MERGED,
                "merged_into_id": into.pk,
                "reject_reason": RejectReason.DUPLICATE,
                "closed_at": timezone.now(),
                "lead_unit_id": None,
            },
            data={"into": into.tracking_number},
        )
        _record(
            into,
            action=Action.NOTE,
            actor=actor,
            from_status=into.status,
            from_tier=into.tier,
            public_note=_("合并了一条重复上报"),
            data={"merged": case.tracking_number},
        )
    return case


def _check_unit_for_tier(case: Case, unit: Unit) -> None:
    if not unit.is_active:
        raise WorkflowError(_("单位“%(u)s”已停用。") % {"u": unit.name}, field="lead_unit")
    region = unit.region
    if case.tier == Tier.VILLAGE and region.pk != case.village_id:
        raise NotPermitted(_("村级只能派给本村工作站，请重新选择处置单位。"), field="lead_unit")
    if case.tier == Tier.TOWN and region.pk not in (case.town_id,):
        raise NotPermitted(
            _("乡镇只能派给本乡镇的站所和派驻机构，请重新选择处置单位。"), field="lead_unit"
        )
    if case.tier == Tier.COUNTY and region.pk not in (case.county_id, case.town_id):
        raise NotPermitted(
            _("区县只能派给区县部门或事发乡镇的单位，请重新选择处置单位。"), field="lead_unit"
        )


def case_dispatch(
    *,
    case: Case,
    actor,
    lead_unit: Unit,
    assisting_units: Iterable[Unit] = (),
    deadline_hours: float | None = None,
    note: str = "",
) -> Case:
    """派遣: to a lead unit (and assisting units) with a deadline for signing and handling."""
    assisting = [u for u in assisting_units if u.pk != lead_unit.pk]
    if deadline_hours is not None and not (0 < deadline_hours <= 24 * 365):
        raise WorkflowError(_("办理时限必须在 0 到 8760 小时之间。"), field="deadline_hours")
    with transaction.atomic():
        case = _locked(case)
        action = "redispatch" if case.status == Status.DISPATCHED else "dispatch"
        _require(case, actor, action)
        for unit in [lead_unit, *assisting]:
            _check_unit_for_tier(case, unit)
        now = timezone.now()
        fields: dict[str, Any] = {
            "status": Status.DISPATCHED,
            "lead_unit_id": lead_unit.pk,
            "dispatched_at": now,
            "_restart_clock": True,
        }
        if deadline_hours is not None:
            fields["overall_deadline"] = clock.add_limit(
                now, deadline_hours, clock.time_basis(case)
            )
        elif case.overall_deadline is None:
            fields["overall_deadline"] = clock.add_limit(
                now, clock.limit_hours(case, Step.OVERALL), clock.time_basis(case)
            )
        _change(
            case,
            actor=actor,
            action=Action.DISPATCH,
            note=note,
            unit=lead_unit,
            public_note=_("已派遣至%(kind)s") % {"kind": lead_unit.get_kind_display()},
            fields=fields,
            data={"assisting": [u.pk for u in assisting], "deadline_hours": deadline_hours},
        )
        case.assisting_units.set(assisting)
    return case


def case_sign(*, case: Case, actor) -> Case:
    """签收 by the lead unit. Signing late is recorded (and stays counted in evaluation)."""
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "sign")
        now = timezone.now()
        late = bool(case.step_deadline and now > case.step_deadline)
        _change(
            case,
            actor=actor,
            action=Action.SIGN,
            unit=case.lead_unit,
            public_note=_("处置单位已签收"),
            fields={
                "status": Status.SIGNED,
                "signed_at": now,
                "sign_overdue": late or case.sign_overdue,
            },
            data={"late": late},
        )
    return case


def case_return(*, case: Case, actor, reason: str) -> Case:
    """退单: "not ours" — back to the desk that dispatched it. A case returned too often is
    escalated instead of bouncing (RETURNS_BEFORE_ESCALATION)."""
    if not reason.strip():
        raise WorkflowError(_("退单必须写明理由。"), field="reason")
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "return")
        unit = case.lead_unit
        _change(
            case,
            actor=actor,
            action=Action.RETURN,
            note=reason,
            unit=unit,
            public_note=_("处置单位退回，重新派遣中"),
            fields={
                "status": Status.ACCEPTED,
                "lead_unit_id": None,
                "return_count": case.return_count + 1,
            },
        )
        case.assisting_units.clear()
        # Count the returns at this tier only: a case escalated for bouncing must get its fair
        # number of dispatches at the next tier instead of shooting straight up again.
        returns_here = case.events.filter(action=Action.RETURN, from_tier=case.tier).count()
        if returns_here >= settings.RETURNS_BEFORE_ESCALATION and TIER_ABOVE.get(case.tier):
            _escalate(
                case,
                actor=None,
                reason=_("多次退单（%(n)d 次），自动上报上级") % {"n": returns_here},
                trigger="returns",
            )
    return case


def extension_request(*, case: Case, actor, hours: float, reason: str) -> ExtensionRequest:
    """延期申请 by the lead unit."""
    if not (0 < hours <= 24 * 90):
        raise WorkflowError(_("延期时长必须在 0 到 2160 小时之间。"), field="hours")
    if not reason.strip():
        raise WorkflowError(_("请写明延期理由。"), field="reason")
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "extension_request")
        request = ExtensionRequest.objects.create(
            case=case, unit=case.lead_unit, requested_by=actor, hours=hours, reason=reason
        )
        _change(
            case,
            actor=actor,
            action=Action.EXTENSION_REQUEST,
            note=reason,
            unit=case.lead_unit,
            fields={"extension_count": case.extension_count + 1},
            data={"request": request.pk, "hours": hours},
        )
    return request


def extension_decide(
    *, request: ExtensionRequest, actor, approve: bool, note: str = ""
) -> ExtensionRequest:
    """延期审批 by the desk: approval moves the current step's deadline by the hours asked."""
    with transaction.atomic():
        case = _locked(request.case)
        _require(case, actor, "extension_decide")
        now = timezone.now()
        updated = ExtensionRequest.objects.filter(
            pk=request.pk, status=ExtensionStatus.PENDING
        ).update(
            status=ExtensionStatus.APPROVED if approve else ExtensionStatus.DENIED,
            decided_by=actor,
            decided_at=now,
        )
        if not updated:
            raise ConcurrentChange(_("这个延期申请已经审批过了，请刷新查看审批结果。"))
        request.refresh_from_db()
        fields: dict[str, Any] = {}
        if approve:
            basis = clock.time_basis(case)
            deadline = clock.add_limit(case.step_deadline or now, request.hours, basis)
            remaining = clock.hours_between(now, deadline, basis)
            fields = {
                "step_deadline": deadline,
                "yellow_at": clock.add_limit(now, remaining * clock.YELLOW_FRACTION, basis),
                "escalate_at": clock.add_limit(
                    deadline, request.hours * clock.ESCALATE_AFTER_FRACTION, basis
                ),
                "colour": Colour.BLUE,
            }
            fields["sweep_due_at"] = fields["yellow_at"]
            if case.overall_deadline:
                fields["overall_deadline"] = clock.add_limit(
                    case.overall_deadline, request.hours, basis
                )
        _change(
            case,
            actor=actor,
            action=Action.EXTENSION_APPROVE if approve else Action.EXTENSION_DENY,
            note=note,
            unit=request.unit,
            fields=fields,
            data={"request": request.pk, "hours": request.hours},
            public_note=_("延期申请已批准") if approve else "",
        )
    return request


def _escalate(case: Case, *, actor, reason: str, trigger: str) -> Case:
    above = TIER_ABOVE.get(case.tier)
    if above is None:
        raise IllegalTransition(
            _("事件已在区县层级，没有更高的层级可以上报；请由区县指挥中心派遣处置。")
        )
    holder_id = case.town_id if above == Tier.TOWN else case.county_id
    _change(
        case,
        actor=actor,
        action=Action.ESCALATE,
        note=reason,
        public_note=_("已上报%(tier)s") % {"tier": Tier(above).label},
        fields={
            "status": Status.ACCEPTED,
            "tier": above,
            "holder_id": holder_id,
            "lead_unit_id": None,
            "escalation_count": case.escalation_count + 1,
            "_restart_clock": True,
            "accepted_at": case.accepted_at or timezone.now(),
        },
        data={"trigger": trigger},
    )
    case.assisting_units.clear()
    suggested = routing_target(case, above)
    Case.objects.filter(pk=case.pk).update(suggested_unit=suggested)
    case.suggested_unit = suggested
    return case


def case_escalate(*, case: Case, actor, reason: str, trigger: str = "capacity") -> Case:
    """上报/流转 to the next tier: "beyond our capacity" (with a reason) by the holder."""
    if actor is not None and not reason.strip():
        raise WorkflowError(_("上报上级必须写明理由。"), field="reason")
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "escalate")
        return _escalate(case, actor=actor, reason=reason, trigger=trigger)


def case_escalate_overdue(*, case_id: int, now: dt.datetime | None = None) -> Case | None:
    """The sweep's escalation of a case that made no progress past its deadline. Idempotent:
    acts only while the case still sits in the same overdue step."""
    now = now or timezone.now()
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("category")
            .filter(pk=case_id)
            .first()
        )
        if case is None or case.status in FINAL_STATUSES or case.status == Status.DEFERRED:
            return case
        if case.escalate_at is None or case.escalate_at > now:
            return case
        if case.status in (Status.HANDLED, Status.VERIFIED) or TIER_ABOVE.get(case.tier) is None:
            # Handled and verified cases wait for on-site verification or closure: escalating
            # would throw the unit's finished work away, so the late verifier or desk is urged.
            # Nothing sits above the county either. Urge once more, then stop escalating this step.
            note = (
                _("区县层级超时未办，再次督办")
                if TIER_ABOVE.get(case.tier) is None
                else _("核查/结案超时，系统督办")
            )
            _change(
                case,
                actor=None,
                action=Action.URGE,
                note=note,
                unit=case.lead_unit,
                fields={
                    "urge_count": case.urge_count + 1,
                    "escalate_at": None,
                    "sweep_due_at": None,
                    "colour": Colour.RED,
                },
                data={"auto": True, "trigger": "overdue"},
                now=now,
            )
            return case
        return _escalate(
            case, actor=None, reason=_("超时未处置，系统自动上报上级"), trigger="overdue"
        )


def case_joint_response(*, case: Case, actor) -> Case:
    """闪电集结: a major case goes straight to the county centre, which dispatches a lead
    department and assisting units at once; all of them are alerted by the notifications.

    The routing task calls it (``actor`` None) for a new Ⅰ/Ⅱ report; a county dispatcher may
    also call it for an open case of the county that turns out to be major."""
    with transaction.atomic():
        case = _locked(case)
        if actor is None:
            if case.status in FINAL_STATUSES or case.status == Status.DEFERRED:
                raise IllegalTransition(
                    _("这个事件的状态是“%(status)s”，不能再组织联合处置。")
                    % {"status": case.get_status_display()}
                )
        else:
            _require(case, actor, "joint_response")
        now = timezone.now()
        county_rule = (
            RoutingRule.objects.filter(
                category_id__in=[case.category_id, case.category.parent_id], tier=Tier.COUNTY
            )
            .select_related("department")
            .prefetch_related("assisting_departments")
            .order_by("-category__parent_id")
            .first()
        )
        lead = county_rule.department if county_rule else None
        assisting: list[Unit] = []
        if county_rule:
            departments = [lead, *county_rule.assisting_departments.all()]
            assisting = list(county_rule.assisting_departments.all()) + list(
                Unit.objects.filter(
                    region_id=case.town_id, department__in=departments, is_active=True
                )
            )
        from_status, from_tier = case.status, case.tier
        fields: dict[str, Any] = {
            "tier": Tier.COUNTY,
            "holder_id": case.county_id,
            "joint_response": True,
            "escalation_count": case.escalation_count + (from_tier != Tier.COUNTY),
            "accepted_at": case.accepted_at or now,
            "_restart_clock": True,
        }
        if lead is not None:
            fields.update(
                status=Status.DISPATCHED,
                lead_unit_id=lead.pk,
                dispatched_at=now,
                overall_deadline=clock.add_limit(
                    now, clock.limit_hours(case, Step.OVERALL), clock.time_basis(case)
                ),
            )
        else:
            # No county rule for the category: the county desk picks the units by hand.
            fields.update(status=Status.ACCEPTED, lead_unit_id=None)
        _change(
            case,
            actor=actor,
            action=Action.JOINT_RESPONSE,
            unit=lead,
            note=_("重大/较大事件：区县指挥中心闪电集结，牵头单位与协办单位同时派遣"),
            public_note=_("区县指挥中心已组织联合处置"),
            fields=fields,
            data={
                "assisting": [u.pk for u in assisting],
                "from_status": from_status,
                "from_tier": from_tier,
            },
            now=now,
        )
        case.assisting_units.set(assisting)
    return case


# --- handling and closure -----------------------------------------------------------------


def case_handle(*, case: Case, actor, result_text: str) -> Case:
    """处置反馈: the lead unit reports what it did (after photos are attached to this event)."""
    if not result_text.strip():
        raise WorkflowError(_("请填写处置结果。"), field="result_text")
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "handle")
        _change(
            case,
            actor=actor,
            action=Action.HANDLE,
            note=result_text,
            unit=case.lead_unit,
            public_note=_("处置单位已反馈处置结果，待现场核查"),
            fields={
                "status": Status.HANDLED,
                "handled_at": timezone.now(),
                "result_text": result_text,
            },
        )
    return case


def case_verify(*, case: Case, actor, passed: bool, note: str = "") -> Case:
    """核查 on site by a grid worker of the case's grid: pass → ready to close; fail → 返工."""
    if not passed and not note.strip():
        raise WorkflowError(_("核查不通过时请写明原因。"), field="note")
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "verify")
        if passed:
            _change(
                case,
                actor=actor,
                action=Action.VERIFY_PASS,
                note=note,
                public_note=_("现场核查通过"),
                fields={"status": Status.VERIFIED},
            )
        elif case.self_resolved and case.lead_unit_id is None:
            # A fix on the spot that did not hold goes to the village desk as a normal case.
            _change(
                case,
                actor=actor,
                action=Action.VERIFY_FAIL,
                note=note,
                public_note=_("核查未通过，重新办理"),
                fields={
                    "status": Status.ACCEPTED,
                    "rework_count": case.rework_count + 1,
                    "self_resolved": False,
                    "accepted_at": case.accepted_at or timezone.now(),
                },
            )
        else:
            _change(
                case,
                actor=actor,
                action=Action.VERIFY_FAIL,
                note=note,
                unit=case.lead_unit,
                public_note=_("核查未通过，已要求返工"),
                fields={"status": Status.SIGNED, "rework_count": case.rework_count + 1},
            )
    return case


def case_close(*, case: Case, actor, note: str = "") -> Case:
    """结案/归档 by the desk, after a passed verification."""
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "close")
        _change(
            case,
            actor=actor,
            action=Action.CLOSE,
            note=note,
            public_note=_("已结案"),
            fields={"status": Status.CLOSED, "closed_at": timezone.now()},
        )
        for other in _merged_into(case):
            # Merged reports share the outcome; their reporters are told through this event.
            _record(
                other,
                action=Action.CLOSE,
                actor=actor,
                from_status=other.status,
                from_tier=other.tier,
                public_note=_("合并办理的事件已结案"),
                data={"via": case.tracking_number},
            )
    return case


def _merged_into(case: Case) -> list[Case]:
    """Every report merged into ``case``, directly or through a report that was itself merged
    later (A into B, then B into C: closing C tells A's reporter too)."""
    found: list[Case] = []
    frontier = [case.pk]
    seen = {case.pk}
    while frontier:
        batch = [
            c
            for c in Case.objects.filter(merged_into_id__in=frontier).order_by("pk")
            if c.pk not in seen
        ]
        seen.update(c.pk for c in batch)
        found.extend(batch)
        frontier = [c.pk for c in batch]
    return found


def case_reopen(*, case: Case, actor, reason: str) -> Case:
    """重新打开 a closed or rejected case: back to the desk of its tier for dispatch."""
    if not reason.strip():
        raise WorkflowError(_("重新打开必须写明理由。"), field="reason")
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "reopen")
        _change(
            case,
            actor=actor,
            action=Action.REOPEN,
            note=reason,
            public_note=_("事件已重新打开"),
            fields={
                "status": Status.ACCEPTED,
                "closed_at": None,
                "reject_reason": "",
                "lead_unit_id": None,
                "accepted_at": case.accepted_at or timezone.now(),
            },
        )
    return case


def case_urge(*, case: Case, actor, note: str = "") -> Case:
    """督办: a reminder to the unit and its supervisor. Does not change the state."""
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "urge")
        _change(
            case,
            actor=actor,
            action=Action.URGE,
            note=note,
            unit=case.lead_unit,
            fields={"urge_count": case.urge_count + 1},
        )
    return case


def case_defer(*, case: Case, actor, review_on: dt.date, reason: str) -> Case:
    """挂账/缓办 with approval (the desk decides) and a review date. A deferred case keeps its
    owner and stays in every list (grey); it is left out of the on-time figures."""
    if not reason.strip():
        raise WorkflowError(_("挂账必须写明理由（如需预算、季节、司法程序）。"), field="reason")
    if review_on <= timezone.localdate():
        raise WorkflowError(_("复查日期必须在今天之后。"), field="review_on")
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "defer")
        _change(
            case,
            actor=actor,
            action=Action.DEFER,
            note=reason,
            public_note=_("暂缓办理，将于 %(d)s 复查") % {"d": review_on},
            fields={
                "status": Status.DEFERRED,
                "deferred_review_on": review_on,
                "deferred_from": case.status,
                # The clock sweep finds the review date through the same index as deadlines.
                "sweep_due_at": dt.datetime.combine(review_on, dt.time(0, 0), clock.SHANGHAI),
            },
        )
    return case


def case_resume(*, case: Case, actor, note: str = "") -> Case:
    """恢复办理 of a deferred case (by the desk, or by the sweep on its review date)."""
    with transaction.atomic():
        case = _locked(case)
        if case.status != Status.DEFERRED:
            if actor is None:
                return case
            raise IllegalTransition(_("事件没有挂账，不需要恢复办理；请刷新查看当前状态。"))
        _require(case, actor, "resume")
        back_to = case.deferred_from or Status.ACCEPTED
        _change(
            case,
            actor=actor,
            action=Action.RESUME,
            note=note,
            public_note=_("恢复办理"),
            fields={
                "status": back_to,
                "deferred_review_on": None,
                "deferred_from": "",
                "_restart_clock": True,
            },
        )
    return case
