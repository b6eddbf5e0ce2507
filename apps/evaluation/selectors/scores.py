"""The three-level evaluation (三级考核): weights, each indicator's 0–100 score against its
peers, and the ranked composite of every subject with its breakdown (ScoreRow/ScorePart).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from apps.evaluation.indicators import DEFAULT_WEIGHTS, INDICATORS
from apps.evaluation.models import EvaluationWeight
from apps.evaluation.selectors import EvalScope, Subject, indicator_rows
from apps.org.models import Region
from apps.org.scope import AnyUser


def weights_for(kind: str) -> dict[str, float]:
    rows = dict(EvaluationWeight.objects.filter(kind=kind).values_list("indicator", "weight"))
    weights = rows if rows else DEFAULT_WEIGHTS.get(kind, {})
    return {code: float(w) for code, w in weights.items() if w > 0 and code in INDICATORS}


def indicator_score(
    code: str, value: float | int | None, peers: list[float | int | None]
) -> float | None:
    """A value as a 0–1 score among its peers (``Indicator.scoring``); None: no data."""
    if value is None:
        return None
    how = INDICATORS[code].scoring
    known = [p for p in peers if p is not None]
    if how == "value":
        return max(0.0, min(1.0, float(value)))
    if how == "inverse":
        return max(0.0, min(1.0, 1.0 - float(value)))
    if how == "stars":
        return max(0.0, min(1.0, (float(value) - 1.0) / 4.0))
    if how == "relative":
        best = max(known, default=0)
        return float(value) / best if best else None
    if how == "relative_low":
        # Min–max among the peers: the fewest gets 1, the most gets 0, all equal get 1.
        worst, best = max(known, default=0), min(known, default=0)
        return (worst - float(value)) / (worst - best) if worst > best else 1.0
    if how == "fastest":
        fastest = min((p for p in known if p > 0), default=None)
        if fastest is None:
            return 1.0 if value == 0 else None
        return min(1.0, fastest / float(value)) if value else 1.0
    raise ValueError(how)


def has_data(counters: dict[str, int]) -> bool:
    """Whether a subject has anything to be scored on: some counter of the period (a report, a
    dispatch, a signing, a rating …) or a live count (overdue now, late and still open)."""
    return any(counters.values())


@dataclass
class ScorePart:
    code: str
    label: str
    value: float | int | None
    score: float | None  # 0–100
    weight: float
    share: float  # this indicator's share of the weights actually used (0–1)
    points: float  # contribution to the composite
    lost: float  # points lost against a perfect score
    peer_mean: float | None


@dataclass
class ScoreRow:
    subject: Subject
    composite: float | None
    rank: int | None
    parts: list[ScorePart] = field(default_factory=list)

    @property
    def reasons(self) -> list[ScorePart]:
        """Where the points were lost, biggest first: "why it ranks here"."""
        return [p for p in sorted(self.parts, key=lambda p: -p.lost) if p.lost >= 0.05][:3]


def score_rows(
    user: AnyUser,
    escope: EvalScope,
    kind: str,
    *,
    first_day: dt.date,
    last_day: dt.date,
    category_ids: list[int] | None = None,
    within: Region | None = None,
) -> tuple[list[ScoreRow], dict[str, float]]:
    """Composite scores and ranking of one kind of evaluatee.

    1. Compute each weighted indicator for every subject.
    2. Turn each value into a 0–1 score among the peers (``indicator_score``).
    3. Composite = Σ weight × score ÷ Σ weight over the indicators that have data for that
       subject (an indicator without data — a zero denominator, e.g. no ratings — neither
       helps nor hurts: the other weights are renormalised), × 100.
    4. A subject with no data at all (``has_data``: nothing counted in the period and nothing
       late or overdue now) gets no composite and no rank — "—", listed last. It is not a
       peer either: its zero counts do not set the "best" for the others. Without this, a
       department with no cases scored 100 on "当前超时数 0" alone and tied for first.
    5. Rank by composite (ties share a rank).
    """
    weights = weights_for(kind)
    codes = tuple(weights)
    rows = indicator_rows(
        user,
        escope,
        kind,
        first_day=first_day,
        last_day=last_day,
        category_ids=category_ids,
        within=within,
        columns=codes or ("reports",),
    )
    active = [has_data(r.counters) for r in rows]
    peers = {
        code: [r.values.get(code) for r, a in zip(rows, active, strict=True) if a] for code in codes
    }
    means: dict[str, float | None] = {}
    for code in codes:
        known = [v for v in peers[code] if v is not None and v != math.inf]
        means[code] = sum(known) / len(known) if known else None
    result: list[ScoreRow] = []
    for row, row_active in zip(rows, active, strict=True):
        scored: list[tuple[str, float | int | None, float | None]] = []
        for code in codes:
            value = row.values.get(code) if row_active else None
            scored.append((code, value, indicator_score(code, value, peers[code])))
        used = sum(weights[c] for c, _v, s in scored if s is not None)
        parts: list[ScorePart] = []
        for code, value, score in scored:
            share = weights[code] / used if (used and score is not None) else 0.0
            points = share * score * 100 if score is not None else 0.0
            parts.append(
                ScorePart(
                    code=code,
                    label=INDICATORS[code].label,
                    value=value,
                    score=None if score is None else score * 100,
                    weight=weights[code],
                    share=share,
                    points=points,
                    lost=share * 100 - points if score is not None else 0.0,
                    peer_mean=means[code],
                )
            )
        composite = sum(p.points for p in parts) if used else None
        result.append(ScoreRow(subject=row.subject, composite=composite, rank=None, parts=parts))
    result.sort(key=lambda r: (r.composite is None, -(r.composite or 0), r.subject.name))
    rank, previous = 0, None
    for index, ranked in enumerate(result, start=1):
        if ranked.composite is None:
            continue
        rounded = round(ranked.composite, 2)
        if rounded != previous:
            rank, previous = index, rounded
        ranked.rank = rank
    return result, weights


# --- hotspots ------------------------------------------------------------------------------
