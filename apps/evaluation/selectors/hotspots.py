"""Hotspots and the colour board: report counts by category, area, unit and period, the trend,
the per-grid heat cells, and the open cases by colour for each unit and area.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, TypedDict

from django.db.models import Count, Q
from django.utils import timezone

from apps.cases.models import OPEN_STATUSES, Category, Colour
from apps.cases.selectors import cases_visible_to, live_colour
from apps.evaluation.selectors import OPEN_COLOURS, SUBJECT_KINDS, EvalScope, rollup_sums, subjects
from apps.org.models import Grid, Region, Tier, Unit
from apps.org.scope import AnyUser


def counts_by(
    *,
    level: str,
    keys: Iterable[int] | None,
    first_day: dt.date,
    last_day: dt.date,
    metric: str = "reports",
    group: str = "key",
    category_ids: Iterable[int] | None = None,
) -> dict[Any, int]:
    """One counter summed over a period, grouped by ``key``, ``category_id`` or ``day``."""
    sums = rollup_sums(
        level=level,
        keys=keys,
        first_day=first_day,
        last_day=last_day,
        category_ids=category_ids,
        group=group,
        metrics=(metric,),
    )
    return {k: v[metric] for k, v in sums.items() if v[metric]}


def bucket_start(day: dt.date, granularity: str) -> dt.date:
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def trend(
    by_day: dict[dt.date, int], first_day: dt.date, last_day: dt.date, granularity: str
) -> list[tuple[dt.date, int]]:
    """(bucket start, count) for every bucket in the period, empty buckets included."""
    totals: dict[dt.date, int] = defaultdict(int)
    for day, n in by_day.items():
        totals[bucket_start(day, granularity)] += n
    out: list[tuple[dt.date, int]] = []
    cursor = bucket_start(first_day, granularity)
    while cursor <= last_day:
        out.append((cursor, totals.get(cursor, 0)))
        if granularity == "month":
            cursor = (cursor.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        else:
            cursor += dt.timedelta(days=7 if granularity == "week" else 1)
    return out


def category_labels(ids: Iterable[int]) -> dict[int, str]:
    return {
        c.pk: str(c) for c in Category.objects.filter(pk__in=list(ids)).select_related("parent")
    }


class HeatCell(TypedDict):
    """Reports in one grid, for the map."""

    id: int
    name: str
    village: str
    village_id: int
    n: int
    bbox: list[float | None]
    center: list[float | None]


def heat_cells(
    escope: EvalScope,
    *,
    first_day: dt.date,
    last_day: dt.date,
    category_ids: Iterable[int] | None = None,
    within: Region | None = None,
) -> list[HeatCell]:
    """Reports per grid — the map's cells, drawn at each grid's centre with its bounding box."""
    regions = set(escope.region_ids)
    if within is not None:
        regions &= {within.pk} | set(
            Region.objects.filter(Q(parent=within) | Q(parent__parent=within)).values_list(
                "pk", flat=True
            )
        )
    grids = {
        row[0]: row
        for row in Grid.objects.filter(village_id__in=regions).values_list(
            "pk",
            "name",
            "village__name",
            "village_id",
            "min_lat",
            "min_lng",
            "max_lat",
            "max_lng",
            "centroid_lat",
            "centroid_lng",
        )
    }
    counts = counts_by(
        level="grid", keys=grids, first_day=first_day, last_day=last_day, category_ids=category_ids
    )
    cells: list[HeatCell] = []
    for grid_id, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        _pk, name, village, village_id, min_lat, min_lng, max_lat, max_lng, lat, lng = grids[
            grid_id
        ]
        cells.append(
            {
                "id": grid_id,
                "name": name,
                "village": village,
                "village_id": village_id,
                "n": n,
                "bbox": [min_lat, min_lng, max_lat, max_lng],
                "center": [lat, lng],
            }
        )
    return cells


# --- colour board --------------------------------------------------------------------------


class BoardArea(TypedDict):
    """One line of the colour board: open cases by colour, and the case list's filter."""

    id: int
    name: str
    counts: dict[str, int]
    total: int
    filter: str


class BoardUnit(BoardArea):
    kind: str  # "unit" (a lead unit) or "desk" (a region's desk, nothing dispatched yet)


class ColourBoard(TypedDict):
    units: list[BoardUnit]
    areas: list[BoardArea]
    area_label: str
    totals: dict[str, int]
    area_field: str
    as_of: dt.datetime


