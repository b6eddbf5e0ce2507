"""The indicators (考核指标): what each one means, written once, next to how it is computed.

Two layers:

1. **Counters** (``ROLLUP_METRICS``): plain sums that can be added across days, places and
   categories. ``apps.evaluation.rollups.facts`` says which raw fact increments which counter
   (the query is there; its comment points back here). Counters are stored per day in
   ``DailyRollup`` and recomputed from the raw data whenever that day changes.
2. **Indicators** (``INDICATORS``): what people read — counts, rates, times — each a small
   formula over the counters of a period, with its definition in Chinese. The help page
   (/evaluation/help/) renders exactly these definitions.

Periods are local days (Asia/Shanghai), both ends included. A case is placed by where it is
(its grid, village, town, county); a unit gets what it did (the unit on the history event) or
what it leads now; a person gets what they reported, verified or handled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

# Upper bounds (hours) of the handling-time histogram; the last bin is "longer than 720 h".
HANDLE_BINS_HOURS: tuple[float, ...] = (1, 2, 4, 8, 12, 24, 48, 72, 120, 168, 336, 720)
HIST_FIELDS: tuple[str, ...] = tuple(f"hist_{i:02d}" for i in range(len(HANDLE_BINS_HOURS) + 1))

# Every counter kept per day × level × key × category. Definitions (the fact that adds 1):
ROLLUP_METRICS: tuple[str, ...] = (
    "reports",  # a case reported (created) that day
    "self_resolved",  # a 当场处置 report (history action self_resolve) that day
    "accepted",  # a case reported that day that is now registered: not waiting, rejected or merged
    "rejected",  # a case reported that day that is now rejected or merged into another (不予立案)
    "closed",  # a case reported that day, registered, and now closed (结案)
    "dispatched",  # a dispatch (派遣, incl. joint response with a lead unit) that day
    "returned",  # a return (退单) that day
    "signed",  # a signing (签收) that day
    "signed_timed",  # … of a case never deferred (the on-time denominator)
    "signed_on_time",  # … and it was not late
    "handled",  # a handling report (处置反馈) that day
    "handled_timed",  # … of a case never deferred
    "handled_on_time",  # … made before the case's 办结时限 (or the case has none)
    "handle_n",  # … with a dispatch before it: its handling time is known
    "handle_minutes",  # … sum of those handling times, whole minutes
    *HIST_FIELDS,  # … histogram of those handling times (bins above)
    "verified",  # a verification (核查, pass or fail) that day
    "verify_failed",  # … that failed: rework (返工)
    "extension_requested",  # an extension request (延期申请) that day
    "extension_granted",  # an extension approval that day
    "escalated",  # an escalation to the tier above (上报上级) that day
    "ratings",  # a citizen rating given that day
    "stars",  # … sum of its stars (1–5)
    "ratings_good",  # … with 4 or 5 stars
)


# Live terms of the on-time rates, counted at read time (``selectors.late_open``), not rolled
# up: a case that is late and still open has no event yet, and it stops being counted here the
# moment its signing or handling event is recorded (and counted by the rollups instead).
LATE_OPEN_TERMS: tuple[str, ...] = (
    "sign_late_open",  # open, waiting to be signed, signing deadline passed within the period
    "handle_late_open",  # open, not yet handled, 办结时限 passed within the period
)


def handle_bin(minutes: int) -> int:
    """Index of the histogram bin for a handling time (a bin includes its upper bound)."""
    hours = minutes / 60.0
    for index, bound in enumerate(HANDLE_BINS_HOURS):
        if hours <= bound:
            return index
    return len(HANDLE_BINS_HOURS)


Counters = Mapping[str, int]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def p90_hours(c: Counters) -> float | None:
    """The smallest histogram bound under which at least 90 % of handling times fall
    (nearest rank: the ⌈0.9·n⌉-th shortest); ``math.inf`` when that is the open last bin."""
    n = c.get("handle_n", 0)
    if not n:
        return None
    rank = math.ceil(0.9 * n)
    running = 0
    for index, name in enumerate(HIST_FIELDS):
        running += c.get(name, 0)
        if running >= rank:
            return HANDLE_BINS_HOURS[index] if index < len(HANDLE_BINS_HOURS) else math.inf
    return math.inf


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    # count | rate | hours | stars
    kind: str
    definition: str
    formula: Callable[[Counters], float | int | None]
    # higher | lower: which direction is better, for scoring
    better: str = "higher"
    # How a value becomes a 0–1 score among peers: "value" (a rate), "inverse" (1 − rate),
    # "relative" (value ÷ best peer), "relative_low" ((worst − value) ÷ (worst − best) among peers),
    # "fastest" (fastest peer ÷ value), "stars" ((mean − 1) ÷ 4).
    scoring: str = "value"
    scorable: bool = True
    live: bool = False  # computed from the current state, not from the period's counters


def _i(code, label, kind, definition, formula, **kw) -> tuple[str, Indicator]:
    return code, Indicator(
        code=code, label=label, kind=kind, definition=definition, formula=formula, **kw
    )


INDICATORS: dict[str, Indicator] = dict(
    [
        _i(
            "reports",
            "发现上报数",
            "count",
            "期内上报（创建）的事件数。地区按事件所在网格归属；人员按上报人统计（网格员的“发现数”）。",
            lambda c: c.get("reports", 0),
            scoring="relative",
        ),
        _i(
            "self_resolved",
            "当场处置数",
            "count",
            "期内网格员当场处置并上报的事件数（处置记录“当场处置”）。",
            lambda c: c.get("self_resolved", 0),
            scoring="relative",
        ),
        _i(
            "accepted",
            "立案数",
            "count",
            "期内上报的事件中，目前已立案办理的件数：不含仍待受理、不予立案和已合并的事件；"
            "当场处置的事件也算立案。单位按当前牵头单位统计。",
            lambda c: c.get("accepted", 0),
            scorable=False,
        ),
        _i(
            "rejected",
            "不予立案数",
            "count",
            "期内上报的事件中，目前为“不予立案”或“已合并（重复上报）”的件数。",
            lambda c: c.get("rejected", 0),
            scorable=False,
        ),
        _i(
            "dispatched",
            "派单数",
            "count",
            "期内的派遣次数（含闪电集结时的牵头派遣），按接单的牵头单位统计；改派、退单后再派各算一次。",
            lambda c: c.get("dispatched", 0),
            scorable=False,
        ),
        _i(
            "sign_on_time_rate",
            "按时签收率",
            "rate",
            "按时签收次数 ÷（期内签收次数 + 此刻仍未签收、签收时限已在期内过去的事件数）。"
            "按时签收：在签收时限内签收。还没签收却已超时的事件算未按时，不会因为“还没签收”而不计；"
            "一旦签收，就按那次签收计入它签收的那一天。曾挂账（缓办）的事件不计入。",
            lambda c: _ratio(
                c.get("signed_on_time", 0),
                c.get("signed_timed", 0) + c.get("sign_late_open", 0),
            ),
        ),
        _i(
            "handle_on_time_rate",
            "按时处置率",
            "rate",
            "按时处置反馈次数 ÷（期内处置反馈次数 + 此刻已派遣或处置中、办结时限已在期内过去却还没有处置反馈的事件数）。"
            "按时：在事件办结时限（含已批准的延期）之前反馈；没有办结时限的算按时。"
            "已超过办结时限仍未处置的事件算未按时，不会因为“还没处置”而不计；一旦反馈，就按那次反馈计入反馈的那一天。"
            "曾挂账（缓办）的事件不计入。",
            lambda c: _ratio(
                c.get("handled_on_time", 0),
                c.get("handled_timed", 0) + c.get("handle_late_open", 0),
            ),
        ),
        _i(
            "closure_rate",
            "结案率",
            "rate",
            "期内上报并已立案的事件中，目前已结案的比例 = 已结案件数 ÷ 立案数。",
            lambda c: _ratio(c.get("closed", 0), c.get("accepted", 0)),
        ),
        _i(
            "rework_rate",
            "返工率",
            "rate",
            "期内现场核查中未通过（返工）的比例 = 核查不通过次数 ÷ 核查次数。单位按事件当前牵头单位统计。",
            lambda c: _ratio(c.get("verify_failed", 0), c.get("verified", 0)),
            better="lower",
            scoring="inverse",
        ),
        _i(
            "return_rate",
            "退单率",
            "rate",
            "期内退单次数 ÷ 期内派单次数（按单位统计：该单位的退单 ÷ 派给它的单）。",
            lambda c: _ratio(c.get("returned", 0), c.get("dispatched", 0)),
            better="lower",
            scoring="inverse",
        ),
        _i(
            "extension_requested",
            "申请延期数",
            "count",
            "期内处置单位提出的延期申请次数。",
            lambda c: c.get("extension_requested", 0),
            better="lower",
            scoring="relative_low",
        ),
        _i(
            "extension_granted",
            "批准延期数",
            "count",
            "期内获批准的延期申请次数（按申请单位统计）。",
            lambda c: c.get("extension_granted", 0),
            scorable=False,
        ),
        _i(
            "overdue_now",
            "当前超时数",
            "count",
            "此刻仍未办结、未挂账、且当前环节已过时限的事件数（实时，不随统计期变化）。"
            "地区按事件所在地，单位按当前牵头单位。",
            lambda c: c.get("overdue_now", 0),
            better="lower",
            scoring="relative_low",
            live=True,
        ),
        _i(
            "handle_hours_mean",
            "平均处置时长（小时）",
            "hours",
            "期内每次处置反馈距该事件此前最近一次派遣的自然小时数的平均值；曾挂账的事件不计入。",
            lambda c: (c["handle_minutes"] / c["handle_n"] / 60.0) if c.get("handle_n") else None,
            better="lower",
            scoring="fastest",
        ),
        _i(
            "handle_hours_p90",
            "90% 处置时长（小时内）",
            "hours",
            "同上的处置时长中，90% 的处置在多少小时内完成：取最小的分档上限（1、2、4、8、12、24、48、72、120、"
            "168、336、720 小时），使不超过它的处置次数 ≥ ⌈0.9 × 处置次数⌉；超过 720 小时显示为“>720”。",
            p90_hours,
            better="lower",
            scorable=False,
        ),
        _i(
            "escalated",
            "上报上级数",
            "count",
            "期内因超出能力、多次退单或超时而上报到上一层级的次数（不含重大事件直报区县的闪电集结）。",
            lambda c: c.get("escalated", 0),
            better="lower",
            scoring="relative_low",
        ),
        _i(
            "verified",
            "核查次数",
            "count",
            "期内完成的现场核查次数（通过或不通过）；人员按核查人统计。",
            lambda c: c.get("verified", 0),
            scoring="relative",
        ),
        _i(
            "handled",
            "处置反馈数",
            "count",
            "期内的处置反馈次数；人员按反馈人统计。",
            lambda c: c.get("handled", 0),
            scorable=False,
        ),
        _i(
            "satisfaction_mean",
            "群众评价均分",
            "stars",
            "期内群众评价的平均星级（1–5 星）。地区按事件所在地，单位按事件当前牵头单位。",
            lambda c: _ratio(c.get("stars", 0), c.get("ratings", 0)),
            scoring="stars",
        ),
        _i(
            "satisfaction_good_share",
            "满意率（4–5 星）",
            "rate",
            "期内群众评价中 4 星或 5 星的比例。",
            lambda c: _ratio(c.get("ratings_good", 0), c.get("ratings", 0)),
        ),
    ]
)

# Which indicators each kind of table shows, in order.
REGION_COLUMNS = (
    "reports",
    "accepted",
    "rejected",
    "dispatched",
    "closure_rate",
    "sign_on_time_rate",
    "handle_on_time_rate",
    "rework_rate",
    "return_rate",
    "extension_requested",
    "extension_granted",
    "overdue_now",
    "handle_hours_mean",
    "handle_hours_p90",
    "escalated",
    "satisfaction_mean",
    "satisfaction_good_share",
)
UNIT_COLUMNS = (
    "dispatched",
    "accepted",
    "sign_on_time_rate",
    "handle_on_time_rate",
    "closure_rate",
    "rework_rate",
    "return_rate",
    "extension_requested",
    "extension_granted",
    "overdue_now",
    "handle_hours_mean",
    "handle_hours_p90",
    "satisfaction_mean",
    "satisfaction_good_share",
)
GRID_WORKER_COLUMNS = ("reports", "self_resolved", "verified", "rework_rate")
HANDLER_COLUMNS = ("handled", "handle_on_time_rate", "handle_hours_mean", "handle_hours_p90")

# Default weights of the composite score (editable in the admin: EvaluationWeight).
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "town": {
        "handle_on_time_rate": 25,
        "closure_rate": 20,
        "sign_on_time_rate": 10,
        "rework_rate": 10,
        "return_rate": 5,
        "overdue_now": 10,
        "satisfaction_good_share": 15,
        "escalated": 5,
    },
    "village": {
        "handle_on_time_rate": 25,
        "closure_rate": 20,
        "sign_on_time_rate": 10,
        "rework_rate": 10,
        "overdue_now": 15,
        "satisfaction_good_share": 15,
        "escalated": 5,
    },
    "department": {
        "sign_on_time_rate": 20,
        "handle_on_time_rate": 25,
        "closure_rate": 15,
        "return_rate": 10,
        "rework_rate": 10,
        "overdue_now": 10,
        "satisfaction_good_share": 10,
    },
    "stationed": {
        "sign_on_time_rate": 20,
        "handle_on_time_rate": 25,
        "closure_rate": 15,
        "return_rate": 10,
        "rework_rate": 10,
        "overdue_now": 10,
        "satisfaction_good_share": 10,
    },
    "grid_worker": {"reports": 50, "self_resolved": 20, "verified": 30},
}


def evaluate(counters: Counters, codes: Iterable[str]) -> dict[str, float | int | None]:
    return {code: INDICATORS[code].formula(counters) for code in codes}


def format_value(code: str, value) -> str:
    """How a value reads in a table and an export."""
    if value is None:
        return "—"
    kind = INDICATORS[code].kind
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "hours":
        if value == math.inf:
            return f">{HANDLE_BINS_HOURS[-1]:g}"
        return f"{value:.1f}" if code == "handle_hours_mean" else f"≤{value:g}"
    if kind == "stars":
        return f"{value:.2f}"
    return str(value)
