"""Reads of the evaluation app: who sees which numbers, and the indicator tables built on the
rollups (plus a few live counts of the current state). The three-level evaluation is in
``selectors.scores``, the hotspots and the colour board in ``selectors.hotspots``; both build on
the scope, subjects and rollup sums here.

Scoping is ``apps.org.scope`` like everywhere else: a desk or a leader reads its own region and
everything below it (``regions_in_scope``); live case counts go through ``cases_visible_to``.
Everything a page shows comes from here, so the HTML, the JSON and the CSV/Excel exports of a
table are the same numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from apps.cases.models import Action, CaseEvent, Category, Colour, Status
from apps.cases.selectors import cases_visible_to, overdue_q
from apps.evaluation.indicators import (
    GRID_WORKER_COLUMNS,
    HANDLER_COLUMNS,
    LATE_OPEN_TERMS,
    REGION_COLUMNS,
    ROLLUP_METRICS,
    UNIT_COLUMNS,
    evaluate,
)
from apps.evaluation.models import (
    ALL_CATEGORIES,
    DailyRollup,
    DirtyMonth,
    MonthlyRollup,
    RollupCursor,
)
from apps.evaluation.rollups import day_start
from apps.org.models import Grid, Profile, Region, Role, Tier, Unit, UnitKind
from apps.org.scope import AnyUser, regions_in_scope, scope_of

# Who may open /evaluation/ (DOMAIN.md §2: leaders and the desks of each tier).
EVALUATION_ROLES = {Role.LEADER, Role.COUNTY_DISPATCHER, Role.TOWN_DISPATCHER, Role.VILLAGE_HANDLER}
OPEN_COLOURS = (Colour.BLUE, Colour.YELLOW, Colour.RED, Colour.GREY)


# --- scope ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalScope:
    """The region a reader's numbers are about, and every region below it."""

    home: Region
    region_ids: frozenset[int]

    @property
    def tier(self) -> str:
        return self.home.tier


def evaluation_scope(user: AnyUser) -> EvalScope | None:
    """None: this user may not read evaluation pages (grid workers, department handlers …)."""
    if not getattr(user, "is_authenticated", False):
        return None
    scope = scope_of(user)
    if scope.everything:
        home = Region.objects.filter(tier=Tier.COUNTY).order_by("code").first()
    elif scope.role in EVALUATION_ROLES and scope.region_id:
        home = Region.objects.filter(pk=scope.region_id).first()
    else:
        return None
    if home is None:
        return None
    return EvalScope(
        home=home, region_ids=frozenset(regions_in_scope(user).values_list("pk", flat=True))
    )


# --- subjects: what a table has one row for --------------------------------------------------


@dataclass(frozen=True)
class SubjectKind:
    code: str
    label: str
    level: str  # DailyRollup.level
    columns: tuple[str, ...]
    # The case list's filter (apps/desk/filters.py) that lists this subject's cases.
    admin_filter: str | None


SUBJECT_KINDS: dict[str, SubjectKind] = {
    k.code: k
    for k in [
        SubjectKind("county", "区县", "county", REGION_COLUMNS, "county__id__exact"),
        SubjectKind("town", "乡镇/街道", "town", REGION_COLUMNS, "town"),
        SubjectKind("village", "村/社区", "village", REGION_COLUMNS, "village"),
        SubjectKind("grid", "网格", "grid", REGION_COLUMNS, "grid"),
        SubjectKind("department", "县级部门", "unit", UNIT_COLUMNS, "unit"),
        SubjectKind("stationed", "派驻机构与乡镇站所", "unit", UNIT_COLUMNS, "unit"),
        SubjectKind("workstation", "村/社区工作站", "unit", UNIT_COLUMNS, "unit"),
        SubjectKind("grid_worker", "网格员", "person", GRID_WORKER_COLUMNS, "reporter__id__exact"),
        SubjectKind("handler", "处置人员", "person", HANDLER_COLUMNS, None),
    ]
}
# Which tables each home tier may open (a town desk has no county departments, and so on).
# Keyed by tier value (``Region.tier`` is a plain string).
KINDS_FOR_TIER: dict[str, tuple[str, ...]] = {
    Tier.COUNTY: (
        "county",
        "town",
        "village",
        "grid",
        "department",
        "stationed",
        "workstation",
        "grid_worker",
        "handler",
    ),
    Tier.TOWN: ("town", "village", "grid", "stationed", "workstation", "grid_worker", "handler"),
    Tier.VILLAGE: ("village", "grid", "workstation", "grid_worker", "handler"),
}
# 三级考核: who each tier scores.
SCORED_KINDS: dict[str, tuple[str, ...]] = {
    Tier.COUNTY: ("town", "department"),
    Tier.TOWN: ("village", "stationed"),
    Tier.VILLAGE: ("grid_worker",),
}


