"""The three-level evaluation pages (三级考核): the ranked scores of one kind of subject and
the breakdown of one subject's composite. Shared helpers are in ``views``.
"""

from __future__ import annotations

from django.http import Http404

from apps.evaluation import selectors
from apps.evaluation.exports import Table
from apps.evaluation.indicators import INDICATORS, format_value
from apps.evaluation.models import EvaluateeKind
from apps.evaluation.selectors.scores import score_rows
from apps.evaluation.views import (
    BadInput,
    carried_query,
    evaluation_view,
    export_or_render,
    export_value,
    parse_category,
    parse_period,
    parse_region,
    period_filters,
    score_table,
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
    rows, weights = score_rows(
        request.user, escope, kind, **period_filters(period, category, within)
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
    return export_or_render(
        request,
        escope,
        period,
        category,
        [table, weights_table],
        "evaluation/scores.html",
        nav="scores",
        table=table,
        weights_table=weights_table,
        kind=kind,
        within=within,
        score_kinds=[(k, selectors.SUBJECT_KINDS[k].label) for k in allowed],
        within_choices=_within_choices(escope, kind),
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
    rows, weights = score_rows(
        request.user, escope, kind, **period_filters(period, category, within)
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
    return export_or_render(
        request,
        escope,
        period,
        category,
        [table],
        "evaluation/score_detail.html",
        nav="scores",
        row=row,
        table=table,
        kind=kind,
        # Ranked among the subjects with data; the others are unranked (help page #no-data).
        peers=sum(1 for r in rows if r.rank is not None),
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
    )
