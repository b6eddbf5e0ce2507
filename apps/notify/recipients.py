"""Who must act on or know about a case event, and what they are told (in Chinese).

One table, read like DOMAIN.md §4: a dispatch tells the lead and assisting units, a return or an
escalation tells the desk of the tier, a handled case asks the grid's workers to verify, a
closure tells the grid worker who reported it. Every candidate is then filtered through
``cases_visible_to`` — nobody is ever told about a case they may not open.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.cases.models import DESK_ROLE_FOR_TIER, Action, Case, CaseEvent, Status
from apps.cases.selectors import case_visibility_q
from apps.cases.tracking import display
from apps.notify.models import Kind
from apps.org.models import REGION_FIELD_OF_TIER, Role

User = get_user_model()


@dataclass(frozen=True)
class Audience:
    """One message for a set of candidate recipients (before the visibility filter)."""

    kind: str
    title: str
    body: str
    users: QuerySet


@dataclass(frozen=True)
class Planned:
    user: object
    kind: str
    title: str
    body: str


def _people() -> QuerySet:
    # profile + region are what scope_of reads; loading them here saves a query per person.
    return User.objects.filter(is_active=True).select_related("profile__region")


def unit_members(unit_ids: Iterable[int | None]) -> QuerySet:
    ids = {pk for pk in unit_ids if pk}
    return _people().filter(profile__unit_id__in=ids) if ids else User.objects.none()


def desk_of(case: Case, tier: str) -> QuerySet:
    """The dispatchers (or village handlers) of ``tier`` for this case: its desk at that tier."""
    role = DESK_ROLE_FOR_TIER.get(tier)
    field = REGION_FIELD_OF_TIER.get(tier)
    if not role or not field:
        return User.objects.none()
    return _people().filter(profile__role=role, profile__region_id=getattr(case, field))


def grid_verifiers(case: Case) -> QuerySet:
    """The grid workers and grid leader of the case's grid (who verify on site)."""
    return _people().filter(
        profile__role__in=[Role.GRID_WORKER, Role.GRID_LEADER], profile__grids=case.grid_id
    )


def reporter_of(case: Case) -> QuerySet:
    return _people().filter(pk=case.reporter_id) if case.reporter_id else User.objects.none()


def _where(case: Case) -> str:
    return case.address or case.grid.name


def _summary(case: Case) -> str:
    description = case.description if len(case.description) <= 60 else case.description[:59] + "…"
    return f"{display(case.tracking_number)}｜{_where(case)}：{description}"


def _deadline(case: Case) -> str:
    if not case.overall_deadline:
        return ""
    return "，办结时限 " + timezone.localtime(case.overall_deadline).strftime("%m-%d %H:%M")


def _note(event: CaseEvent) -> str:
    return f"（{event.note[:80]}）" if event.note.strip() else ""