@dataclass(frozen=True)
class Subject:
    id: int
    name: str
    parent: str = ""


def kinds_for(escope: EvalScope) -> tuple[str, ...]:
    return KINDS_FOR_TIER[escope.tier]


def subjects(escope: EvalScope, kind: str, *, within: Region | None = None) -> list[Subject]:
    """The rows of a table of ``kind`` inside the reader's scope (optionally inside ``within``,
    itself a region in scope)."""
    regions = set(escope.region_ids)
    if within is not None:
        below = {within.pk} | set(
            Region.objects.filter(Q(parent=within) | Q(parent__parent=within)).values_list(
                "pk", flat=True
            )
        )
        regions &= below
    # values_list, not model instances: a county has ~1,000 grids and ~1,000 people.
    rows: Iterable[tuple[int, str, str | None]]
    if kind in ("county", "town", "village"):
        rows = (
            Region.objects.filter(pk__in=regions, tier=kind)
            .order_by("code")
            .values_list("pk", "name", "parent__name")
        )
    elif kind == "grid":
        rows = (
            Grid.objects.filter(village_id__in=regions)
            .order_by("code")
            .values_list("pk", "name", "village__name")
        )
    elif kind in ("department", "stationed", "workstation"):
        unit_kinds = {
            "department": [UnitKind.DEPARTMENT],
            "stationed": [UnitKind.STATIONED, UnitKind.TOWN_OFFICE],
            "workstation": [UnitKind.WORKSTATION],
        }[kind]
        rows = (
            Unit.objects.filter(region_id__in=regions, kind__in=unit_kinds)
            .order_by("region__code", "name")
            .values_list("pk", "name", "region__name")
        )
    elif kind == "grid_worker":
        rows = (
            Profile.objects.filter(
                role__in=[Role.GRID_WORKER, Role.GRID_LEADER], region_id__in=regions
            )
            .order_by("region__code", "display_name")
            .values_list("user_id", "display_name", "region__name")
        )
    elif kind == "handler":
        rows = [
            (user_id, name, unit or region)
            for user_id, name, unit, region in Profile.objects.filter(
                Q(role=Role.DEPARTMENT_HANDLER, unit__region_id__in=regions)
                | Q(role=Role.VILLAGE_HANDLER, region_id__in=regions)
            )
            .order_by("display_name")
            .values_list("user_id", "display_name", "unit__name", "region__name")
        ]
    else:
        raise ValueError(kind)
    return [Subject(pk, name, parent or "") for pk, name, parent in rows]


def region_in_scope(escope: EvalScope, region_id: str | int | None) -> Region | None:
    if region_id is None:
        return None
    try:
        pk = int(region_id)
    except (TypeError, ValueError):
        return None
    if pk not in escope.region_ids:
        return None
    return Region.objects.filter(pk=pk).first()


# --- counters ------------------------------------------------------------------------------


def category_ids_for(category: Category | None) -> list[int] | None:
    """A leaf, or a top-level category with all its leaves; None means every category."""
    if category is None:
        return None
    return [category.pk, *Category.objects.filter(parent=category).values_list("pk", flat=True)]


