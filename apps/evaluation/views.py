"""Pages for leaders and desks at /evaluation/: dashboard, indicator tables, three-level
evaluation, hotspots, the colour board and the definitions. Thin: parse and check the input,
call the selectors, render (HTML, JSON, CSV or Excel).

Every page is login-only and scoped (``selectors.evaluation_scope``): a grid worker or a
department handler is refused, and a region outside the reader's scope answers 404.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.cases.models import Category, Colour
from apps.evaluation import charts, selectors
from apps.evaluation.exports import EXPORT_FORMATS, Table, export_response
from apps.evaluation.indicators import (
    HANDLE_BINS_HOURS,
    HIST_FIELDS,
    INDICATORS,
    ROLLUP_METRICS,
    format_value,
)
from apps.evaluation.models import EvaluateeKind
from apps.org.models import Region

MAX_PERIOD_DAYS = 3660
CASES_ADMIN = "/admin/cases/case/"
PRESETS = [
    ("today", "今天"),
    ("7d", "近 7 天"),
    ("30d", "近 30 天"),
    ("month", "本月"),
    ("last_month", "上月"),
    ("quarter", "本季度"),
    ("year", "本年"),
    ("365d", "近一年"),
]


class BadInput(Exception):
    """Input a person can fix; answered with 400 and this message."""


# --- input ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date
    preset: str

    @property
    def label(self) -> str:
        return f"{self.first:%Y-%m-%d} 至 {self.last:%Y-%m-%d}"

    @property
    def slug(self) -> str:
        return f"{self.first:%Y%m%d}-{self.last:%Y%m%d}"

    def case_filters(self) -> dict[str, str]:
        """The case list's own date filter (上报日期, both ends included)."""
        return {"created_from": self.first.isoformat(), "created_to": self.last.isoformat()}


def parse_period(params) -> Period:
    today = timezone.localdate()
    preset = params.get("period", "") or (
        "custom" if params.get("from") or params.get("to") else "month"
    )
    if preset == "custom":
        try:
            first = dt.date.fromisoformat(params.get("from", ""))
            last = dt.date.fromisoformat(params.get("to", "")) if params.get("to") else today
        except ValueError:
            raise BadInput("日期格式应为 YYYY-MM-DD，例如 2025-01-31。") from None
        if first > last:
            raise BadInput("开始日期不能晚于结束日期。")
        if (last - first).days >= MAX_PERIOD_DAYS:
            raise BadInput("统计期最长 10 年，请缩短日期范围。")
        return Period(first, last, preset)
    if preset == "today":
        return Period(today, today, preset)
    if preset in ("7d", "30d", "365d"):
        return Period(today - dt.timedelta(days=int(preset[:-1]) - 1), today, preset)
    if preset == "month":
        return Period(today.replace(day=1), today, preset)
    if preset == "last_month":
        last = today.replace(day=1) - dt.timedelta(days=1)
        return Period(last.replace(day=1), last, preset)
    if preset == "quarter":
        return Period(dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today, preset)
    if preset == "year":
        return Period(dt.date(today.year, 1, 1), today, preset)
    raise BadInput("未知的统计期，请从列表中选择。")


