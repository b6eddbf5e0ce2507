"""The sweeps' writes: set-based, conditional UPDATEs of due cases and the automatic 督办 rows.

``apps.cases.sweep`` decides what runs when (phases, batches, the time budget, the messages);
the rows are changed here, like every other change of a case. Each function is one statement
whose WHERE clause restates the condition it acts on, so a row somebody changed in between (a
unit signing at that very second, another sweep) simply no longer matches; each bumps the
case's ``version`` when it changes what a person sees, so a step racing it gets
``ConcurrentChange``. Callers run them inside a transaction, one batch at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases.models import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Action,
    Case,
    CaseEvent,
    Colour,
    Status,
    Step,
    SweepDue,
)

# A claimed escalation/resumption is looked at again after this long if its task got lost.
CLAIM_RETRY = dt.timedelta(minutes=10)
CLOCKED_STATUSES = [s for s in OPEN_STATUSES if s != Status.DEFERRED]


def _table() -> str:
    return connection.ops.quote_name(Case._meta.db_table)


def _dt(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _in(values: Sequence[str]) -> tuple[str, list[str]]:
    return "(" + ", ".join(["%s"] * len(values)) + ")", list(values)


class DueWindow:
    """A walk over the cases due by ``due`` in SweepDue, ``batch`` rows at a time, in the order
    they fell due (keyset: (due_at, case_id) after the last row seen). Each phase of the sweep
    walks the due rows on its own; ``exhausted`` once a window came back short."""

    def __init__(self, due: dt.datetime, batch: int) -> None:
        self.due, self.batch = _dt(due), batch
        self.after: tuple | None = None
        self.exhausted = False

    def next_ids(self) -> list[int]:
        index = connection.ops.quote_name(SweepDue._meta.db_table)
        sql, params = f"SELECT case_id, due_at FROM {index} WHERE due_at <= %s", [self.due]
        if self.after is not None:
            sql += " AND (due_at > %s OR (due_at = %s AND case_id > %s))"
            params += [self.after[1], self.after[1], self.after[0]]
        sql += " ORDER BY due_at, case_id LIMIT %s"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, self.batch])
            rows = cursor.fetchall()
        self.exhausted = len(rows) < self.batch
        if rows:
            self.after = rows[-1]
        return [row[0] for row in rows]


def _claim(
    *,
    window: DueWindow,
    set_sql: str,
    set_params: list,
    where_sql: str,
    where_params: list,
    returning: str = "id",
) -> list[tuple]:
    """``UPDATE … WHERE id IN (the next window of due cases) AND <condition> RETURNING``.

    The window comes from the SweepDue index alone (an index range scan, whatever the
    statistics of the case table say); the condition is checked on each case row as the UPDATE
    locks it. PostgreSQL re-checks it on the current row version when it had to wait for a row
    lock (a concurrent user action or sweep), so a row is only ever acted on while it still
    qualifies. SQLite (≥ 3.35 for RETURNING) serialises writers, which gives the same result.
    (Driving the batch from a join of the two tables let stale statistics — thousands of cases
    due a minute ago — walk a deadline index over the whole county instead: 0.3 s for nothing.)
    """
    ids = window.next_ids()
    if not ids:
        return []
    table = _table()
    if connection.vendor == "postgresql":
        in_window, id_params = "id = ANY(%s)", [ids]
    else:
        in_window, id_params = f"id IN ({', '.join(['%s'] * len(ids))})", ids
    sql = f"UPDATE {table} SET {set_sql} WHERE {in_window} AND {where_sql} RETURNING {returning}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*set_params, *id_params, *where_params])
        return list(cursor.fetchall())


def no_parallel_plans() -> None:
    """Inside a batch's transaction on PostgreSQL: no parallel workers for its statements. A
    batch reads a few thousand rows by index; when the statistics are a minute old (they were
    taken while thousands of cases were due) the planner may start parallel workers for a probe
    that finds nothing — tens of milliseconds of start-up, four times a minute."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")


def cases_turn_red(window: DueWindow, now: dt.datetime) -> list[int]:
    """红: the step's deadline passed → colour red (for the sign step also ``sign_overdue``:
    "not signed for in time"), one automatic 督办 URGE event per case, and the sweep's next look
    at the case moves to ``escalate_at``. Returns the new events' ids (the notification outbox:
    ``notified_at`` empty)."""
    clocked_sql, clocked = _in(CLOCKED_STATUSES)
    at = _dt(now)
    rows = _claim(
        window=window,
        set_sql=(
            "colour = %s, sign_overdue = CASE WHEN step = %s THEN %s ELSE sign_overdue END, "
            "sweep_due_at = escalate_at, urge_count = urge_count + 1, version = version + 1, "
            "updated_at = %s"
        ),
        set_params=[Colour.RED, Step.SIGN, True, at],
        where_sql=f"sweep_due_at <= %s AND step_deadline <= %s AND colour <> %s AND status IN {clocked_sql}",
        where_params=[at, at, Colour.RED, *clocked],
        returning="id, status, tier, lead_unit_id, step",
    )
    return _insert_urge_events([row[0] for row in rows]) if rows else []


