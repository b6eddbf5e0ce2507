"""Writes of the evaluation app: keeping ``DailyRollup`` equal to the raw data.

    rollups_mark_dirty     read new history events and ratings, mark every day they affect
    rollup_day_recompute   rebuild one day's rows from the raw data
    rollups_refresh        both, as the beat task runs them every minute
    rollups_rebuild        rebuild a whole range (after a bulk import, or from scratch)
    rollup_month_recompute re-sum a past month's MonthlyRollup rows from its days

How "always consistent" holds (numbered, as the refresher runs):

1. History events and ratings are append-only with increasing ids; a cursor per source remembers
   how far they were read. Every state change of a case writes an event (the workflow service),
   so "something changed about case C" is "a new event of C".
2. For each new event or rating, the days that can depend on it are marked dirty: the event's
   day, the case's report day, and every day with another event or rating of the same case
   (their counters read the case's current deadline, lead unit and deferral — see rollups.py).
3. Each dirty day is recomputed from the raw tables and its mark cleared — only if nobody
   re-marked it meanwhile (``marked_at`` compare-and-delete).
4. A recomputed day marks its month dirty in the same transaction; dirty past months are
   re-summed from their days, and a reader uses a month's MonthlyRollup rows only while the
   month is complete and not dirty (``selectors.rollup_sums``) — otherwise the days.
5. The cursor only moves past events older than ``CURSOR_SAFETY``: on PostgreSQL an id can
   become visible after a higher one (transactions commit out of order), so the last few minutes
   are re-read each run. Re-marking a day is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.cases.models import Case, CaseEvent
from apps.evaluation.indicators import ROLLUP_METRICS
from apps.evaluation.models import (
    ALL_CATEGORIES,
    DailyRollup,
    DirtyDay,
    DirtyMonth,
    MonthlyRollup,
    RollupCursor,
)
from apps.evaluation.rollups import Accumulator, chunks, collect, day_start, local_day, rating_model

if TYPE_CHECKING:
    from apps.public.models import Rating

log = logging.getLogger(__name__)

CURSOR_SAFETY = dt.timedelta(minutes=5)
EVENT_BATCH = 20_000


def _mark(days: set[dt.date], now: dt.datetime) -> None:
    if not days:
        return
    existing = set(DirtyDay.objects.filter(day__in=days).values_list("day", flat=True))
    DirtyDay.objects.filter(day__in=existing).update(marked_at=now)
    DirtyDay.objects.bulk_create(
        [DirtyDay(day=d, marked_at=now) for d in days - existing], ignore_conflicts=True
    )


def _days_of_cases(case_ids: set[int]) -> set[dt.date]:
    """Every day on which these cases have a fact: report day, event days, rating days."""
    days: set[dt.date] = set()
    Rating = rating_model()
    for batch in chunks(sorted(case_ids)):
        days.update(
            local_day(at)
            for at in Case.objects.filter(pk__in=batch).values_list("created_at", flat=True)
        )
        days.update(
            local_day(at)
            for at in CaseEvent.objects.filter(case_id__in=batch)
            .values_list("created_at", flat=True)
            .order_by()
        )
        if Rating is not None:
            days.update(
                local_day(at)
                for at in Rating.objects.filter(case_id__in=batch)
                .values_list("created_at", flat=True)
                .order_by()
            )
    return days


def rollups_mark_dirty(*, now: dt.datetime | None = None, max_events: int = EVENT_BATCH) -> int:
    """Steps 1, 2 and 4 above. Returns how many events and ratings were read."""
    now = now or timezone.now()
    safe_before = now - CURSOR_SAFETY
    seen = 0
    sources: list[tuple[str, type[CaseEvent] | type[Rating]]] = [("events", CaseEvent)]
    Rating = rating_model()
    if Rating is not None:
        sources.append(("ratings", Rating))
    for name, model in sources:
        cursor, _ = RollupCursor.objects.get_or_create(name=name)
        rows = list(
            model.objects.filter(pk__gt=cursor.last_id)
            .order_by("pk")
            .values_list("pk", "case_id", "created_at")[:max_events]
        )
        if not rows:
            continue
        seen += len(rows)
        case_ids = {case_id for _pk, case_id, _at in rows}
        days = {local_day(at) for _pk, _case, at in rows} | _days_of_cases(case_ids)
        # Advance over the prefix that is old enough that nothing can still commit below it.
        new_last = cursor.last_id
        for pk, _case, at in rows:
            if at >= safe_before:
                break
            new_last = pk
        with transaction.atomic():
            _mark(days, now)
            RollupCursor.objects.filter(name=name).update(last_id=new_last)
    return seen


ROW_COLUMNS = ("level", "key", "day", "category_id", *ROLLUP_METRICS)


def _rows_for(acc: Accumulator) -> list[tuple[Any, ...]]:
    """One row per cell, plus the all-categories row (category 0) of each level × key × day."""
    rows: list[tuple[Any, ...]] = []
    totals: dict[tuple[str, int, dt.date | None], dict[str, int]] = {}
    for (level, key, day, category_id), cell in acc.cells.items():
        if any(cell.values()):
            rows.append((level, key, day, category_id, *(cell.get(m, 0) for m in ROLLUP_METRICS)))
            total = totals.setdefault((level, key, day), dict.fromkeys(ROLLUP_METRICS, 0))
            for name, value in cell.items():
                total[name] += value
    for (level, key, day), cell in totals.items():
        rows.append((level, key, day, ALL_CATEGORIES, *(cell[m] for m in ROLLUP_METRICS)))
    return rows


def _daily_rows(first_day: dt.date, last_day: dt.date) -> list[tuple[Any, ...]]:
    """The daily rollup rows of the days ``first_day`` to ``last_day``, from the raw tables."""
    acc = collect(
        day_start(first_day),
        day_start(last_day + dt.timedelta(days=1)),
        Accumulator(by_day=True, by_category=True),
    )
    return _rows_for(acc)


def _insert_rows(rows: list[tuple[Any, ...]]) -> None:
    """Plain tuples straight to the table (COPY on PostgreSQL): a month of a big county is
    hundreds of thousands of rows, and model instances would cost more than the queries."""
    if not rows:
        return
    q = connection.ops.quote_name
    table, columns = q(DailyRollup._meta.db_table), ", ".join(q(c) for c in ROW_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(ROW_COLUMNS))
            for start in range(0, len(rows), 5000):
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows[start : start + 5000]
                )


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _mark_months(days: Iterable[dt.date], now: dt.datetime) -> None:
    months = {month_of(d) for d in days}
    existing = set(DirtyMonth.objects.filter(month__in=months).values_list("month", flat=True))
    DirtyMonth.objects.filter(month__in=existing).update(marked_at=now)
    DirtyMonth.objects.bulk_create(
        [DirtyMonth(month=m, marked_at=now) for m in months - existing], ignore_conflicts=True
    )


def rollup_month_recompute(*, month: dt.date) -> None:
    """Re-sum a month's MonthlyRollup rows from its DailyRollup rows (one INSERT … SELECT)."""
    marked = DirtyMonth.objects.filter(month=month).values_list("marked_at", flat=True).first()
    q = connection.ops.quote_name
    metrics = ", ".join(q(m) for m in ROLLUP_METRICS)
    sums = ", ".join(f"SUM({q(m)})" for m in ROLLUP_METRICS)
    with transaction.atomic():
        MonthlyRollup.objects.filter(month=month).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {q(MonthlyRollup._meta.db_table)} ({q('month')}, {q('level')}, {q('key')}, "
                f"{q('category_id')}, {metrics}) SELECT %s, {q('level')}, {q('key')}, {q('category_id')}, {sums} "
                f"FROM {q(DailyRollup._meta.db_table)} WHERE {q('day')} >= %s AND {q('day')} < %s "
                f"GROUP BY {q('level')}, {q('key')}, {q('category_id')}",
                [month, month, next_month(month)],
            )
        if marked is not None:
            DirtyMonth.objects.filter(month=month, marked_at=marked).delete()