def rollup_sums(
    *,
    level: str,
    keys: Iterable[int] | None,
    first_day: dt.date,
    last_day: dt.date,
    category_ids: Iterable[int] | None = None,
    group: str = "key",
    metrics: Iterable[str] = ROLLUP_METRICS,
) -> dict[Any, dict[str, int]]:
    """Sums of counters over a period from the rollups, grouped by ``key``, ``category_id`` or
    ``day``: group value → {metric: sum}.

    Complete past months that are not dirty come from MonthlyRollup (one row per month instead
    of one per day); every other day from DailyRollup. Without a category filter the
    all-categories rows (category 0) are read; grouping by category reads the per-category rows.
    """
    # The group value is a key (int), a category id (int) or a day (date).
    metrics = tuple(metrics)
    if category_ids is not None:
        cat_q = Q(category_id__in=list(category_ids))
    elif group == "category_id":
        cat_q = Q(category_id__gt=ALL_CATEGORIES)
    else:
        cat_q = Q(category_id=ALL_CATEGORIES)
    key_q = Q(key__in=list(keys)) if keys is not None else Q()

    def following(month: dt.date) -> dt.date:
        return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)

    # Split the period into whole clean past months (month rows) and day ranges (day rows).
    months: list[dt.date] = []
    day_ranges: list[tuple[dt.date, dt.date]] = []
    current = timezone.localdate().replace(day=1)
    dirty = set(DirtyMonth.objects.values_list("month", flat=True)) if group != "day" else set()
    cursor = first_day
    while cursor <= last_day:
        month_end = following(cursor.replace(day=1)) - dt.timedelta(days=1)
        whole = (
            cursor.day == 1 and month_end <= last_day and cursor < current and cursor not in dirty
        )
        if whole and group != "day":
            months.append(cursor)
        else:
            end = min(month_end, last_day)
            if day_ranges and day_ranges[-1][1] + dt.timedelta(days=1) == cursor:
                day_ranges[-1] = (day_ranges[-1][0], end)
            else:
                day_ranges.append((cursor, end))
        cursor = month_end + dt.timedelta(days=1)

    def summed(qs: QuerySet[Any]) -> list[dict[str, Any]]:
        return list(
            qs.filter(level=level)
            .filter(key_q)
            .filter(cat_q)
            .order_by()
            .values(group)
            .annotate(**{f"s_{m}": Sum(m) for m in metrics})
        )

    rows: list[dict[str, Any]] = []
    if day_ranges:
        ranges = Q()
        for start, end in day_ranges:
            ranges |= Q(day__gte=start, day__lte=end)
        rows += summed(DailyRollup.objects.filter(ranges))
    if months:
        rows += summed(MonthlyRollup.objects.filter(month__in=months))
    result: dict[Any, dict[str, int]] = {}
    for row in rows:
        target = result.setdefault(row[group], dict.fromkeys(metrics, 0))
        for m in metrics:
            target[m] += row[f"s_{m}"] or 0
    return result


def rollup_counters(
    *,
    level: str,
    keys: Iterable[int] | None,
    first_day: dt.date,
    last_day: dt.date,
    category_ids: Iterable[int] | None = None,
) -> dict[int, dict[str, int]]:
    """Counters of a period from the rollups: key → counters."""
    return rollup_sums(
        level=level, keys=keys, first_day=first_day, last_day=last_day, category_ids=category_ids
    )


# Where a live count puts a case, by rollup level (persons get no live counts).
LIVE_FIELD = {
    "county": "county_id",
    "town": "town_id",
    "village": "village_id",
    "grid": "grid_id",
    "unit": "lead_unit_id",
}


def late_open(
    user: AnyUser,
    *,
    level: str,
    keys: Iterable[int] | None,
    first_day: dt.date,
    last_day: dt.date,
    category_ids: Iterable[int] | None = None,
    now: dt.datetime | None = None,
) -> dict[int, dict[str, int]]:
    """The live terms of the on-time rates (``indicators.LATE_OPEN_TERMS``): open cases that
    are already late for a step a unit owes, whose deadline fell in the period — key →
    {"sign_late_open": n, "handle_late_open": n}.

    - ``sign_late_open``: 已派遣待签收 now, and the signing deadline (the step deadline) has
      passed — the sweep's and ``overdue_q``'s rule, at the deadline itself included;
    - ``handle_late_open``: dispatched or being handled (not yet reported handled) now, and the
      case's 办结时限 (``overall_deadline``, what a handling report is measured against) has
      passed.

    Both leave out cases that were ever deferred (挂账), as the rollup counters do. Places count
    where the case is; a unit counts the cases it leads now.
    """
    field = LIVE_FIELD.get(level)
    if field is None:
        return {}
    now = now or timezone.now()
    start, after = day_start(first_day), day_start(last_day + dt.timedelta(days=1))
    ever_deferred = Exists(CaseEvent.objects.filter(case_id=OuterRef("pk"), action=Action.DEFER))
    qs = cases_visible_to(user).filter(status__in=[Status.DISPATCHED, Status.SIGNED])
    if keys is not None:
        qs = qs.filter(**{f"{field}__in": list(keys)})
    if category_ids is not None:
        qs = qs.filter(category_id__in=list(category_ids))
    sign = Q(
        status=Status.DISPATCHED,
        step_deadline__gte=start,
        step_deadline__lt=after,
        step_deadline__lte=now,
    )
    handle = Q(overall_deadline__gte=start, overall_deadline__lt=after, overall_deadline__lte=now)
    rows = (
        qs.filter(sign | handle)
        .alias(deferred=ever_deferred)
        .filter(deferred=False)
        .order_by()
        .values(field)
        .annotate(
            sign_late_open=Count("id", filter=sign), handle_late_open=Count("id", filter=handle)
        )
    )
    return {
        row[field]: {term: row[term] for term in LATE_OPEN_TERMS}
        for row in rows
        if row[field] is not None
    }


