"""Handling and closure: handle, verify, close, reopen, urge, defer, resume; the rating."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases import clock
from apps.cases.models import (
    Action,
    Case,
    CaseEvent,
    Status,
)
from apps.cases.services.base import (
    IllegalTransition,
    WorkflowError,
    _change,
    _locked,
    _record,
    _require,
)


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


def case_rated(*, case: Case, stars: int, comment: str, review: bool) -> CaseEvent:
    """回访评价 in the case's history: a citizen's rating of a closed case (``apps.public``
    keeps the rating itself and decides whether it opens a review). Not a state change — no
    version, same status and tier — but a history row like any other, fanned out on commit."""
    return _record(
        case,
        action=Action.RATE,
        actor=None,
        actor_label=_("市民"),
        from_status=case.status,
        from_tier=case.tier,
        public_note=_("市民已评价"),
        note=comment,
        data={"stars": stars, "review": review},
    )
