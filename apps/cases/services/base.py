"""Errors, the history record and the one conditional UPDATE every step goes through."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases import clock, reference, rules, steps
from apps.cases.models import (
    FINAL_STATUSES,
    Case,
    CaseEvent,
    Colour,
    ExtensionRequest,
    ExtensionStatus,
    RoutingRule,
    Severity,
    Status,
    Step,
)
from apps.core import follow_up
from apps.core.errors import Refusal
from apps.org.models import Tier, Unit
from apps.org.scope import profile_of


class WorkflowError(Refusal):
    """A step that cannot be taken; ``message`` is meant for the person who tried."""


class NotPermitted(WorkflowError):
    status_code = 403


class IllegalTransition(WorkflowError):
    status_code = 409


class ConcurrentChange(WorkflowError):
    status_code = 409


class DuplicateSubmission(WorkflowError):
    """The same client UUID arrived with different content."""

    status_code = 409


STEP_FOR_STATUS: dict[str, Step] = {
    Status.REPORTED: Step.ACCEPT,
    Status.ACCEPTED: Step.DISPATCH,
    Status.DISPATCHED: Step.SIGN,
    Status.SIGNED: Step.HANDLE,
    Status.HANDLED: Step.VERIFY,
    Status.VERIFIED: Step.CLOSE,
}
MAJOR_SEVERITIES = {Severity.MAJOR, Severity.SERIOUS}
# What each ``Case.pending_work`` entry (the case's outbox) means: the task that does it, with
# the case id. The outbox sweep re-sends these when their message was lost.
PENDING_WORK_TASKS = {
    "route": "apps.cases.tasks.route_case",
    "photos": "apps.cases.tasks.process_case_photos",
}


# --- internals ---------------------------------------------------------------------------


def _actor_label(actor: User | None) -> str:
    if actor is None:
        return _("系统")
    profile = profile_of(actor)
    if profile is None:
        return actor.get_username()
    where = (
        profile.unit.name
        if profile.unit is not None
        else (profile.region.name if profile.region is not None else "")
    )
    return f"{where} {profile.get_role_display()}".strip()


def _require(case: Case, actor: User | None, action: str) -> None:
    if actor is None:
        return  # the system (sweep, routing task) acts under its own rules
    if action not in rules.allowed_actions(case, actor):
        if case.status in FINAL_STATUSES and action not in ("reopen",):
            raise IllegalTransition(
                _(
                    "这个事件的状态是“%(status)s”，不能再%(action)s。如问题仍未解决，请联系指挥中心重新打开事件，或新建一条上报。"
                )
                % {"status": case.get_status_display(), "action": steps.word(action)}
            )
        raise NotPermitted(
            _(
                "您不能对这个事件执行“%(action)s”（当前状态：%(status)s）。请刷新查看您可以执行的操作；如确需办理，请联系持有这个事件的指挥中心。"
            )
            % {"action": steps.word(action), "status": case.get_status_display()}
        )


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
    actor: User | None,
    from_status: str,
    from_tier: str,
    note: str = "",
    public_note: str = "",
    unit: Unit | None = None,
    data: dict[str, Any] | None = None,
    notify: bool = True,
    tells_nobody: bool = False,
    actor_label: str | None = None,
) -> CaseEvent:
    """Append to the case's history. ``notify`` False: the caller has the fan-out sent some
    other way (a self-resolved report's event goes out with its routing); either way the event
    waits in the outbox (``notified_at`` empty) until it is fanned out. ``tells_nobody``: an
    event with no one to tell (a plain report: its reporter is the actor, and the routing event
    that follows tells the desk) is born out of the outbox, with no fan-out at all.
    ``actor_label``: who acted, when it is nobody with an account (a citizen's rating)."""
    event = CaseEvent.objects.create(
        case=case,
        action=action,
        actor=actor,
        actor_label=_actor_label(actor) if actor_label is None else actor_label,
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
        follow_up.send_on_commit(settings.CASE_EVENT_TASK, event.pk, in_memory={"event": event})
    return event


def _change(
    case: Case,
    *,
    actor: User | None,
    action: str,
    fields: dict[str, Any],
    note: str = "",
    public_note: str = "",
    unit: Unit | None = None,
    data: dict[str, Any] | None = None,
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


def case_outbox_add(*, case_id: int, work: str) -> None:
    """Put ``work`` (a ``PENDING_WORK_TASKS`` key) into the case's outbox, in the caller's
    transaction, so the outbox sweep re-sends it if its message is lost. Not a step: no
    version, no history row (the work follows a change already recorded)."""
    with transaction.atomic():
        case = (
            Case.objects.select_for_update()
            .only("pk", "pending_work", "pending_since")
            .get(pk=case_id)
        )
        pending = list(case.pending_work or [])
        if work in pending:
            return
        pending.append(work)
        Case.objects.filter(pk=case_id).update(
            pending_work=pending, pending_since=case.pending_since or timezone.now()
        )


def case_outbox_done(*, case_id: int, work: str, unless: Callable[[], bool] | None = None) -> bool:
    """Take ``work`` off the case's outbox, unless ``unless()`` (asked under the case's lock)
    says there is more of it to do. True if it was taken off."""
    with transaction.atomic():
        case = (
            Case.objects.select_for_update()
            .only("pk", "pending_work", "pending_since")
            .filter(pk=case_id)
            .first()
        )
        if case is None or work not in (case.pending_work or []):
            return False
        if unless is not None and unless():
            return False
        remaining = [w for w in case.pending_work if w != work]
        Case.objects.filter(pk=case_id).update(
            pending_work=remaining, pending_since=case.pending_since if remaining else None
        )
        return True


def _locked(case: Case) -> Case:
    """Re-read the case inside the transaction (row lock on PostgreSQL) so checks see the
    current state; the version check in ``_change`` settles races on SQLite too."""
    return Case.objects.select_for_update(of=("self",)).select_related("category").get(pk=case.pk)


def routing_target(case: Case, tier: str) -> Unit | None:
    """The unit the routing table names for this case at ``tier`` (a suggestion for the desk)."""
    if tier == Tier.VILLAGE:
        # Every new case asks for its village's workstation: from the per-process copy.
        return reference.workstations([case.village_id])[case.village_id]
    rule = (
        RoutingRule.objects.filter(category_id=case.category_id, tier=tier)
        .select_related("department")
        .first()
    )
    # A top-level category has no parent to fall back on (no rule has an empty category).
    if rule is None and case.category.parent_id is not None:
        rule = (
            RoutingRule.objects.filter(category_id=case.category.parent_id, tier=tier)
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