def rollup_day_recompute(*, day: dt.date) -> int:
    """Step 3 for one day. Returns the number of rows written."""
    marked = DirtyDay.objects.filter(day=day).values_list("marked_at", flat=True).first()
    rows = _daily_rows(day, day)
    with transaction.atomic():
        DailyRollup.objects.filter(day=day).delete()
        _insert_rows(rows)
        _mark_months([day], timezone.now())
        if marked is not None:
            DirtyDay.objects.filter(day=day, marked_at=marked).delete()
    return len(rows)


def rollup_months_refresh() -> int:
    """Re-sum the dirty months that are over (the current month is always read from days)."""
    current = month_of(timezone.localdate())
    months = list(
        DirtyMonth.objects.filter(month__lt=current)
        .order_by("-month")
        .values_list("month", flat=True)
    )
    for month in months:
        rollup_month_recompute(month=month)
    return len(months)


def rollups_refresh(
    *, now: dt.datetime | None = None, time_budget_s: float = 50.0
) -> dict[str, int]:
    """What the beat task runs every minute: mark, then recompute dirty days (oldest last, so
    today — what people look at — is fresh first), within a time budget."""
    started = time.monotonic()
    now = now or timezone.now()
    read = 0
    while True:
        batch = rollups_mark_dirty(now=now)
        read += batch
        if batch < EVENT_BATCH or time.monotonic() - started > time_budget_s:
            break
    days = list(DirtyDay.objects.order_by("-day").values_list("day", flat=True))
    done = 0
    for day in days:
        if time.monotonic() - started > time_budget_s:
            break
        rollup_day_recompute(day=day)
        done += 1
    months = rollup_months_refresh() if done == len(days) else 0
    RollupCursor.objects.filter(name="events").update(refreshed_at=now)
    return {"read": read, "days": done, "left": len(days) - done, "months": months}


