"""The desk's steps: accept, reject, merge, dispatch, sign, return, extend, escalate, joint response."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases import clock, rules
from apps.cases.models import (
    FINAL_STATUSES,
    Action,
    Case,
    Colour,
    ExtensionRequest,
    ExtensionStatus,
    RejectReason,
    RoutingRule,
    Status,
    Step,
)
from apps.cases.services.base import (
    ConcurrentChange,
    IllegalTransition,
    NotPermitted,
    WorkflowError,
    _change,
    _locked,
    _record,
    _require,
    routing_target,
)
from apps.org.models import TIER_ABOVE, Tier, Unit


def case_accept(*, case: Case, actor: User, note: str = "") -> Case:
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


def case_reject(*, case: Case, actor: User, reason: str, note: str = "") -> Case:
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


def case_merge(*, case: Case, into: Case, actor: User | None, note: str = "") -> Case:
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
    actor: User,
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


def case_sign(*, case: Case, actor: User) -> Case:
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


def case_return(*, case: Case, actor: User, reason: str) -> Case:
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


def extension_request(*, case: Case, actor: User, hours: float, reason: str) -> ExtensionRequest:
    """延期申请 by the lead unit."""
    if not (0 < hours <= 24 * 90):
        raise WorkflowError(_("延期时长必须在 0 到 2160 小时之间。"), field="hours")
    if not reason.strip():
        raise WorkflowError(_("请写明延期理由。"), field="reason")
    with transaction.atomic():
        case = _locked(case)
        _require(case, actor, "extension_request")
        request = ExtensionRequest.objects.create(
            case=case,
            # ``_require`` allows extension_request only while a lead unit holds the case.
            unit=case.lead_unit,  # type: ignore[misc]
            requested_by=actor,
            hours=hours,
            reason=reason,
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
    *, request: ExtensionRequest, actor: User, approve: bool, note: str = ""
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


def _escalate(case: Case, *, actor: User | None, reason: str, trigger: str) -> Case:
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


def case_escalate(
    *, case: Case, actor: User | None, reason: str, trigger: str = "capacity"
) -> Case:
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


def case_joint_response(*, case: Case, actor: User | None) -> Case:
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