def parse_category(params) -> Category | None:
    raw = params.get("category", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise BadInput("分类编号无效。")
    category = Category.objects.filter(pk=int(raw)).first()
    if category is None:
        raise BadInput("没有这个分类。")
    return category


def parse_region(params: QueryDict, escope: selectors.EvalScope) -> Region | None:
    raw = params.get("region", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise BadInput("区划编号无效。")
    region = selectors.region_in_scope(escope, raw)
    if region is None:
        raise Http404("不在您的辖区内。")
    return region


def parse_export(params) -> str | None:
    fmt = params.get("export", "")
    if fmt and fmt not in EXPORT_FORMATS:
        raise BadInput("导出格式只能是 csv 或 xlsx。")
    return fmt or None


def cases_link(**filters) -> str:
    return CASES_ADMIN + "?" + urlencode({k: v for k, v in filters.items() if v not in (None, "")})


def category_filter(category: Category | None) -> dict[str, str]:
    # The case list's category filter takes a main category (with its leaves) or a leaf.
    return {} if category is None else {"cat": str(category.pk)}


# --- plumbing ------------------------------------------------------------------------------


def evaluation_view(view):
    """Login required; the reader must be a leader or a desk; bad input answers 400."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            # Everyone who may read these pages is desk staff and logs in where they work all day.
            return redirect_to_login(request.get_full_path(), "/admin/login/")
        escope = selectors.evaluation_scope(request.user)
        if escope is None:
            return render(request, "evaluation/refused.html", status=403)
        try:
            return view(request, escope, *args, **kwargs)
        except BadInput as error:
            if request.path.endswith(".json"):
                return JsonResponse({"detail": str(error), "errors": {}}, status=400)
            return render(request, "evaluation/bad_input.html", {"message": str(error)}, status=400)

    return require_GET(wrapper)


def page_context(
    request, escope, period: Period | None, category: Category | None, **extra
) -> dict:
    categories = (
        Category.objects.filter(is_active=True)
        .select_related("parent")
        .order_by("parent__sort_order", "parent__code", "sort_order", "code")
    )
    context = {
        "escope": escope,
        "period": period,
        "presets": PRESETS,
        "category": category,
        "categories": categories,
        "kinds": [(k, selectors.SUBJECT_KINDS[k].label) for k in selectors.kinds_for(escope)],
        "scored_kinds": [
            (k, selectors.SUBJECT_KINDS[k].label) for k in selectors.SCORED_KINDS[escope.tier]
        ],
        "as_of": selectors.data_as_of(),
        "nav": extra.pop("nav", ""),
        "query": request.GET.urlencode(),
    }
    context.update(extra)
    return context


def maybe_export(
    request, tables: list[Table], period: Period, subtitle: str
) -> HttpResponse | None:
    fmt = parse_export(request.GET)
    if not fmt:
        return None
    wanted = request.GET.get("table") or tables[0].key
    for table in tables:
        if table.key == wanted:
            return export_response(
                table, fmt, period=period.slug if period else "now", subtitle=subtitle
            )
    raise BadInput("没有这个表格。")


def export_value(code: str, value):
    if value is None:
        return None
    kind = INDICATORS[code].kind
    if kind == "rate":
        return round(value * 100, 1)
    if value == math.inf:
        return f">{HANDLE_BINS_HOURS[-1]:g}"
    if kind in ("hours", "stars"):
        return round(value, 2)
    return value


def header(code: str) -> str:
    label = INDICATORS[code].label
    return f"{label}(%)" if INDICATORS[code].kind == "rate" else label


def indicator_table(
    key: str,
    title: str,
    rows: list[selectors.Row],
    columns,
    kind: str,
    period: Period,
    category: Category | None,
) -> Table:
    spec = selectors.SUBJECT_KINDS[kind]
    table = Table(key=key, title=title, headers=[spec.label, "所属", *[header(c) for c in columns]])
    for row in rows:
        values = [
            row.subject.name,
            row.subject.parent,
            *[export_value(c, row.values[c]) for c in columns],
        ]
        shown = [
            row.subject.name,
            row.subject.parent,
            *[format_value(c, row.values[c]) for c in columns],
        ]
        link = (
            cases_link(
                **{spec.admin_filter: row.subject.id},
                **period.case_filters(),
                **category_filter(category),
            )
            if spec.admin_filter
            else ""
        )
        table.add(values, shown, link)
    return table


def carried_query(request) -> str:
    """The period, category and region of this page, for links to a detail page."""
    keep = {
        k: v for k, v in request.GET.items() if k in ("period", "from", "to", "category", "region")
    }
    return urlencode(keep)


def score_table(
    key: str, title: str, rows: list[selectors.ScoreRow], kind: str, weights: dict, carry: str = ""
) -> Table:
    spec = selectors.SUBJECT_KINDS[kind]
    codes = list(weights)
    table = Table(
        key=key,
        title=title,
        headers=[
            "排名",
            spec.label,
            "所属",
            "综合得分",
            *[f"{INDICATORS[c].label}得分" for c in codes],
            "主要失分",
        ],
    )
    for row in rows:
        parts = {p.code: p for p in row.parts}
        reasons = "；".join(f"{p.label} −{p.lost:.1f}" for p in row.reasons)
        scores = [None if (s := parts[c].score) is None else round(s, 1) for c in codes]
        values = [
            row.rank,
            row.subject.name,
            row.subject.parent,
            None if row.composite is None else round(row.composite, 1),
            *scores,
            reasons,
        ]
        shown = [
            "—" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v)) for v in values
        ]
        table.add(
            values,
            shown,
            f"/evaluation/scores/{kind}/{row.subject.id}/" + (f"?{carry}" if carry else ""),
        )
    return table


# --- pages ---------------------------------------------------------------------------------


@evaluation_view
def dashboard(request, escope):
    period = parse_period(request.GET)
    category = parse_category(request.GET)
    category_ids = selectors.category_ids_for(category)
    totals = selectors.totals_for(
        request.user,
        escope,
        first_day=period.first,
        last_day=period.last,
        category_ids=category_ids,
    )
    headline = [
        (code, INDICATORS[code].label, format_value(code, totals[code]))
        for code in (
            "reports",
            "accepted",
            "closure_rate",
            "handle_on_time_rate",
            "sign_on_time_rate",
            "overdue_now",
            "handle_hours_mean",
            "satisfaction_good_share",
        )
    ]
    tables, rankings = [], []
    for kind in selectors.SCORED_KINDS[escope.tier]:
        rows, weights = selectors.score_rows(
            request.user,
            escope,
            kind,
            first_day=period.first,
            last_day=period.last,
            category_ids=category_ids,
        )
        table = score_table(
            kind,
            f"{selectors.SUBJECT_KINDS[kind].label}考核排名",
            rows,
            kind,
            weights,
            carried_query(request),
        )
        tables.append(table)
        rankings.append({"kind": kind, "table": table, "rows": rows})
    board = selectors.colour_board(request.user, escope)
    exported = maybe_export(request, tables, period, f"{escope.home.name} {period.label}")
    if exported:
        return exported
    return render(
        request,
        "evaluation/dashboard.html",
        page_context(
            request,
            escope,
            period,
            category,
            nav="dashboard",
            headline=headline,
            rankings=rankings,
            board_totals=board["totals"],
            colours=_colour_labels(),
        ),
    )


@evaluation_view
def indicators(request, escope):
    period = parse_period(request.GET)
    category = parse_category(request.GET)
    kinds = selectors.kinds_for(escope)
    kind = request.GET.get("kind") or kinds[1 if len(kinds) > 1 else 0]
    if kind not in selectors.SUBJECT_KINDS:
        raise BadInput("未知的统计对象。")
    if kind not in kinds:
        raise Http404("您的辖区没有这一类统计对象。")
    within = parse_region(request.GET, escope)
    spec = selectors.SUBJECT_KINDS[kind]
    rows = selectors.indicator_rows(
        request.user,
        escope,
        kind,
        first_day=period.first,
        last_day=period.last,
        category_ids=selectors.category_ids_for(category),
        within=within,
    )
    title = f"{spec.label}指标" + (f"（{within.name}）" if within else "")
    table = indicator_table(kind, title, rows, spec.columns, kind, period, category)
    exported = maybe_export(request, [table], period, f"{escope.home.name} {period.label}")
    if exported:
        return exported
    return render(
        request,
        "evaluation/indicators.html",
        page_context(
            request,
            escope,
            period,
            category,
            nav="indicators",
            table=table,
            kind=kind,
            within=within,
            within_choices=selectors.subjects(escope, "town")
            + selectors.subjects(escope, "village")
            if escope.tier != "village"
            else [],
        ),
    )


@evaluation_view
def scores(request, escope):
    period = parse_period(request.GET)
    category = parse_category(request.GET)
    allowed = _score_kinds(escope)
    kind = request.GET.get("kind") or selectors.SCORED_KINDS[escope.tier][0]
    if kind not in EvaluateeKind.values:
        raise BadInput("未知的考核对象。")
    if kind not in allowed:
        raise Http404("您的辖区不考核这一类对象。")
    within = parse_region(request.GET, escope)
    rows, weights = selectors.score_rows(
        request.user,
        escope,
        kind,
        first_day=period.first,
        last_day=period.last,
        category_ids=selectors.category_ids_for(category),
        within=within,
    )
    title = f"{selectors.SUBJECT_KINDS[kind].label}考核排名" + (
        f"（{within.name}）" if within else ""
    )
    table = score_table(kind, title, rows, kind, weights, carried_query(request))
    weights_table = Table(key="weights", title="权重", headers=["指标", "权重", "说明"])
    total = sum(weights.values()) or 1
    for code, weight in weights.items():
        weights_table.add(
            [INDICATORS[code].label, weight, INDICATORS[code].definition],
            [
                INDICATORS[code].label,
                f"{weight:g}（{weight / total * 100:.0f}%）",
                INDICATORS[code].definition,
            ],
        )
    exported = maybe_export(
        request, [table, weights_table], period, f"{escope.home.name} {period.label}"
    )
    if exported:
        return exported
    return render(
        request,
        "evaluation/scores.html",
        page_context(
            request,
            escope,
            period,
            category,
            nav="scores",
            table=table,
            weights_table=weights_table,
            kind=kind,
            within=within,
            score_kinds=[(k, selectors.SUBJECT_KINDS[k].label) for k in allowed],
            within_choices=_within_choices(escope, kind),
        ),
    )


def _score_kinds(escope) -> list[str]:
    """A county reader may also open the towns' and villages' evaluations (read-only)."""
    kinds: list[str] = []
    for tier in ("county", "town", "village"):
        if (
            tier == escope.tier
            or (escope.tier == "county")
            or (escope.tier == "town" and tier == "village")
        ):
            kinds.extend(selectors.SCORED_KINDS[tier])
    return kinds


def _within_choices(escope, kind: str):
    if kind in ("village", "stationed") and escope.tier == "county":
        return selectors.subjects(escope, "town")
    if kind == "grid_worker" and escope.tier in ("county", "town"):
        return selectors.subjects(escope, "village")
    return []


@evaluation_view
def score_detail(request, escope, kind: str, subject_id: int):
    period = parse_period(request.GET)
    category = parse_category(request.GET)
    if kind not in _score_kinds(escope):
        raise Http404("您的辖区不考核这一类对象。")
    within = parse_region(request.GET, escope)
    rows, weights = selectors.score_rows(
        request.user,
        escope,
        kind,
        first_day=period.first,
        last_day=period.last,
        category_ids=selectors.category_ids_for(category),
        within=within,
    )
    row = next((r for r in rows if r.subject.id == subject_id), None)
    if row is None:
        raise Http404("不在您的辖区内。")
    table = Table(
        key=f"{kind}-{subject_id}",
        title=f"{row.subject.name} 得分构成",
        headers=["指标", "本期数值", "同级平均", "指标得分(0-100)", "权重占比(%)", "得分", "失分"],
    )
    for p in row.parts:
        values = [
            p.label,
            export_value(p.code, p.value),
            export_value(p.code, p.peer_mean),
            None if p.score is None else round(p.score, 1),
            round(p.share * 100, 1),
            round(p.points, 2),
            round(p.lost, 2),
        ]
        shown = [
            p.label,
            format_value(p.code, p.value),
            format_value(p.code, p.peer_mean),
            "无数据" if p.score is None else f"{p.score:.1f}",
            f"{p.share * 100:.1f}",
            f"{p.points:.2f}",
            f"{p.lost:.2f}",
        ]
        table.add(values, shown)
    exported = maybe_export(request, [table], period, f"{escope.home.name} {period.label}")
    if exported:
        return exported
    return render(
        request,
        "evaluation/score_detail.html",
        page_context(
            request,
            escope,
            period,
            category,
            nav="scores",
            row=row,
            table=table,
            kind=kind,
            peers=len(rows),
            reasons=[
                {
                    "label": p.label,
                    "value": format_value(p.code, p.value),
                    "mean": format_value(p.code, p.peer_mean),
                    "score": p.score,
                    "lost": p.lost,
                    "share": p.share * 100,
                }
                for p in row.reasons
            ],
            kind_label=selectors.SUBJECT_KINDS[kind].label,
            within=within,
        ),
    )


GRANULARITIES = {"day": "按日", "week": "按周", "month": "按月"}


@evaluation_view
def hotspots(request, escope):
    period = parse_period(request.GET)
    category = parse_category(request.GET)
    category_ids = selectors.category_ids_for(category)
    within = parse_region(request.GET, escope)
    granularity = request.GET.get("granularity") or (
        "day" if (period.last - period.first).days <= 62 else "month"
    )
    if granularity not in GRANULARITIES:
        raise BadInput("时间粒度只能是按日、按周或按月。")
    area = within or escope.home
    level, key = area.tier, area.pk
    base = {
        **period.case_filters(),
        **category_filter(category),
        selectors.SUBJECT_KINDS[area.tier].admin_filter: area.pk,
    }
    common = dict(first_day=period.first, last_day=period.last, category_ids=category_ids)

    by_category = selectors.counts_by(level=level, keys=[key], group="category_id", **common)
    labels = selectors.category_labels(by_category)
    cat_table = Table(key="category", title="按分类", headers=["分类", "上报数"])
    for cid, n in sorted(by_category.items(), key=lambda kv: -kv[1]):
        cat_table.add([labels.get(cid, "?"), n], link=cases_link(**{**base, "cat": cid}))

    sub_tier = {"county": "town", "town": "village", "village": "grid"}[area.tier]
    subs = selectors.subjects(escope, sub_tier, within=area)
    by_area = selectors.counts_by(level=sub_tier, keys=[s.id for s in subs], **common)
    spec = selectors.SUBJECT_KINDS[sub_tier]
    area_table = Table(key="area", title=f"按{spec.label}", headers=[spec.label, "所属", "上报数"])
    for sub in sorted(subs, key=lambda s: -by_area.get(s.id, 0)):
        if by_area.get(sub.id):
            area_table.add(
                [sub.name, sub.parent, by_area[sub.id]],
                link=cases_link(
                    **{
                        **period.case_filters(),
                        **category_filter(category),
                        spec.admin_filter: sub.id,
                    }
                ),
            )

    unit_kinds = [
        k for k in ("department", "stationed", "workstation") if k in selectors.kinds_for(escope)
    ]
    units = [u for k in unit_kinds for u in selectors.subjects(escope, k, within=within)]
    by_unit = selectors.counts_by(
        level="unit", keys=[u.id for u in units], metric="dispatched", **common
    )
    unit_table = Table(
        key="unit", title="按处置单位（派单数）", headers=["处置单位", "所在", "派单数"]
    )
    for unit in sorted(units, key=lambda u: -by_unit.get(u.id, 0)):
        if by_unit.get(unit.id):
            unit_table.add(
                [unit.name, unit.parent, by_unit[unit.id]],
                link=cases_link(unit=unit.id, **period.case_filters(), **category_filter(category)),
            )

    by_day = selectors.counts_by(level=level, keys=[key], group="day", **common)
    series = selectors.trend(by_day, period.first, period.last, granularity)
    trend_table = Table(
        key="trend",
        title=f"上报趋势（{GRANULARITIES[granularity]}）",
        headers=["起始日期", "上报数"],
    )
    for start, n in series:
        end = min(_bucket_end(start, granularity), period.last)
        trend_table.add(
            [start.isoformat(), n],
            link=cases_link(
                **{
                    **base,
                    "created_from": max(start, period.first).isoformat(),
                    "created_to": end.isoformat(),
                }
            ),
        )

    cells = selectors.heat_cells(escope, within=area if area != escope.home else None, **common)
    cell_table = Table(key="cells", title="网格热力", headers=["网格", "村/社区", "上报数"])
    for cell in cells:
        link = cases_link(grid=cell["id"], **period.case_filters(), **category_filter(category))
        cell["href"] = link
        cell_table.add([cell["name"], cell["village"], cell["n"]], link=link)

    tables = [cat_table, area_table, unit_table, trend_table, cell_table]
    exported = maybe_export(request, tables, period, f"{area.name} {period.label}")
    if exported:
        return exported

    def bars(table: Table, value_col: int, limit: int = 15):
        return [
            charts.Bar(r[0], r[value_col], link)
            for r, link in zip(table.rows[:limit], table.links[:limit])
        ]

    return render(
        request,
        "evaluation/hotspots.html",
        page_context(
            request,
            escope,
            period,
            category,
            nav="hotspots",
            area=area,
            within=within,
            granularity=granularity,
            granularities=GRANULARITIES.items(),
            tables=tables,
            cat_chart=charts.bar_chart(bars(cat_table, 1), title="按分类"),
            area_chart=charts.bar_chart(bars(area_table, 2), title=f"按{spec.label}"),
            unit_chart=charts.bar_chart(bars(unit_table, 2), title="按处置单位（派单数）"),
            trend_chart=charts.line_chart(
                [
                    (r[0][5:] if granularity != "month" else r[0][:7], r[1], link)
                    for r, link in zip(trend_table.rows, trend_table.links)
                ],
                title="上报趋势",
            ),
            cells=cells,
            total=sum(by_category.values()),
            within_choices=selectors.subjects(escope, "town")
            + selectors.subjects(escope, "village")
            if escope.tier != "village"
            else [],
            map_center=settings.MAP_DEFAULT_CENTER,
            tiles_url=settings.MAP_TILES_URL,
            tiles_attribution=settings.MAP_TILES_ATTRIBUTION,
        ),
    )


def _bucket_end(start: dt.date, granularity: str) -> dt.date:
    if granularity == "week":
        return start + dt.timedelta(days=6)
    if granularity == "month":
        return start.replace(day=calendar.monthrange(start.year, start.month)[1])
    return start


def _colour_labels():
    return [(c, Colour(c).label) for c in selectors.OPEN_COLOURS]


def _board_tables(board) -> list[Table]:
    labels = [label for _c, label in _colour_labels()]
    units = Table(key="units", title="各单位在办事件（分色）", headers=["单位", *labels, "合计"])
    for u in board["units"]:
        units.add(
            [u["name"], *[u["counts"][c] for c in selectors.OPEN_COLOURS], u["total"]],
            link=f"{CASES_ADMIN}?{u['filter']}&state=open",
        )
    areas = Table(
        key="areas",
        title=f"各{board['area_label']}在办事件（分色）",
        headers=[board["area_label"], *labels, "合计"],
    )
    for a in board["areas"]:
        areas.add(
            [a["name"], *[a["counts"][c] for c in selectors.OPEN_COLOURS], a["total"]],
            link=f"{CASES_ADMIN}?{a['filter']}&state=open",
        )
    return [units, areas]


@evaluation_view
def board(request, escope):
    data = selectors.colour_board(request.user, escope)
    tables = _board_tables(data)
    fmt = parse_export(request.GET)
    if fmt:
        exported = maybe_export(
            request, tables, None, f"{escope.home.name} {timezone.localtime():%Y-%m-%d %H:%M}"
        )
        if exported:
            return exported
    return render(
        request,
        "evaluation/board.html",
        page_context(
            request,
            escope,
            None,
            None,
            nav="board",
            board=data,
            tables=tables,
            colours=_colour_labels(),
            colour_codes_json=json.dumps(list(selectors.OPEN_COLOURS)),
            area_field_json=json.dumps(data["area_field"]),
        ),
    )


@evaluation_view
def board_json(request, escope):
    data = selectors.colour_board(request.user, escope)
    return JsonResponse(
        {
            "as_of": timezone.localtime(data["as_of"]).isoformat(),
            "colours": [c for c in selectors.OPEN_COLOURS],
            "totals": data["totals"],
            "units": [
                {k: u[k] for k in ("kind", "id", "name", "counts", "total")} for u in data["units"]
            ],
            "areas": [{k: a[k] for k in ("id", "name", "counts", "total")} for a in data["areas"]],
            "area_label": data["area_label"],
            "area_field": data["area_field"],
        }
    )


@evaluation_view
def help_page(request, escope):
    return render(
        request,
        "evaluation/help.html",
        page_context(
            request,
            escope,
            None,
            None,
            nav="help",
            indicators=INDICATORS.values(),
            bins=HANDLE_BINS_HOURS,
            metrics=ROLLUP_METRICS,
            hist=HIST_FIELDS,
            weights={k: selectors.weights_for(k) for k in EvaluateeKind.values},
            kind_labels=dict(EvaluateeKind.choices),
        ),
    )