def rollups_rebuild(*, first_day: dt.date | None = None, last_day: dt.date | None = None) -> int:
    """Recompute every day in [first_day, last_day] (default: all data), a calendar month at a time.

    The cursors move to the newest ids *before* reading, so anything written meanwhile is
    picked up by the next refresh. Returns the number of rows written."""
    now = timezone.now()
    with transaction.atomic():
        for name, model in [("events", CaseEvent), ("ratings", rating_model())]:
            if model is None:
                continue
            newest = (
                model.objects.filter(created_at__lt=now - CURSOR_SAFETY).aggregate(m=Max("pk"))["m"]
                or 0
            )
            RollupCursor.objects.update_or_create(name=name, defaults={"last_id": newest})
    if first_day is None:
        earliest = Case.objects.order_by("created_at").values_list("created_at", flat=True).first()
        first_day = local_day(earliest) if earliest else timezone.localdate()
    last_day = last_day or timezone.localdate()
    written = 0
    window_start = first_day
    while window_start <= last_day:
        window_end = min(
            next_month(window_start) - dt.timedelta(days=1), last_day
        )  # one calendar month
        rows = _daily_rows(window_start, window_end)
        with transaction.atomic():
            DailyRollup.objects.filter(day__gte=window_start, day__lte=window_end).delete()
            _insert_rows(rows)
            DirtyDay.objects.filter(
                day__gte=window_start, day__lte=window_end, marked_at__lte=now
            ).delete()
            _mark_months([window_start, window_end], now)
        written += len(rows)
        window_start = window_end + dt.timedelta(days=1)
    rollup_months_refresh()
    RollupCursor.objects.filter(name="events").update(refreshed_at=now)
    return written
