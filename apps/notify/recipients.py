"""Who must act on or know about a case event, and what they are told (in Chinese).

One table, read like DOMAIN.md §4: a dispatch tells the lead and assisting units, a return or an
escalation tells the desk of the tier, a handled case asks the grid's workers to verify, a
closure tells the grid worker who reported it. Every candidate is then filtered through
``cases_visible_to`` — nobody is ever told about a case they may not open.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.cases.models import DESK_ROLE_FOR_TIER, Action, Case, CaseEvent, Status
from apps.cases.selectors import case_visibility_q
from apps.cases.tracking import display
from apps.notify.models import Kind
from apps.org.models import REGION_FIELD_OF_TIER, Role


@dataclass(frozen=True)
class Audience:
    """One message for a set of candidate recipients (before the visibility filter)."""

    kind: str
    title: str
    body: str
    users: Iterable[User]  # a QuerySet of people, or a DeskPeople


@dataclass(frozen=True)
class Planned:
    user: User
    kind: str
    title: str
    body: str


def _people() -> QuerySet[User]:
    # profile + region are what scope_of reads; loading them here saves a query per person.
    return User.objects.filter(is_active=True).select_related("profile__region")


def unit_members(unit_ids: Iterable[int | None]) -> QuerySet[User]:
    ids = {pk for pk in unit_ids if pk}
    return _people().filter(profile__unit_id__in=ids) if ids else User.objects.none()


class DeskPeople:
    """The people of one desk (a role at a region), read when iterated. ``plan_many`` reads the
    desks of a whole batch of events in one query instead, by ``desk``: building a queryset for
    each event's desk cost more than the rest of its routing (issue #15, the backlog drain)."""

    def __init__(self, role: str, region_id: int | None) -> None:
        self.desk = (role, region_id)

    def __iter__(self) -> Iterator[User]:
        return iter(_desks_people({self.desk})[self.desk])


def desk_of(case: Case, tier: str) -> Iterable[User]:
    """The dispatchers (or village handlers) of ``tier`` for this case: its desk at that tier."""
    role = DESK_ROLE_FOR_TIER.get(tier)
    field = REGION_FIELD_OF_TIER.get(tier)
    if not role or not field:
        return []
    return DeskPeople(role, getattr(case, field))


def _desks_people(desks: set[tuple[str, int | None]]) -> dict[tuple[str, int | None], list[User]]:
    """The people of several desks in one query, by desk (as ``desk_of`` finds them)."""
    found: dict[tuple[str, int | None], list[User]] = {desk: [] for desk in desks}
    if desks:
        wanted = reduce(
            or_, [Q(profile__role=role, profile__region_id=region) for role, region in desks]
        )
        for user in _people().filter(wanted).order_by("pk"):
            key = (user.profile.role, user.profile.region_id)
            if key in found:
                found[key].append(user)
    return found


def grid_verifiers(case: Case) -> QuerySet[User]:
    """The grid workers and grid leader of the case's grid (who verify on site)."""
    return _people().filter(
        profile__role__in=[Role.GRID_WORKER, Role.GRID_LEADER], profile__grids=case.grid_id
    )


