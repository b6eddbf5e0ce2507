"""Pages for leaders and desks at /evaluation/: dashboard, indicator tables, three-level
evaluation, hotspots, the colour board and the definitions. Thin: parse and check the input,
call the selectors, render (HTML, JSON, CSV or Excel). This module holds the shared helpers
(period, filters, exports, tables), the dashboard, the indicator tables and the definitions; the
three-level evaluation pages are in ``views_scores``, the hotspots and the colour board in
``views_hotspots``.

Every page is login-only and scoped (``selectors.evaluation_scope``): a grid worker or a
department handler is refused, and a region outside the reader's scope answers 404.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from apps.cases.models import Category, Colour
from apps.evaluation import selectors
from apps.evaluation.exports import EXPORT_FORMATS, Table, export_response
from apps.evaluation.indicators import (
    HANDLE_BINS_HOURS,
    HIST_FIELDS,
    INDICATORS,
    ROLLUP_METRICS,
    format_value,
)
from apps.evaluation.models import EvaluateeKind
from apps.evaluation.selectors.hotspots import colour_board, overview_charts
from apps.evaluation.selectors.scores import ScoreRow, score_rows, weights_for
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


def export_or_render(
    request,
    escope,
    period: Period,
    category: Category | None,
    tables: list[Table],
    template: str,
    **extra,
) -> HttpResponse:
    """The page, or the table the query names as a file when it asks for an export."""
    exported = maybe_export(request, tables, period, f"{escope.home.name} {period.label}")
    if exported:
        return exported
    return render(request, template, page_context(request, escope, period, category, **extra))


def period_filters(period: Period, category: Category | None, within: Region | None) -> dict:
    """The page's filters as the keyword arguments of the rows selectors."""
    return {
        "first_day": period.first,
        "last_day": period.last,
        "category_ids": selectors.category_ids_for(category),
        "within": within,
    }


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
    key: str, title: str, rows: list[ScoreRow], kind: str, weights: dict, carry: str = ""
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
    # Under each on-time rate: how many open cases already late it counts (help page #on-time).
    late_notes = {
        "handle_on_time_rate": totals["handle_late_open"],
        "sign_on_time_rate": totals["sign_late_open"],
    }
    headline = [
        (
            code,
            INDICATORS[code].label,
            format_value(code, totals[code]),
            gettext("含未完成的超时事件 %(n)s 件") % {"n": late_notes[code]}
            if late_notes.get(code)
            else "",
        )
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
        rows, weights = score_rows(
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
    board = colour_board(request.user, escope)
    charts = overview_charts(
        escope,
        first_day=period.first,
        last_day=period.last,
        category_ids=category_ids,
        board_totals=board["totals"],
    )
    chart_data = {
        **charts,
        # The series' names, here so they are translated with the page.
        "series": {
            "reports": gettext("上报"),
            "closed": gettext("其中已结案（按上报日）"),
            "handled": gettext("处置反馈"),
            "categories": gettext("上报数"),
        },
    }
    return export_or_render(
        request,
        escope,
        period,
        category,
        tables,
        "evaluation/dashboard.html",
        nav="dashboard",
        headline=headline,
        rankings=rankings,
        board_totals=board["totals"],
        colours=colour_labels(),
        charts=chart_data,
        granularity_label=gettext("按日") if charts["granularity"] == "day" else gettext("按周"),
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
        request.user, escope, kind, **period_filters(period, category, within)
    )
    title = f"{spec.label}指标" + (f"（{within.name}）" if within else "")
    table = indicator_table(kind, title, rows, spec.columns, kind, period, category)
    return export_or_render(
        request,
        escope,
        period,
        category,
        [table],
        "evaluation/indicators.html",
        nav="indicators",
        table=table,
        kind=kind,
        within=within,
        within_choices=selectors.subjects(escope, "town") + selectors.subjects(escope, "village")
        if escope.tier != "village"
        else [],
    )


def colour_labels():
    return [(c, Colour(c).label) for c in selectors.OPEN_COLOURS]


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
            weights={k: weights_for(k) for k in EvaluateeKind.values},
            kind_labels=dict(EvaluateeKind.choices),
        ),
    )