def overdue_now(
    user: AnyUser,
    *,
    level: str,
    keys: Iterable[int] | None,
    category_ids: Iterable[int] | None = None,
    now: dt.datetime | None = None,
) -> dict[int, int]:
    """当前超时数 (live): open, not deferred, current step past its deadline. A unit is only
    counted for its own steps (signing and handling); a place for every open step."""
    now = now or timezone.now()
    field = LIVE_FIELD.get(level)
    if field is None:
        return {}
    # The one overdue rule (apps.cases.selectors.overdue_q): running, at or past the step's
    # deadline — what the colour board, the desk and the case page call red.
    qs = cases_visible_to(user).filter(overdue_q(now))
    if level == "unit":
        qs = qs.filter(status__in=[Status.DISPATCHED, Status.SIGNED])
    if keys is not None:
        qs = qs.filter(**{f"{field}__in": list(keys)})
    if category_ids is not None:
        qs = qs.filter(category_id__in=list(category_ids))
    return dict(qs.order_by().values_list(field).annotate(n=Count("id")).values_list(field, "n"))


# The indicators whose denominators take the live late terms.
LATE_OPEN_COLUMNS = {"sign_on_time_rate", "handle_on_time_rate"}


@dataclass
class Row:
    subject: Subject
    counters: dict[str, int]
    values: dict[str, float | int | None]


def indicator_rows(
    user: AnyUser,
    escope: EvalScope,
    kind: str,
    *,
    first_day: dt.date,
    last_day: dt.date,
    category_ids: list[int] | None = None,
    within: Region | None = None,
    columns: tuple[str, ...] | None = None,
) -> list[Row]:
    spec = SUBJECT_KINDS[kind]
    columns = columns or spec.columns
    subs = subjects(escope, kind, within=within)
    keys = [s.id for s in subs]
    counters = rollup_counters(
        level=spec.level,
        keys=keys,
        first_day=first_day,
        last_day=last_day,
        category_ids=category_ids,
    )
    live = (
        overdue_now(user, level=spec.level, keys=keys, category_ids=category_ids)
        if "overdue_now" in columns
        else {}
    )
    late = (
        late_open(
            user,
            level=spec.level,
            keys=keys,
            first_day=first_day,
            last_day=last_day,
            category_ids=category_ids,
        )
        if LATE_OPEN_COLUMNS & set(columns)
        else {}
    )
    rows: list[Row] = []
    for sub in subs:
        c = dict(counters.get(sub.id) or dict.fromkeys(ROLLUP_METRICS, 0))
        c["overdue_now"] = live.get(sub.id, 0)
        c.update(late.get(sub.id) or dict.fromkeys(LATE_OPEN_TERMS, 0))
        rows.append(Row(sub, c, evaluate(c, columns)))
    return rows


def totals_for(
    user: AnyUser,
    escope: EvalScope,
    *,
    first_day: dt.date,
    last_day: dt.date,
    category_ids: list[int] | None = None,
) -> dict[str, float | int | None]:
    """The reader's own region as one row (the headline figures of the dashboard), with the
    live late terms of the on-time rates (``LATE_OPEN_TERMS``) beside the indicators."""
    level = escope.tier
    counters = rollup_counters(
        level=level,
        keys=[escope.home.pk],
        first_day=first_day,
        last_day=last_day,
        category_ids=category_ids,
    ).get(escope.home.pk, dict.fromkeys(ROLLUP_METRICS, 0))
    counters["overdue_now"] = overdue_now(
        user, level=level, keys=[escope.home.pk], category_ids=category_ids
    ).get(escope.home.pk, 0)
    counters.update(
        late_open(
            user,
            level=level,
            keys=[escope.home.pk],
            first_day=first_day,
            last_day=last_day,
            category_ids=category_ids,
        ).get(escope.home.pk)
        or dict.fromkeys(LATE_OPEN_TERMS, 0)
    )
    return {
        **evaluate(counters, REGION_COLUMNS),
        **{term: counters[term] for term in LATE_OPEN_TERMS},
    }


def data_as_of() -> dt.datetime | None:
    return RollupCursor.objects.filter(name="events").values_list("refreshed_at", flat=True).first()