def reporter_of(case: Case) -> QuerySet[User]:
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

    def to_desk(kind: str, title: str, body: str) -> list[Audience]:
        """One message to the desk that held the case at the event's tier."""
        return [Audience(kind, title, body, desk_of(case, tier))]

    if action == Action.ROUTE:
        # A major case is routed straight into a joint response; that event tells the county.
        if case.joint_response or event.to_status != Status.REPORTED:
            return []
        return to_desk(Kind.NEW_REPORT, f"新上报待受理：{category}", summary)
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
        return to_desk(Kind.ESCALATION, f"上报至本级：{category}", summary + _note(event))
    if action == Action.RETURN:
        unit = event.unit.name if event.unit is not None else "处置单位"
        return to_desk(
            Kind.RETURN, f"退单：{unit}退回 {display(case.tracking_number)}", summary + _note(event)
        )
    if action == Action.EXTENSION_REQUEST:
        hours = event.data.get("hours")
        title = (
            f"延期申请：{event.unit.name if event.unit is not None else '处置单位'}申请延期 {hours:g} 小时"
            if hours
            else "延期申请"
        )
        return to_desk(Kind.EXTENSION_REQUEST, title, summary + _note(event))
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
        if action == Action.SELF_RESOLVE and case.reporter_id is not None:
            users = users.exclude(pk=case.reporter_id)  # nobody verifies their own fix on the spot
        return [
            Audience(
                Kind.VERIFY_REQUEST, f"待核查：{category}", summary + "。请到现场核查。", users
            )
        ]
    if action == Action.VERIFY_PASS:
        return to_desk(Kind.READY_TO_CLOSE, f"核查通过待结案：{category}", summary)
    if action == Action.VERIFY_FAIL:
        rework_by = unit_members([event.unit_id]) if event.unit_id else desk_of(case, tier)
        return [
            Audience(
                Kind.REWORK, f"核查未通过，请返工：{category}", summary + _note(event), rework_by
            )
        ]
    if action == Action.REOPEN:
        return to_desk(Kind.REOPEN, f"事件重新打开：{category}", summary + _note(event))
    if action == Action.URGE:
        # Sweep urges may be bulk-created without a unit: the case's lead unit at fan-out time.
        unit_id = event.unit_id or case.lead_unit_id
        urged = unit_members([unit_id]) if unit_id else desk_of(case, tier)
        return [
            Audience(
                Kind.URGE, f"督办：{category}", summary + (_note(event) or "。请尽快处置。"), urged
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


def who_may_see(users: list[User], case: Case) -> set[int]:
    """Ids of the ``users`` who may see ``case``, by the product's one visibility rule
    (``case_visibility_q``, the filter behind ``cases_visible_to``)."""
    return {user_id for user_id, _case_id in who_may_see_each([(u, case.pk) for u in users])}


def who_may_see_each(pairs: list[tuple[User, int]]) -> set[tuple[int, int]]:
    """Which (user, case id) pairs are allowed, as ``(user id, case id)``, in a single query:
    one EXISTS per distinct filter, evaluated for every case asked about — the members of a
    unit or a desk share theirs, and so do the events of a batch."""
    visible: set[tuple[int, int]] = set()
    rule_of: dict[int, Q | None] = {}
    asked: dict[Q, set[tuple[int, int]]] = {}
    for user, case_id in pairs:
        if user.pk not in rule_of:
            rule_of[user.pk] = case_visibility_q(user)
        rule = rule_of[user.pk]
        if rule is None:
            continue
        if not rule:  # an empty filter: sees every case
            visible.add((user.pk, case_id))
            continue
        asked.setdefault(rule, set()).add((user.pk, case_id))
    rules = list(asked)
    if rules:
        checks = {
            f"r{i}": Exists(Case.objects.filter(rule, pk=OuterRef("pk")))
            for i, rule in enumerate(rules)
        }
        case_ids = {case_id for pairs_of_rule in asked.values() for _u, case_id in pairs_of_rule}
        for row in Case.objects.filter(pk__in=case_ids).annotate(**checks).values("pk", *checks):
            for i, rule in enumerate(rules):
                if row[f"r{i}"]:
                    visible.update(p for p in asked[rule] if p[1] == row["pk"])
    return visible


def plan(event: CaseEvent) -> list[Planned]:
    """Every (person, message) for an event: no actor, nobody twice, nobody who may not see it."""
    return plan_many([event])[0]


def plan_many(events: list[CaseEvent]) -> list[list[Planned]]:
    """``plan`` for each of several events (a routing task's batch), with the reads shared:
    every desk named by any of them in one query, the visibility of every (person, case) pair
    in another."""
    per_event = [audiences(event) for event in events]
    desks = _desks_people(
        {
            audience.users.desk
            for audiences_of_event in per_event
            for audience in audiences_of_event
            if isinstance(audience.users, DeskPeople)
        }
    )
    candidates: list[list[Planned]] = []
    for event, audiences_of_event in zip(events, per_event, strict=True):
        mine: list[Planned] = []
        seen: set[int] = {event.actor_id} if event.actor_id else set()
        for audience in audiences_of_event:
            users = audience.users
            for user in desks[users.desk] if isinstance(users, DeskPeople) else users:
                if user.pk not in seen:
                    seen.add(user.pk)
                    mine.append(
                        Planned(user, audience.kind, audience.title[:120], audience.body[:300])
                    )
        candidates.append(mine)
    visible = who_may_see_each(
        [(c.user, event.case_id) for event, mine in zip(events, candidates) for c in mine]
    )
    return [
        [c for c in mine if (c.user.pk, event.case_id) in visible]
        for event, mine in zip(events, candidates, strict=True)
    ]


def units_touched(event: CaseEvent) -> set[int]:
    """Units whose task lists change with this event (the unit named, lead and assisting)."""
    ids = {event.unit_id, event.case.lead_unit_id, *event.data.get("assisting", [])}
    return {pk for pk in ids if isinstance(pk, int)}
