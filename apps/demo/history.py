"""Fabricated case history for the demo and for benchmarks (``demo_county --history N``).

It does not *run* cases, it makes up years of finished (and some open) ones with plausible
statuses, colours, units and timestamps, so lists, dashboards and evaluation have something to
chew on. Rows are built as plain tuples and written in batches by the workflow service's bulk
writer (``apps.cases.services.bulk``: COPY on PostgreSQL, ``executemany`` on SQLite) with
explicit ids (sequences reset afterwards): no per-row queries, a million cases in minutes.
Run it on a quiet database: it numbers the new rows after the current highest id.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import secrets
from collections.abc import Callable, Sequence
from typing import TypeVar

from django.db import connection
from django.db.models import Max
from django.utils import timezone

from apps.cases.models import (
    Action,
    Case,
    CaseEvent,
    Category,
    Colour,
    RoutingRule,
    Source,
    Status,
    Step,
    TimeBasis,
)
from apps.cases.services import STEP_FOR_STATUS
from apps.cases.services.bulk import BulkRows, history_bulk_insert, history_ids_settle
from apps.cases.tracking import new_tracking_number
from apps.org.models import Grid, Profile, Role, Tier, Unit, UnitKind
from apps.org.services import GRID_SHAPE_FIELDS

BATCH = 10_000
CASES_PER_DAY = 500  # DOMAIN.md §6: ~500 a day in a district of 2.6 M people
RECENT_DAYS = 30  # cases younger than this may still be open
EVENT_DAYS = 60  # every case this young gets its history events; older ones a 1 % sample

_ROADS = [
    "人民路",
    "建设路",
    "解放路",
    "中山路",
    "学府路",
    "河滨路",
    "工业路",
    "文化路",
    "新华路",
    "环城路",
    "东风路",
    "育才路",
    "菜市街",
    "老街",
    "站前路",
    "桥头路",
]
_SPOTS = [
    "路口",
    "菜场门口",
    "小区北门",
    "公交站旁",
    "桥下",
    "河边",
    "学校附近",
    "停车场",
    "巷子里",
    "广场东侧",
]
_TEMPLATES = [
    "{spot}发现{cat}，影响通行和环境，请尽快处理。",
    "{road}{n}号附近有{cat}问题，群众反映较多。",
    "巡查发现{road}{spot}{cat}，已拍照取证。",
    "{cat}：{road}{spot}，需要相关部门处置。",
]
_RESULTS = [
    "已现场处置完毕，恢复原状。",
    "已责令当事人整改，复查合格。",
    "已清理完毕。",
    "已联系责任单位修复。",
]

# Share of cases that end at each tier, and of older cases that were rejected.
TIER_SHARES = [(Tier.VILLAGE, 0.35), (Tier.TOWN, 0.55), (Tier.COUNTY, 0.10)]
REJECTED_SHARE = 0.05
RECENT_STATUSES = [
    (Status.REPORTED, 0.03),
    (Status.ACCEPTED, 0.03),
    (Status.DISPATCHED, 0.07),
    (Status.SIGNED, 0.14),
    (Status.HANDLED, 0.07),
    (Status.VERIFIED, 0.03),
    (Status.DEFERRED, 0.01),
    (Status.REJECTED, 0.04),
    (Status.CLOSED, 0.58),
]
# The step whose clock runs in each open status (a deferred case's is still handling's).
NEXT_STEP = {**STEP_FOR_STATUS, Status.DEFERRED: Step.HANDLE}
ORDER = [
    Status.REPORTED,
    Status.ACCEPTED,
    Status.DISPATCHED,
    Status.SIGNED,
    Status.HANDLED,
    Status.VERIFIED,
    Status.CLOSED,
]


_T = TypeVar("_T")


def _pick(rng: random.Random, shares: Sequence[tuple[_T, float]]) -> _T:
    x = rng.random()
    for value, share in shares:
        x -= share
        if x <= 0:
            return value
    return shares[-1][0]


def generate_history(
    n: int,
    *,
    seed: int = 2025,
    now: dt.datetime | None = None,
    days: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Create ``n`` historical cases (and events for the recent ones and a sample). Returns n."""
    rng = random.Random(seed * 7919 + n)
    now = (now or timezone.now()).astimezone(dt.UTC)
    days = days or max(RECENT_DAYS + 1, min(1460, math.ceil(n / CASES_PER_DAY)))

    grids = list(
        Grid.objects.select_related("village__parent")
        .order_by("pk")
        .values_list(
            "pk",
            "village_id",
            "village__parent_id",
            "village__parent__parent_id",
            *GRID_SHAPE_FIELDS,
            "village__name",
            "village__parent__name",
        )
    )
    if not grids:
        raise ValueError("there are no grids: create the demo county first")
    categories = list(Category.objects.filter(parent__isnull=False, is_active=True).order_by("pk"))
    if not categories:
        raise ValueError("there are no categories: create the demo county first")
    basis = {c.pk: c.time_basis for c in categories}

    workstation = dict(
        Unit.objects.filter(kind=UnitKind.WORKSTATION).values_list("region_id", "pk")
    )
    stationed = {
        (u.department_id, u.region_id): u.pk for u in Unit.objects.filter(kind=UnitKind.STATIONED)
    }
    platform_units: dict[tuple[str, int], int] = {}
    for u in (
        Unit.objects.filter(platform__isnull=False).select_related("platform").order_by("name")
    ):
        if u.platform is not None:  # (all of them: see the filter)
            platform_units.setdefault((u.platform.code, u.region_id), u.pk)
    town_units: dict[int, list[int]] = {}
    for u in Unit.objects.filter(kind__in=[UnitKind.STATIONED, UnitKind.TOWN_OFFICE]).order_by(
        "pk"
    ):
        town_units.setdefault(u.region_id, []).append(u.pk)
    rules = {(r.category_id, r.tier): r for r in RoutingRule.objects.all()}
    workers: dict[int, list[int]] = {}
    for grid_id, user_id in (
        Profile.grids.through.objects.filter(profile__role=Role.GRID_WORKER)
        .values_list("grid_id", "profile__user_id")
        .order_by("grid_id", "profile__user_id")
    ):
        workers.setdefault(grid_id, []).append(user_id)

    def town_unit(category_id: int, town_id: int) -> int | None:
        rule = rules.get((category_id, Tier.TOWN))
        if rule and rule.department_id and (rule.department_id, town_id) in stationed:
            return stationed[(rule.department_id, town_id)]
        if rule and rule.platform_code and (rule.platform_code, town_id) in platform_units:
            return platform_units[(rule.platform_code, town_id)]
        options = town_units.get(town_id)
        return options[category_id % len(options)] if options else None

    def county_unit(category_id: int) -> int | None:
        rule = rules.get((category_id, Tier.COUNTY))
        return rule.department_id if rule else None

    cases = BulkRows(Case, {"public_token": lambda: secrets.token_urlsafe(24)})
    events = BulkRows(CaseEvent)
    next_case_id = (Case.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    next_event_id = (CaseEvent.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    span = dt.timedelta(days=days)
    start = now - span
    hours = dt.timedelta(hours=1)
    created_total = 0

    if connection.vendor == "sqlite":
        # A big page cache keeps the case table's many indexes in memory while they grow.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -262144")

    while created_total < n:
        batch = min(BATCH, n - created_total)
        case_rows, event_rows = [], []
        # Oldest first, so ids follow time like they do in a real system.
        offsets = sorted(rng.random() for _ in range(batch))
        slice_start = start + span * (created_total / n)
        slice_len = span * (batch / n)
        for offset in offsets:
            created = slice_start + slice_len * offset
            grid = grids[rng.randrange(len(grids))]
            (
                grid_id,
                village_id,
                town_id,
                county_id,
                x0,
                y0,
                x1,
                y1,
                cx,
                cy,
                village_name,
                town_name,
            ) = grid
            category = categories[
                int(rng.random() ** 1.6 * len(categories))
            ]  # a few categories dominate
            age_days = (now - created).total_seconds() / 86400
            if age_days <= RECENT_DAYS and rng.random() < (RECENT_DAYS - age_days) / RECENT_DAYS:
                status = _pick(rng, RECENT_STATUSES)
            else:
                status = Status.REJECTED if rng.random() < REJECTED_SHARE else Status.CLOSED
            tier = _pick(rng, TIER_SHARES)
            is_urgent = basis[category.pk] == TimeBasis.NATURAL_HOURS
            source = _pick(
                rng, [(Source.GRID_WORKER, 0.78), (Source.CITIZEN, 0.15), (Source.HOTLINE, 0.07)]
            )
            reporter = None
            if source == Source.GRID_WORKER and workers.get(grid_id):
                choices = workers[grid_id]
                reporter = choices[rng.randrange(len(choices))]
            # Points near the grid's centre stay inside the (irregular, convex-ish) polygon.
            lat = round(cy + (rng.random() - 0.5) * (y1 - y0) * 0.3, 6)
            lng = round(cx + (rng.random() - 0.5) * (x1 - x0) * 0.3, 6)
            road, spot = rng.choice(_ROADS), rng.choice(_SPOTS)
            description = rng.choice(_TEMPLATES).format(
                spot=spot, cat=category.name, road=road, n=rng.randint(1, 300)
            )

            # The clock: each step takes an exponential time; urgent categories run faster.
            pace = 0.3 if is_urgent else 1.0
            accepted = created + hours * rng.expovariate(1 / (0.8 * pace))
            dispatched = (
                accepted + hours * rng.expovariate(1 / (1.0 * pace))
                if tier != Tier.VILLAGE
                else accepted
            )
            signed = (
                dispatched + hours * rng.expovariate(1 / (1.5 * pace))
                if tier != Tier.VILLAGE
                else accepted
            )
            handled = signed + hours * rng.expovariate(1 / (10.0 * pace))
            verified = handled + hours * rng.expovariate(1 / 3.0)
            closed = verified + hours * rng.expovariate(1 / 4.0)
            overall_hours: dict[str, int] = {
                TimeBasis.NATURAL_HOURS: 12,
                TimeBasis.WORKING_HOURS: 72,
                TimeBasis.WORKING_DAYS: 28 * 24,
            }
            overall_deadline = created + hours * overall_hours[basis[category.pk]]

            holder = {Tier.VILLAGE: village_id, Tier.TOWN: town_id, Tier.COUNTY: county_id}[tier]
            lead_unit = {
                Tier.VILLAGE: lambda: workstation.get(village_id),
                # Every grid's village sits under a town (``Region.clean`` checks the tiers).
                Tier.TOWN: lambda: town_unit(category.pk, town_id),
                Tier.COUNTY: lambda: county_unit(category.pk),
            }[tier]()
            reached = (
                ORDER.index(status)
                if status in ORDER
                else (ORDER.index(Status.SIGNED) if status == Status.DEFERRED else 0)
            )
            row = {
                "id": next_case_id,
                "tracking_number": new_tracking_number(),
                "source": source,
                "reporter_id": reporter,
                "reporter_phone": "" if reporter else f"13{rng.randrange(10**9):09d}",
                "category_id": category.pk,
                "severity": 2 if is_urgent and rng.random() < 0.1 else 3,
                "description": description,
                "address": f"{town_name}{village_name}{road}{spot}",
                "lat": lat,
                "lng": lng,
                "accuracy_m": round(rng.uniform(4, 40), 1),
                "position_source": "gps",
                "position_time": created,
                "grid_id": grid_id,
                "village_id": village_id,
                "town_id": town_id,
                "county_id": county_id,
                "status": status,
                "tier": Tier.VILLAGE if reached < 1 else tier,
                "holder_id": village_id if reached < 1 else holder,
                "created_at": created,
                "updated_at": created,
                "overall_deadline": overall_deadline,
                "escalation_count": {Tier.VILLAGE: 0, Tier.TOWN: 1, Tier.COUNTY: 2}[tier],
            }
            last = created
            if status == Status.REJECTED:
                row.update(
                    reject_reason=rng.choice(["invalid", "duplicate", "not_public"]),
                    colour=Colour.GREEN,
                    step=Step.CLOSE,
                    closed_at=accepted,
                    updated_at=accepted,
                    tier=Tier.VILLAGE,
                    holder_id=village_id,
                    escalation_count=0,
                )
                last = accepted
            else:
                if reached >= 1:
                    row["accepted_at"] = last = accepted
                if reached >= 2:
                    row["lead_unit_id"] = lead_unit
                    row["dispatched_at"] = last = dispatched
                if reached >= 3:
                    row["signed_at"] = last = signed
                    row["sign_overdue"] = (signed - dispatched) > hours * 2
                if reached >= 4:
                    row["handled_at"] = last = handled
                    row["result_text"] = rng.choice(_RESULTS)
                    row["self_resolved"] = tier == Tier.VILLAGE and rng.random() < 0.3
                if reached >= 5:
                    last = verified
                if status == Status.CLOSED:
                    row.update(closed_at=closed, colour=Colour.GREEN, step=Step.CLOSE)
                    last = closed
                row["updated_at"] = last
                if status != Status.CLOSED:
                    step = NEXT_STEP[status]
                    limit = (
                        hours
                        * (4 if step in (Step.ACCEPT, Step.DISPATCH, Step.SIGN) else 24)
                        * pace
                    )
                    # Stretch the step's limit so that the colour board shows mostly blue, some
                    # yellow and a few red, however long ago the step started.
                    limit = max(limit, (now - last) / rng.uniform(0.3, 1.15))
                    deadline = last + limit
                    yellow = last + limit * 0.8
                    row.update(
                        step=step,
                        step_started_at=last,
                        step_deadline=deadline,
                        yellow_at=yellow,
                        escalate_at=deadline + limit * 0.5,
                    )
                    if status == Status.DEFERRED:
                        row.update(
                            colour=Colour.GREY,
                            deferred_from=Status.SIGNED,
                            step_deadline=None,
                            yellow_at=None,
                            escalate_at=None,
                            deferred_review_on=(now + dt.timedelta(days=rng.randint(3, 30))).date(),
                        )
                    else:
                        row["colour"] = (
                            Colour.RED
                            if deadline <= now
                            else Colour.YELLOW
                            if yellow <= now
                            else Colour.BLUE
                        )
                        upcoming = [
                            t for t in (yellow, deadline, deadline + limit * 0.5) if t > now
                        ]
                        row["sweep_due_at"] = min(upcoming) if upcoming else now
            row["return_count"] = 1 if tier != Tier.VILLAGE and rng.random() < 0.04 else 0
            row["rework_count"] = 1 if reached >= 4 and rng.random() < 0.03 else 0
            case_rows.append(cases.row(row))

            if age_days <= EVENT_DAYS or rng.random() < 0.01:
                trail: list[tuple[str, dt.datetime, str, str, int | None]] = [
                    (Action.REPORT, created, "", Status.REPORTED, None)
                ]
                if status == Status.REJECTED:
                    trail.append((Action.REJECT, accepted, Status.REPORTED, Status.REJECTED, None))
                else:
                    steps = [
                        (1, Action.ACCEPT, accepted, Status.REPORTED, Status.ACCEPTED, None),
                        (
                            2,
                            Action.DISPATCH,
                            dispatched,
                            Status.ACCEPTED,
                            Status.DISPATCHED,
                            lead_unit,
                        ),
                        (3, Action.SIGN, signed, Status.DISPATCHED, Status.SIGNED, lead_unit),
                        (4, Action.HANDLE, handled, Status.SIGNED, Status.HANDLED, lead_unit),
                        (5, Action.VERIFY_PASS, verified, Status.HANDLED, Status.VERIFIED, None),
                        (6, Action.CLOSE, closed, Status.VERIFIED, Status.CLOSED, None),
                    ]
                    trail += [(a, t, f, to, u) for need, a, t, f, to, u in steps if reached >= need]
                    if status == Status.DEFERRED:
                        trail.append(
                            (Action.DEFER, signed + hours, Status.SIGNED, Status.DEFERRED, None)
                        )
                for action, at, from_status, to_status, unit in trail:
                    event_rows.append(
                        events.row(
                            {
                                "id": next_event_id,
                                "case_id": next_case_id,
                                "action": action,
                                "actor_id": reporter if action == Action.REPORT else None,
                                "actor_label": "历史数据",
                                "from_status": from_status,
                                "to_status": to_status,
                                "unit_id": unit,
                                "created_at": at,
                                "notified_at": at,  # history: nothing to notify
                            }
                        )
                    )
                    next_event_id += 1
            next_case_id += 1

        history_bulk_insert(cases=cases, case_rows=case_rows, events=events, event_rows=event_rows)
        created_total += batch
        if progress:
            progress(created_total)

    history_ids_settle()
    return created_total