def audiences(event: CaseEvent) -> list[Audience]:
    """The messages an event produces. The event's own columns (``to_tier``, ``unit``) say where
    the case was *at that moment*; the task may run later, after the case has moved on."""
    case = event.case
    category = case.category.name
    tier = event.to_tier or case.tier
    summary = _summary(case)
    action = event.action

    if action == Action.ROUTE:
        # A major case is routed straight into a joint response; that event tells the county.
        if case.joint_response or event.to_status != Status.REPORTED:
            return []
        return [
            Audience(Kind.NEW_REPORT, f"新上报待受理：{category}", summary, desk_of(case, tier))
        ]
    if action in (Action.DISPATCH, Action.JOINT_RESPONSE):
        units = [event.unit_id, *event.data.get("assisting", [])]
        if action == Action.DISPATCH:
            return [
                Audience(
                    Kind.DISPATCH,
                    f"新派遣：{category}",
                    summary + _deadline(case),
                    unit_members(units),
                )
            ]
        title = f"闪电集结：{category}（{case.get_severity_display()}）"
        return [
            Audience(Kind.JOINT_RESPONSE, title, summary + "。请立即出动。", unit_members(units)),
            Audience(Kind.JOINT_RESPONSE, title, summary, desk_of(case, tier)),
        ]
    if action == Action.ESCALATE:
        return [
            Audience(
                Kind.ESCALATION,
                f"上报至本级：{category}",
                summary + _note(event),
                desk_of(case, tier),
            )
        ]
    if action == Action.RETURN:
        unit = event.unit.name if event.unit_id else "处置单位"
        return [
            Audience(
                Kind.RETURN,
                f"退单：{unit}退回 {display(case.tracking_number)}",
                summary + _note(event),
                desk_of(case, tier),
            )
        ]
    if action == Action.EXTENSION_REQUEST:
        hours = event.data.get("hours")
        title = (
            f"延期申请：{event.unit.name if event.unit_id else '处置单位'}申请延期 {hours:g} 小时"
            if hours
            else "延期申请"
        )
        return [
            Audience(Kind.EXTENSION_REQUEST, title, summary + _note(event), desk_of(case, tier))
        ]
    if action in (Action.EXTENSION_APPROVE, Action.EXTENSION_DENY):
        title = "延期申请已批准" if action == Action.EXTENSION_APPROVE else "延期申请被驳回"
        return [
            Audience(
                Kind.EXTENSION_DECISION,
                f"{title}：{display(case.tracking_number)}",
                summary + _note(event),
                unit_members([event.unit_id]),
            )
        ]
    if action in (Action.HANDLE, Action.SELF_RESOLVE):
        users = grid_verifiers(case)
        if action == Action.SELF_RESOLVE:
            users = users.exclude(pk=case.reporter_id)  # nobody verifies their own fix on the spot
        return [
            Audience(
                Kind.VERIFY_REQUEST, f"待核查：{category}", summary + "。请到现场核查。", users
            )
        ]
    if action == Action.VERIFY_PASS:
        return [
            Audience(
                Kind.READY_TO_CLOSE, f"核查通过待结案：{category}", summary, desk_of(case, tier)
            )
        ]
    if action == Action.VERIFY_FAIL:
        users = unit_members([event.unit_id]) if event.unit_id else desk_of(case, tier)
        return [
            Audience(Kind.REWORK, f"核查未通过，请返工：{category}", summary + _note(event), users)
        ]
    if action == Action.REOPEN:
        return [
            Audience(
                Kind.REOPEN,
                f"事件重新打开：{category}",
                summary + _note(event),
                desk_of(case, tier),
            )
        ]
    if action == Action.URGE:
        # Sweep urges may be bulk-created without a unit: the case's lead unit at fan-out time.
        unit_id = event.unit_id or case.lead_unit_id
        users = unit_members([unit_id]) if unit_id else desk_of(case, tier)
        return [
            Audience(
                Kind.URGE, f"督办：{category}", summary + (_note(event) or "。请尽快处置。"), users
            )
        ]
    if action == Action.CLOSE:
        return [Audience(Kind.CLOSED, "您上报的事件已结案", summary, reporter_of(case))]
    if action == Action.REJECT:
        return [
            Audience(
                Kind.REJECTED,
                "您上报的事件不予立案",
                f"{summary}（{event.public_note}）",
                reporter_of(case),
            )
        ]
    if action == Action.MERGE:
        return [Audience(Kind.MERGED, "您上报的事件已合并办理", summary, reporter_of(case))]
    return []


def who_may_see(users: list, case: Case) -> set[int]:
    """Ids of the ``users`` who may see ``case``, by the product's one visibility rule
    (``case_visibility_q``, the filter behind ``cases_visible_to``), in a single query: one
    EXISTS per distinct filter — the members of a unit or a desk share theirs."""
    visible: set[int] = set()
    by_rule: dict[Q, list[int]] = {}
    for user in users:
        rule = case_visibility_q(user)
        if rule is None:
            continue
        if not rule:  # an empty filter: sees every case
            visible.add(user.pk)
            continue
        by_rule.setdefault(rule, []).append(user.pk)
    rules = list(by_rule)
    if rules:
        checks = {
            f"r{i}": Exists(Case.objects.filter(rule, pk=OuterRef("pk")))
            for i, rule in enumerate(rules)
        }
        row = Case.objects.filter(pk=case.pk).annotate(**checks).values(*checks).first() or {}
        for i, rule in enumerate(rules):
            if row.get(f"r{i}"):
                visible.update(by_rule[rule])
    return visible


def plan(event: CaseEvent) -> list[Planned]:
    """Every (person, message) for an event: no actor, nobody twice, nobody who may not see it."""
    candidates: list[Planned] = []
    seen: set[int] = {event.actor_id} if event.actor_id else set()
    for audience in audiences(event):
        for user in audience.users:
            if user.pk not in seen:
                seen.add(user.pk)
                candidates.append(
                    Planned(user, audience.kind, audience.title[:120], audience.body[:300])
                )
    visible = who_may_see([c.user for c in candidates], event.case)
    return [c for c in candidates if c.user.pk in visible]


def units_touched(event: CaseEvent) -> set[int]:
    """Units whose task lists change with this event (the unit named, lead and assisting)."""
    ids = {event.unit_id, event.case.lead_unit_id, *event.data.get("assisting", [])}
    return {pk for pk in ids if isinstance(pk, int)}