def cases_turn_yellow(window: DueWindow, now: dt.datetime) -> int:
    """黄: 80 % of the step's limit passed, the deadline not yet. Returns how many."""
    clocked_sql, clocked = _in(CLOCKED_STATUSES)
    at = _dt(now)
    rows = _claim(
        window=window,
        set_sql="colour = %s, sweep_due_at = step_deadline, version = version + 1, updated_at = %s",
        set_params=[Colour.YELLOW, at],
        where_sql=(
            f"sweep_due_at <= %s AND colour = %s AND yellow_at <= %s AND step_deadline > %s "
            f"AND status IN {clocked_sql}"
        ),
        where_params=[at, Colour.BLUE, at, at, *clocked],
    )
    return len(rows)


def cases_claim_escalations(window: DueWindow, now: dt.datetime) -> list[int]:
    """超时上报: no progress by ``escalate_at`` → claimed (next look in ``CLAIM_RETRY``, in case
    the task is lost); ``case_escalate_overdue`` does the step. Returns the claimed ids."""
    clocked_sql, clocked = _in(CLOCKED_STATUSES)
    at = _dt(now)
    rows = _claim(
        window=window,
        set_sql="sweep_due_at = %s",
        set_params=[_dt(now + CLAIM_RETRY)],
        where_sql=f"sweep_due_at <= %s AND colour = %s AND escalate_at <= %s AND status IN {clocked_sql}",
        where_params=[at, Colour.RED, at, *clocked],
    )
    return [row[0] for row in rows]


def cases_claim_resumptions(window: DueWindow, now: dt.datetime) -> list[int]:
    """Deferred cases whose review date arrived → claimed likewise; ``case_resume`` does it."""
    at = _dt(now)
    rows = _claim(
        window=window,
        set_sql="sweep_due_at = %s",
        set_params=[_dt(now + CLAIM_RETRY)],
        where_sql="sweep_due_at <= %s AND status = %s",
        where_params=[at, Status.DEFERRED],
    )
    return [row[0] for row in rows]


def cases_repair_clock(window: DueWindow, now: dt.datetime) -> int:
    """Anything still due that none of the above acts on is an inconsistent clock (a hand-edited
    row): its next look is recomputed from its own columns. Returns how many."""
    clocked_sql, clocked = _in(CLOCKED_STATUSES)
    final_sql, final = _in(sorted(FINAL_STATUSES))
    at = _dt(now)
    rows = _claim(
        window=window,
        set_sql=(
            f"sweep_due_at = CASE WHEN status IN {final_sql} THEN NULL "
            "WHEN colour = %s AND yellow_at > %s THEN yellow_at "
            "WHEN colour IN (%s, %s) AND step_deadline > %s THEN step_deadline "
            "WHEN colour = %s AND escalate_at > %s THEN escalate_at ELSE NULL END"
        ),
        set_params=[*final, Colour.BLUE, at, Colour.BLUE, Colour.YELLOW, at, Colour.RED, at],
        # Never a row one of the phases above would act on: another sweep may still be
        # working through it batch by batch (its red phase holds later batches), and
        # "recomputing" such a row would drop it from every sweep for good.
        where_sql=(
            f"sweep_due_at <= %s AND status <> %s AND NOT (status IN {clocked_sql} AND ("
            "COALESCE(step_deadline <= %s AND colour <> %s, FALSE) "
            "OR COALESCE(colour = %s AND yellow_at <= %s, FALSE) "
            "OR COALESCE(colour = %s AND escalate_at <= %s, FALSE)))"
        ),
        where_params=[
            at,
            Status.DEFERRED,
            *clocked,
            at,
            Colour.RED,
            Colour.BLUE,
            at,
            Colour.RED,
            at,
        ],
    )
    return len(rows)


def _insert_urge_events(case_ids: list[int]) -> list[int]:
    """One automatic 督办 event per case that just turned red, in one INSERT … SELECT (Django's
    bulk_create spends far longer building 5,000 objects than the database spends storing them).
    The events keep ``notified_at`` empty: they are the notification outbox like any other."""
    table = connection.ops.quote_name(CaseEvent._meta.db_table)
    cases = _table()
    as_json = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    data = as_json % ('\'{"auto": true, "step": "\' || step || \'", "trigger": "overdue"}\'')
    sql = (
        f"INSERT INTO {table} (case_id, action, actor_id, actor_label, from_status, to_status, from_tier, "
        f"to_tier, unit_id, note, public_note, data, created_at, notified_at) "
        f"SELECT id, %s, NULL, %s, status, status, tier, tier, lead_unit_id, "
        f"CASE WHEN step = %s THEN %s ELSE %s END, %s, {data}, %s, NULL "
        f"FROM {cases} WHERE id IN ({', '.join(['%s'] * len(case_ids))}) ORDER BY id RETURNING id"
    )
    params = [
        Action.URGE,
        _("系统"),
        Step.SIGN,
        _("超时未签收，系统自动督办"),
        _("已超过办理时限，系统自动督办"),
        _("已超时，已督办"),
        _dt(timezone.now()),
        *case_ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def cases_outbox_restart(case_ids: Sequence[int], *, before: dt.datetime, now: dt.datetime) -> int:
    """The outbox sweep re-sent these cases' pending work: their waiting time restarts ``now``
    (each case's work is re-sent at most once a minute). Only rows still waiting since before
    ``before`` (another sweep may have restarted them already)."""
    return Case.objects.filter(pk__in=list(case_ids), pending_since__lt=before).update(
        pending_since=now
    )
