"""大联动公开: the public colour board at /track/board/ — no login, the same colours leaders see.

Per town and per county department: open cases by colour (now), and for the chosen period the
closure rate, the on-time handling rate and the citizens' satisfaction; reports by village on a
coarse map. What a public page must not show is left out on purpose:

- **Withheld categories** (``PUBLIC_BOARD_WITHHELD_CATEGORIES``: codes of categories, a main
  category withholding all of its sub-categories; by default 治安, 信访 and 矛盾纠纷) count nowhere.
- **Small numbers**: a count under ``PUBLIC_BOARD_MIN_COUNT`` (5) shows as "<5", and a rate or
  mean over fewer than that many cases as "—", so no single case or person can be picked out.
- No names of people, no case, no address: units and places only.

Everything comes from the evaluation's daily rollups (periods) and one grouped count of open
cases (colours), and the whole board is cached for ``PUBLIC_BOARD_CACHE_S`` (120 s) per period.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from apps.cases.models import FINAL_STATUSES, Case, Category, Colour, Status
from apps.cases.selectors import live_colour
from apps.core.cache import cache_get, cache_set
from apps.core.maps import map_config
from apps.evaluation.indicators import INDICATORS, evaluate
from apps.evaluation.selectors import data_as_of, rollup_sums
from apps.org.models import Grid, Region, Tier, Unit, UnitKind

PERIODS = {
    "30d": "近 30 天",
    "month": "本月",
    "year": "本年",
}
# The indicators the board shows, with the counter that says how many cases they rest on.
RATES = (
    ("closure_rate", "accepted"),
    ("handle_on_time_rate", "handled_timed"),
    ("satisfaction_good_share", "ratings"),
)
OPEN_COLOURS = (Colour.BLUE, Colour.YELLOW, Colour.RED)
OPEN_STATUSES = [s for s in Status.values if s not in FINAL_STATUSES]


def period_days(period: str, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    today = today or timezone.localdate()
    if period == "month":
        return today.replace(day=1), today
    if period == "year":
        return today.replace(month=1, day=1), today
    return today - dt.timedelta(days=29), today


def withheld_category_ids() -> set[int]:
    codes = list(settings.PUBLIC_BOARD_WITHHELD_CATEGORIES)
    ids = set(Category.objects.filter(code__in=codes).values_list("pk", flat=True))
    ids |= set(Category.objects.filter(parent_id__in=ids).values_list("pk", flat=True))
    return ids


def shown_category_ids() -> list[int]:
    withheld = withheld_category_ids()
    return [pk for pk in Category.objects.values_list("pk", flat=True) if pk not in withheld]


def shown_count(n: int) -> str:
    return "<5" if 0 < n < settings.PUBLIC_BOARD_MIN_COUNT else str(n)


@dataclass
class BoardRow:
    name: str
    colours: dict[str, str]  # blue/yellow/red → a shown count
    open_total: str
    rates: dict[str, str]  # indicator code → "93%" or "—"


@dataclass
class Board:
    period: str
    first_day: dt.date
    last_day: dt.date
    towns: list[BoardRow]
    departments: list[BoardRow]
    totals: BoardRow
    hotspots: list[
        dict
    ]  # {"name", "lat", "lng", "reports"} per village, suppressed under the minimum
    definitions: list[tuple[str, str]]
    withheld: list[str]
    data_as_of: dt.datetime | None
    built_at: dt.datetime = field(default_factory=timezone.now)


def _rates(counters: dict[str, int]) -> dict[str, str]:
    values = evaluate(counters, [code for code, _ in RATES])
    shown = {}
    for code, base in RATES:
        value = values.get(code)
        if value is None or counters.get(base, 0) < settings.PUBLIC_BOARD_MIN_COUNT:
            shown[code] = "—"
        else:
            shown[code] = f"{value * 100:.0f}%"
    return shown


def _row(name: str, counters: dict[str, int], colours: dict[str, int]) -> BoardRow:
    return BoardRow(
        name=name,
        colours={c: shown_count(colours.get(c, 0)) for c in OPEN_COLOURS},
        open_total=shown_count(sum(colours.get(c, 0) for c in OPEN_COLOURS)),
        rates=_rates(counters),
    )


def _open_by(field_name: str, category_ids: list[int]) -> dict[int, dict[str, int]]:
    """Open cases now, by ``field_name`` and the colour each shows (``live_colour``: the case
    pages' rule, not the sweep's column, which lags by a minute); the status index finds them."""
    rows = (
        Case.objects.filter(status__in=OPEN_STATUSES, category_id__in=category_ids)
        .exclude(**{f"{field_name}__isnull": True})
        .annotate(shown_colour=live_colour())
        .order_by()
        .values_list(field_name, "shown_colour")
        .annotate(n=Count("id"))
    )
    result: dict[int, dict[str, int]] = {}
    for key, colour, n in rows:
        result.setdefault(key, {})[colour] = n
    return result


def _village_points() -> dict[int, tuple[float, float]]:
    """A point per village (the mean of its grids' outline vertices): coarse on purpose."""
    points: dict[int, list[tuple[float, float]]] = {}
    for village_id, boundary in Grid.objects.values_list("village_id", "boundary"):
        coords = _outer_ring(boundary)
        if coords:
            lng = sum(c[0] for c in coords) / len(coords)
            lat = sum(c[1] for c in coords) / len(coords)
            points.setdefault(village_id, []).append((lat, lng))
    return {
        v: (round(sum(p[0] for p in ps) / len(ps), 3), round(sum(p[1] for p in ps) / len(ps), 3))
        for v, ps in points.items()
    }


def _outer_ring(boundary: dict) -> list[list[float]]:
    try:
        if boundary["type"] == "Polygon":
            return boundary["coordinates"][0]
        if boundary["type"] == "MultiPolygon":
            return [c for poly in boundary["coordinates"] for c in poly[0]]
    except (KeyError, TypeError, IndexError):
        pass
    return []


def build_board(period: str = "30d", *, today: dt.date | None = None) -> Board:
    first_day, last_day = period_days(period, today)
    categories = shown_category_ids()
    county = Region.objects.filter(tier=Tier.COUNTY).order_by("code").first()
    towns = list(Region.objects.filter(tier=Tier.TOWN).order_by("code").values_list("pk", "name"))
    departments = list(
        Unit.objects.filter(kind=UnitKind.DEPARTMENT, is_active=True)
        .order_by("name")
        .values_list("pk", "name")
    )
    # A department's work includes its units stationed at the towns.
    stationed: dict[int, list[int]] = {}
    for pk, department_id in Unit.objects.filter(
        department_id__in=[d for d, _ in departments]
    ).values_list("pk", "department_id"):
        stationed.setdefault(department_id, []).append(pk)

    def sums(level: str, keys: list[int] | None) -> dict:
        return rollup_sums(
            level=level, keys=keys, first_day=first_day, last_day=last_day, category_ids=categories
        )

    town_counts = sums("town", [t for t, _ in towns])
    unit_keys = [d for d, _ in departments] + [u for us in stationed.values() for u in us]
    unit_counts = sums("unit", unit_keys)
    county_counts = sums("county", [county.pk] if county else [])
    village_counts = sums("village", None)

    open_town = _open_by("town_id", categories)
    open_unit = _open_by("lead_unit_id", categories)
    open_county = _open_by("county_id", categories)

    def merged(dicts: list[dict]) -> dict:
        total: dict = {}
        for d in dicts:
            for k, v in d.items():
                total[k] = total.get(k, 0) + v
        return total

    town_rows = [_row(name, town_counts.get(pk, {}), open_town.get(pk, {})) for pk, name in towns]
    department_rows = [
        _row(
            name,
            merged([unit_counts.get(u, {}) for u in [pk, *stationed.get(pk, [])]]),
            merged([open_unit.get(u, {}) for u in [pk, *stationed.get(pk, [])]]),
        )
        for pk, name in departments
    ]
    totals = _row(
        county.name if county else "",
        county_counts.get(county.pk, {}) if county else {},
        open_county.get(county.pk, {}) if county else {},
    )
    points = _village_points()
    names = dict(Region.objects.filter(tier=Tier.VILLAGE).values_list("pk", "name"))
    hotspots = []
    for village_id, counters in village_counts.items():
        reports = counters.get("reports", 0)
        if reports < settings.PUBLIC_BOARD_MIN_COUNT or village_id not in points:
            continue  # small numbers are not shown on the map at all
        lat, lng = points[village_id]
        hotspots.append(
            {"name": names.get(village_id, ""), "lat": lat, "lng": lng, "reports": reports}
        )
    hotspots.sort(key=lambda h: -h["reports"])
    withheld = list(
        Category.objects.filter(
            code__in=settings.PUBLIC_BOARD_WITHHELD_CATEGORIES, parent__isnull=True
        ).values_list("name", flat=True)
    )
    return Board(
        period=period,
        first_day=first_day,
        last_day=last_day,
        towns=town_rows,
        departments=department_rows,
        totals=totals,
        hotspots=hotspots,
        definitions=[(INDICATORS[c].label, INDICATORS[c].definition) for c, _ in RATES],
        withheld=withheld,
        data_as_of=data_as_of(),
    )


def public_board(period: str) -> Board:
    """The board of a period, from the cache when it is fresh."""
    period = period if period in PERIODS else "30d"
    key = f"public:board:{period}:{timezone.localdate().isoformat()}"
    board = cache_get(key)
    if board is None:
        board = build_board(period)
        cache_set(key, board, settings.PUBLIC_BOARD_CACHE_S)
    return board


def hotspots_json(board: Board) -> str:
    return json.dumps(board.hotspots, ensure_ascii=False)


__all__ = ["PERIODS", "Board", "build_board", "hotspots_json", "public_board"]


# --- the page -------------------------------------------------------------------------------


def board_page(request):
    from django.shortcuts import render

    period = request.GET.get("period", "30d")
    board = public_board(period)
    response = render(
        request,
        "public/board.html",
        {
            "board": board,
            "periods": PERIODS.items(),
            "period_label": PERIODS.get(board.period),
            "hotspots": hotspots_json(board),
            "totals_colours": [
                (Colour.RED, "红（已超时）", board.totals.colours[Colour.RED]),
                (Colour.YELLOW, "黄（即将超时）", board.totals.colours[Colour.YELLOW]),
                (Colour.BLUE, "蓝（在办）", board.totals.colours[Colour.BLUE]),
            ],
            "map_config": map_config(),
            "min_count": settings.PUBLIC_BOARD_MIN_COUNT,
        },
    )
    response["Cache-Control"] = f"public, max-age={min(60, settings.PUBLIC_BOARD_CACHE_S)}"
    return response