def colour_board(user: AnyUser, escope: EvalScope) -> ColourBoard:
    """Open cases by colour for each unit (the lead unit now; cases waiting at a desk are listed
    under that desk) and for each area one tier down. Live: the open cases, found by status on
    the area's (…, status) index, counted by their colour."""
    # Counted by the colour each case shows now (apps.cases.selectors.live_colour: the rule of
    # the case page and the overdue counts), not the sweep's column, which lags by a minute.
    qs = (
        cases_visible_to(user)
        .filter(status__in=OPEN_STATUSES)
        .annotate(shown_colour=live_colour(timezone.now()))
    )
    by_unit: dict[tuple[str, int], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(OPEN_COLOURS, 0)
    )
    for unit_id, holder_id, colour, n in (
        qs.order_by()
        .values_list("lead_unit_id", "holder_id", "shown_colour")
        .annotate(n=Count("id"))
    ):
        by_unit[("unit", unit_id) if unit_id else ("desk", holder_id)][colour] += n
    unit_names = dict(
        Unit.objects.filter(pk__in=[k for t, k in by_unit if t == "unit"]).values_list("pk", "name")
    )
    desk_names = dict(
        Region.objects.filter(pk__in=[k for t, k in by_unit if t == "desk"]).values_list(
            "pk", "name"
        )
    )
    units: list[BoardUnit] = []
    for (kind, key), counts in by_unit.items():
        name = (
            unit_names.get(key, "")
            if kind == "unit"
            else f"{desk_names.get(key, '')}（待派遣/受理）"
        )
        units.append(
            {
                "kind": kind,
                "id": key,
                "name": name,
                "counts": counts,
                "total": sum(counts.values()),
                "filter": f"unit={key}" if kind == "unit" else f"unit=none&holder__id__exact={key}",
            }
        )
    units.sort(
        key=lambda u: (
            -u["counts"][Colour.RED],
            -u["counts"][Colour.YELLOW],
            -u["total"],
            u["name"],
        )
    )

    area_tiers: dict[str, str] = {Tier.COUNTY: "town", Tier.TOWN: "village", Tier.VILLAGE: "grid"}
    area_tier = area_tiers[escope.tier]
    area_field = {"town": "town_id", "village": "village_id", "grid": "grid_id"}[area_tier]
    by_area: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OPEN_COLOURS, 0))
    for key, colour, n in (
        qs.order_by().values_list(area_field, "shown_colour").annotate(n=Count("id"))
    ):
        by_area[key][colour] += n
    names = {s.id: s.name for s in subjects(escope, area_tier)}
    areas: list[BoardArea] = [
        {
            "id": key,
            "name": names.get(key, "?"),
            "counts": counts,
            "total": sum(counts.values()),
            "filter": f"{area_field[:-3]}={key}",
        }
        for key, counts in by_area.items()
    ]
    areas.sort(key=lambda a: (-a["counts"][Colour.RED], -a["total"], a["name"]))
    totals: dict[str, int] = dict.fromkeys(OPEN_COLOURS, 0)
    for a in areas:
        for colour, n in a["counts"].items():
            totals[colour] += n
    return {
        "units": units,
        "areas": areas,
        "area_label": SUBJECT_KINDS[area_tier].label,
        "totals": totals,
        "area_field": area_field[:-3],
        "as_of": timezone.now(),
    }


# --- the overview's charts -------------------------------------------------------------------


class OverviewCharts(TypedDict):
    granularity: str  # day | week
    trend: dict[str, list[Any]]  # labels, reports, closed, handled
    colours: dict[str, list[Any]]  # labels, codes, counts
    categories: dict[str, list[Any]]  # labels, counts


def overview_charts(
    escope: EvalScope,
    *,
    first_day: dt.date,
    last_day: dt.date,
    category_ids: list[int] | None,
    board_totals: dict[str, int],
    top: int = 10,
) -> OverviewCharts:
    """The overview's three charts, as plain lists for the page's chart script.

    1. Trend of the reader's region, by day (periods up to 62 days) or by week (Monday):
       reports (上报), of those the ones now closed (已结案, by the day they were reported —
       the rollup counter ``closed``) and handling reports (处置反馈, by the day they were made).
    2. Colour mix of the open cases now (the colour board's live totals, passed in).
    3. The ``top`` leaf categories by reports in the period.
    """
    granularity = "day" if (last_day - first_day).days < 62 else "week"
    home = escope.home.pk
    by_day = rollup_sums(
        level=escope.tier,
        keys=[home],
        first_day=first_day,
        last_day=last_day,
        category_ids=category_ids,
        group="day",
        metrics=("reports", "closed", "handled"),
    )
    series = {
        metric: trend(
            {day: c[metric] for day, c in by_day.items()}, first_day, last_day, granularity
        )
        for metric in ("reports", "closed", "handled")
    }
    fmt = "%m-%d" if granularity == "day" else "%m-%d 起"
    by_category = rollup_sums(
        level=escope.tier,
        keys=[home],
        first_day=first_day,
        last_day=last_day,
        category_ids=category_ids,
        group="category_id",
        metrics=("reports",),
    )
    ranked = sorted(
        ((cid, c["reports"]) for cid, c in by_category.items() if c["reports"]),
        key=lambda item: -item[1],
    )[:top]
    labels = category_labels(cid for cid, _n in ranked)
    return {
        "granularity": granularity,
        "trend": {
            "labels": [start.strftime(fmt) for start, _n in series["reports"]],
            "reports": [n for _s, n in series["reports"]],
            "closed": [n for _s, n in series["closed"]],
            "handled": [n for _s, n in series["handled"]],
        },
        "colours": {
            "codes": list(OPEN_COLOURS),
            "labels": [str(Colour(c).label) for c in OPEN_COLOURS],
            "counts": [board_totals.get(c, 0) for c in OPEN_COLOURS],
        },
        "categories": {
            "labels": [labels.get(cid, "?") for cid, _n in ranked],
            "counts": [n for _cid, n in ranked],
        },
    }
