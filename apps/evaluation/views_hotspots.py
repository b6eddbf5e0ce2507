"""The hotspot page (reports by category, area, unit, period and grid) and the colour board
(HTML, export and the JSON it polls). Shared helpers are in ``views``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json

from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from apps.core.maps import map_config
from apps.evaluation import charts, selectors
from apps.evaluation.exports import Table
from apps.evaluation.selectors.hotspots import (
    category_labels,
    colour_board,
    counts_by,
    heat_cells,
    trend,
)
from apps.evaluation.views import (
    CASES_ADMIN,
    BadInput,
    cases_link,
    category_filter,
    colour_labels,
    evaluation_view,
    maybe_export,
    page_context,
    parse_category,
    parse_export,
    parse_period,
    parse_region,
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

    by_category = counts_by(level=level, keys=[key], group="category_id", **common)
    labels = category_labels(by_category)
    cat_table = Table(key="category", title="按分类", headers=["分类", "上报数"])
    for cid, n in sorted(by_category.items(), key=lambda kv: -kv[1]):
        cat_table.add([labels.get(cid, "?"), n], link=cases_link(**{**base, "cat": cid}))

    sub_tier = {"county": "town", "town": "village", "village": "grid"}[area.tier]
    subs = selectors.subjects(escope, sub_tier, within=area)
    by_area = counts_by(level=sub_tier, keys=[s.id for s in subs], **common)
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
    by_unit = counts_by(level="unit", keys=[u.id for u in units], metric="dispatched", **common)
    unit_table = Table(
        key="unit", title="按处置单位（派单数）", headers=["处置单位", "所在", "派单数"]
    )
    for unit in sorted(units, key=lambda u: -by_unit.get(u.id, 0)):
        if by_unit.get(unit.id):
            unit_table.add(
                [unit.name, unit.parent, by_unit[unit.id]],
                link=cases_link(unit=unit.id, **period.case_filters(), **category_filter(category)),
            )

    by_day = counts_by(level=level, keys=[key], group="day", **common)
    series = trend(by_day, period.first, period.last, granularity)
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

    cells = heat_cells(escope, within=area if area != escope.home else None, **common)
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
            map_config=map_config(),
        ),
    )


def _bucket_end(start: dt.date, granularity: str) -> dt.date:
    if granularity == "week":
        return start + dt.timedelta(days=6)
    if granularity == "month":
        return start.replace(day=calendar.monthrange(start.year, start.month)[1])
    return start


def _board_tables(board) -> list[Table]:
    labels = [label for _c, label in colour_labels()]
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
    data = colour_board(request.user, escope)
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
            colours=colour_labels(),
            colour_codes_json=json.dumps(list(selectors.OPEN_COLOURS)),
            area_field_json=json.dumps(data["area_field"]),
        ),
    )


@evaluation_view
def board_json(request, escope):
    data = colour_board(request.user, escope)
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
