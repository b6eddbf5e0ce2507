"""From raw facts to counters: the one place that says which case, event or rating adds to
which counter of ``indicators.ROLLUP_METRICS``.

``collect(start, end, ...)`` reads the raw tables for a time window and adds every fact into an
``Accumulator``. The same function feeds both paths, so they cannot drift apart:

- the rollup refresh (grouped by day and category, written to ``DailyRollup``), and
- the live computation (``live_counters``), which tests compare with the rollups.

Why a day's rows depend only on that day's facts plus the *current* state of the cases they
touch: cohort counters (accepted/rejected/closed) read the current status of the cases reported
that day; event counters read the event (append-only) and the case's current deadline, lead
unit and whether it was ever deferred. So when anything happens to a case, every day on which
that case has a fact (its report day, its event days, its rating days) is marked dirty and
recomputed — see ``apps.evaluation.services.rollups_mark_dirty``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.apps import apps as django_apps
from django.db.models import Exists, OuterRef

from apps.cases.models import Action, Case, CaseEvent, Status
from apps.evaluation.indicators import HIST_FIELDS, ROLLUP_METRICS, handle_bin

if TYPE_CHECKING:
    from apps.public.models import Rating

SHANGHAI = ZoneInfo("Asia/Shanghai")
PLACE_LEVELS = ("county", "town", "village", "grid")
# A case's place columns, in the order of PLACE_LEVELS (the order ``Accumulator.add`` reads).
PLACE_COLUMNS = tuple(f"{level}_id" for level in PLACE_LEVELS)
CASE_PLACE_COLUMNS = tuple(f"case__{column}" for column in PLACE_COLUMNS)
CHUNK = 500  # ids per IN (...) list: far below SQLite's variable limit

# History actions that feed a counter (everything else — notes, urges, colour flips — does not).
EVENT_ACTIONS = (
    Action.DISPATCH,
    Action.JOINT_RESPONSE,
    Action.RETURN,
    Action.SIGN,
    Action.HANDLE,
    Action.VERIFY_PASS,
    Action.VERIFY_FAIL,
    Action.EXTENSION_REQUEST,
    Action.EXTENSION_APPROVE,
    Action.ESCALATE,
    Action.SELF_RESOLVE,
)
DISPATCH_ACTIONS = (Action.DISPATCH, Action.JOINT_RESPONSE)


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(SHANGHAI).date()


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), SHANGHAI)


def rating_model() -> type[Rating] | None:
    """The citizens' Rating model of apps.public (case, stars 1–5, created_at), or None while
    that app has not shipped it: satisfaction then simply has no data."""
    try:
        model = django_apps.get_model("public", "Rating")
    except LookupError:
        return None
    names = {f.name for f in model._meta.get_fields()}
    return model if {"case", "stars", "created_at"} <= names else None


def chunks(values: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Accumulator:
    """Sums counters per (level, key[, day][, category]).

    ``levels``/``keys`` limit what is kept (a live query for five villages need not keep the
    whole county); ``by_day``/``by_category`` choose the grouping.
    """

    def __init__(
        self,
        *,
        by_day: bool,
        by_category: bool,
        levels: Iterable[str] | None = None,
        keys: dict[str, set[int]] | None = None,
    ):
        self.by_day = by_day
        self.by_category = by_category
        self.levels = set(levels) if levels is not None else None
        self.keys = keys
        # (level, key, day or None, category id or None) → counters
        self.cells: dict[tuple[str, int, dt.date | None, int | None], dict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )

    def _target(
        self, level: str, key: int | None, day: dt.date, category_id: int
    ) -> dict[str, int] | None:
        if key is None or (self.levels is not None and level not in self.levels):
            return None
        if self.keys is not None and level in self.keys and key not in self.keys[level]:
            return None
        return self.cells[
            (level, key, day if self.by_day else None, category_id if self.by_category else None)
        ]

    def add(
        self,
        *,
        day: dt.date,
        category_id: int,
        places: Sequence[int | None],  # one key per PLACE_LEVELS level, in that order
        metrics: dict[str, int],
        unit_id: int | None = None,
        person_id: int | None = None,
        person_metrics: dict[str, int] | None = None,
    ):
        targets = [
            self._target(level, key, day, category_id) for level, key in zip(PLACE_LEVELS, places)
        ]
        if unit_id is not None:
            targets.append(self._target("unit", unit_id, day, category_id))
        for cell in targets:
            if cell is not None:
                for name, value in metrics.items():
                    cell[name] += value
        if person_id is not None and person_metrics:
            cell = self._target("person", person_id, day, category_id)
            if cell is not None:
                for name, value in person_metrics.items():
                    cell[name] += value


def collect(start: dt.datetime, end: dt.datetime, acc: Accumulator) -> Accumulator:
    """Add every fact with a time in [start, end) into ``acc``. The comments name the counter
    each fact feeds; the definitions are in ``apps.evaluation.indicators``."""
    _collect_reports(start, end, acc)
    _collect_events(start, end, acc)
    _collect_ratings(start, end, acc)
    return acc


def _created_in(model, start, end, *columns: str):
    """(created_at, *columns) of the rows created in [start, end), in no particular order."""
    return (
        model.objects.filter(created_at__gte=start, created_at__lt=end)
        .values_list("created_at", *columns)
        .order_by()
    )


def _collect_reports(start, end, acc: Accumulator) -> None:
    # Cohort of the cases reported in the window, by their status now.
    rows = _created_in(
        Case, start, end, "category_id", *PLACE_COLUMNS, "lead_unit_id", "reporter_id", "status"
    )
    for created_at, category_id, *places, lead_unit, reporter, status in rows.iterator(2000):
        day = local_day(created_at)
        # reports: every case reported (person: the reporter — a grid worker's "found").
        acc.add(
            day=day,
            category_id=category_id,
            places=places,
            metrics={"reports": 1},
            person_id=reporter,
            person_metrics={"reports": 1},
        )
        if status in (Status.REJECTED, Status.MERGED):
            # rejected: not registered (不予立案), incl. duplicates merged into another case.
            acc.add(day=day, category_id=category_id, places=places, metrics={"rejected": 1})
        elif status != Status.REPORTED:
            # accepted: registered and being (or been) worked on; closed: and now closed.
            metrics = {"accepted": 1, "closed": 1} if status == Status.CLOSED else {"accepted": 1}
            acc.add(
                day=day, category_id=category_id, places=places, metrics=metrics, unit_id=lead_unit
            )


# Events that only count one for the department they name.
_UNIT_COUNTERS: dict[str, str] = {
    Action.RETURN: "returned",
    Action.EXTENSION_REQUEST: "extension_requested",
    Action.EXTENSION_APPROVE: "extension_granted",
}


def _collect_events(start, end, acc: Accumulator) -> None:
    ever_deferred = Exists(
        CaseEvent.objects.filter(case_id=OuterRef("case_id"), action=Action.DEFER)
    )
    rows = list(
        CaseEvent.objects.filter(
            created_at__gte=start, created_at__lt=end, action__in=EVENT_ACTIONS
        )
        .annotate(deferred=ever_deferred)
        .values_list(
            "action",
            "created_at",
            "unit_id",
            "actor_id",
            "data",
            "case_id",
            "case__category_id",
            *CASE_PLACE_COLUMNS,
            "case__lead_unit_id",
            "case__overall_deadline",
            "deferred",
        )
        .order_by()
    )
    # The dispatch that each handling report answers: the latest dispatch of that case before it.
    handled_cases = {row[5] for row in rows if row[0] == Action.HANDLE}
    dispatch_times: dict[int, list[dt.datetime]] = defaultdict(list)
    for batch in chunks(sorted(handled_cases)):
        for case_id, at in (
            CaseEvent.objects.filter(
                case_id__in=batch,
                action__in=DISPATCH_ACTIONS,
                unit_id__isnull=False,
                created_at__lt=end,
            )
            .values_list("case_id", "created_at")
            .order_by()
        ):
            dispatch_times[case_id].append(at)

    for (
        action,
        at,
        unit,
        actor,
        data,
        case_id,
        category_id,
        *places,
        lead_unit,
        deadline,
        deferred,
    ) in rows:
        # Which counters the event feeds, and whose: the department it names (the lead
        # department for a verdict, none for an escalation or a self-resolved case) and the
        # person who acted where their own figures count it too.
        unit_id: int | None = unit
        person_id: int | None = None
        if action in DISPATCH_ACTIONS:
            if unit is None:  # a joint response without a lead department dispatches nobody
                continue
            metrics = {"dispatched": 1}
        elif action in _UNIT_COUNTERS:
            metrics = {_UNIT_COUNTERS[action]: 1}
        elif action == Action.SIGN:
            metrics = {"signed": 1}
            if not deferred:  # deferred cases leave the on-time figures
                metrics["signed_timed"] = 1
                if not (data or {}).get("late"):
                    metrics["signed_on_time"] = 1
        elif action == Action.HANDLE:
            metrics = {"handled": 1}
            if not deferred:
                metrics["handled_timed"] = 1
                if deadline is None or at <= deadline:
                    metrics["handled_on_time"] = 1
                before = [d for d in dispatch_times.get(case_id, ()) if d <= at]
                if before:
                    minutes = max(0, math.floor((at - max(before)).total_seconds() / 60))
                    metrics["handle_n"] = 1
                    metrics["handle_minutes"] = minutes
                    metrics[HIST_FIELDS[handle_bin(minutes)]] = 1
            person_id = actor
        elif action in (Action.VERIFY_PASS, Action.VERIFY_FAIL):
            metrics = (
                {"verified": 1, "verify_failed": 1}
                if action == Action.VERIFY_FAIL
                else {"verified": 1}
            )
            unit_id, person_id = lead_unit, actor
        elif action == Action.ESCALATE:
            metrics, unit_id = {"escalated": 1}, None
        elif action == Action.SELF_RESOLVE:
            metrics, unit_id, person_id = {"self_resolved": 1}, None, actor
        else:
            continue
        acc.add(
            day=local_day(at),
            category_id=category_id,
            places=places,
            metrics=metrics,
            unit_id=unit_id,
            person_id=person_id,
            person_metrics=metrics if person_id is not None else None,
        )


def _collect_ratings(start, end, acc: Accumulator) -> None:
    Rating = rating_model()
    if Rating is None:
        return
    rows = _created_in(
        Rating, start, end, "stars", "case__category_id", *CASE_PLACE_COLUMNS, "case__lead_unit_id"
    )
    for at, stars, category_id, *places, lead_unit in rows.iterator(2000):
        if stars is None:
            continue
        stars = int(stars)
        acc.add(
            day=local_day(at),
            category_id=category_id,
            places=places,
            unit_id=lead_unit,
            metrics={"ratings": 1, "stars": stars, "ratings_good": 1 if stars >= 4 else 0},
        )


def live_counters(
    *,
    level: str,
    keys: Iterable[int] | None,
    first_day: dt.date,
    last_day: dt.date,
    category_ids: Iterable[int] | None = None,
) -> dict[int, dict[str, int]]:
    """The counters of a period straight from the raw tables (no rollups): key → counters."""
    keyset = set(keys) if keys is not None else None
    acc = Accumulator(
        by_day=False,
        by_category=True,
        levels=[level],
        keys={level: keyset} if keyset is not None else None,
    )
    collect(day_start(first_day), day_start(last_day + dt.timedelta(days=1)), acc)
    wanted = set(category_ids) if category_ids is not None else None
    result: dict[int, dict[str, int]] = {}
    for (_level, key, _day, category_id), cell in acc.cells.items():
        if wanted is not None and category_id not in wanted:
            continue
        target = result.setdefault(key, dict.fromkeys(ROLLUP_METRICS, 0))
        for name, value in cell.items():
            target[name] += value
    return result
