"""What beat runs every minute: the clock sweep (分色预警, 督办, 超时上报) and the outbox sweep.

Both are idempotent and safe to run concurrently with each other, with themselves and with
people working on the same cases: every change is one conditional, set-based UPDATE whose
WHERE clause restates the condition it acts on, so a row that somebody changed in between (a
unit signing at that very second, another sweep) simply no longer matches. The clock sweep finds
its cases through the ``SweepDue`` table — ``Case.sweep_due_at``, the earliest moment anything
can happen to a case, indexed in a narrow table that triggers keep (apps/cases/sweep_index.py) —
so its cost follows the number of cases due, not the number of open cases, and its UPDATEs of
the case rows are HOT (no index of ``cases_case`` covers a column they change).

sweep_clocks, in order:

1. red (红): the step's deadline passed → colour red (for the sign step also ``sign_overdue``:
   "not signed for in time"), one automatic 督办 URGE event per case (one INSERT … SELECT for
   the batch; their notifications go out through a relay task, and the outbox sweep catches any
   that do not),
   and the sweep's next look at the case moves to ``escalate_at``;
2. yellow (黄): 80 % of the step's limit passed → colour yellow, next look at the deadline;
3. escalation: ``escalate_at`` passed with no progress → claimed (next look in 10 minutes, in
   case the task is lost) and one ``escalate_overdue(case_id)`` task per case (sent in chunks
   by a relay task, so a burst does not slow the sweep down), which calls
   ``services.case_escalate_overdue`` (idempotent: it acts only while the case still sits in
   that overdue step);
4. deferred cases whose review date arrived → claimed likewise, one ``resume_deferred`` task
   each (``services.case_resume`` with no actor);
5. anything still due after all of that is an inconsistent clock (a hand-edited row): its next
   look is recomputed from its own columns, so no row is read again and again.

sweep_outbox re-sends work whose message did not get through (broker down at commit, worker
crash before the task started): ``Case.pending_work`` entries older than a minute and
``CaseEvent`` rows never fanned out (``notified_at`` empty), skipping quarantined work.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases import services
from apps.cases.models import (
    FINAL_STATUSES,
    RUNNING_STATUSES,
    Action,
    Case,
    CaseEvent,
    Colour,
    Status,
    Step,
    SweepDue,
)
from apps.cases.task_guard import poison_key, quarantined_keys

log = logging.getLogger(__name__)

BATCH = 5000
# Stop starting new batches after this long, so a backlog never makes two beat runs overlap.
TIME_BUDGET_S = 40.0
# A claimed escalation/resumption is looked at again after this long if its task got lost.
CLAIM_RETRY = dt.timedelta(minutes=10)
# Outbox: work is re-sent when it has waited this long, and at most this often per item.
OUTBOX_AGE = dt.timedelta(minutes=1)
OUTBOX_RESEND_EVERY = dt.timedelta(minutes=5)
# Notifications older than this are not worth sending any more.
OUTBOX_EVENT_HORIZON = dt.timedelta(days=1)
OUTBOX_LIMIT = 1000
RELAY_CHUNK = 500

# What each Case.pending_work entry means: the task that does it (with the case id).
PENDING_WORK_TASKS = {
    "route": "apps.cases.tasks.route_case",
    "photos": "apps.cases.tasks.process_case_photos",
}
FAN_OUT_TASK = "apps.notify.tasks.fan_out_event"
RELAY_TASK = "apps.cases.tasks.fan_out_events"
ESCALATE_TASK = "apps.cases.tasks.escalate_overdue"
ESCALATE_RELAY_TASK = "apps.cases.tasks.escalate_many"
RESUME_TASK = "apps.cases.tasks.resume_deferred"


@dataclass
class SweepResult:
    red: int = 0
    yellow: int = 0
    urge_event_ids: list[int] = field(default_factory=list)
    escalate_ids: list[int] = field(default_factory=list)
    resume_ids: list[int] = field(default_factory=list)
    repaired: int = 0
    complete: bool = True
    seconds: float = 0.0


# --- SQL helpers ---------------------------------------------------------------------------


def _table() -> str:
    return connection.ops.quote_name(Case._meta.db_table)


def _dt(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _in(values: Sequence[str]) -> tuple[str, list[str]]:
    return "(" + ", ".join(["%s"] * len(values)) + ")", list(values)


class _DueWindow:
    """A walk over the cases due by ``due`` in SweepDue, ``batch`` rows at a time, in the order
    they fell due (keyset: (due_at, case_id) after the last row seen). Each phase of the sweep
    walks the due rows on its own; ``exhausted`` once a window came back short."""

    def __init__(self, due, batch: int) -> None:
        self.due, self.batch = due, batch
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
    window: _DueWindow,
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


def _no_parallel_plans() -> None:
    """Inside a batch's transaction on PostgreSQL: no parallel workers for its statements. A
    batch reads a few thousand rows by index; when the statistics are a minute old (they were
    taken while thousands of cases were due) the planner may start parallel workers for a probe
    that finds nothing — tens of milliseconds of start-up, four times a minute."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")


def _send_many(task_name: str, arg_lists: Iterable[list]) -> None:
    """Send many messages over one broker connection. A failure is logged, not raised: the
    claims expire (CLAIM_RETRY) and the outbox sweep re-sends notifications."""
    arg_lists = list(arg_lists)
    if not arg_lists:
        return
    from config.celery import app

    try:
        with app.producer_or_acquire() as producer:
            for args in arg_lists:
                app.send_task(task_name, args=args, producer=producer)
    except Exception:  # noqa: BLE001 - any broker failure
        log.warning(
            "could not send %d × %s now; they will be retried",
            len(arg_lists),
            task_name,
            exc_info=True,
        )


# --- the clock sweep -----------------------------------------------------------------------


def sweep_clocks(
    *,
    now: dt.datetime | None = None,
    batch: int = BATCH,
    enqueue: bool = True,
    time_budget_s: float = TIME_BUDGET_S,
) -> SweepResult:
    """One pass of the clock sweep (see the module docstring). With ``enqueue`` False the ids
    to escalate/resume are only returned (tests drive the follow-up themselves)."""
    started = time.monotonic()
    now = now or timezone.now()
    result = SweepResult()
    clocked_sql, clocked = _in(RUNNING_STATUSES)
    at = _dt(now)

    def out_of_time() -> bool:
        return time.monotonic() - started > time_budget_s

    def phase(run_batch) -> None:
        window = _DueWindow(at, batch)
        while not window.exhausted:
            if out_of_time():
                result.complete = False
                return
            with transaction.atomic():
                _no_parallel_plans()
                run_batch(window)

    # 1. red: the step's deadline passed.
    def red_batch(window: _DueWindow) -> int:
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
        if rows:
            ids = _insert_urge_events([row[0] for row in rows])
            if enqueue:
                chunks = [ids[i : i + RELAY_CHUNK] for i in range(0, len(ids), RELAY_CHUNK)]
                transaction.on_commit(lambda: _send_many(RELAY_TASK, [[chunk] for chunk in chunks]))
            result.urge_event_ids.extend(ids)
            result.red += len(rows)
        return len(rows)

    # 2. yellow: 80 % of the step's limit passed, the deadline not yet.
    def yellow_batch(window: _DueWindow) -> int:
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
        result.yellow += len(rows)
        return len(rows)

    # 3. escalation: no progress by escalate_at. Claimed here, done by one task per case.
    def escalate_batch(window: _DueWindow) -> int:
        rows = _claim(
            window=window,
            set_sql="sweep_due_at = %s",
            set_params=[_dt(now + CLAIM_RETRY)],
            where_sql=f"sweep_due_at <= %s AND colour = %s AND escalate_at <= %s AND status IN {clocked_sql}",
            where_params=[at, Colour.RED, at, *clocked],
        )
        ids = [row[0] for row in rows]
        if ids and enqueue:
            # One escalate_overdue task per case (a bad case cannot hold up the others), sent by
            # the relay on a worker so that a burst of thousands does not slow the sweep down.
            chunks = [ids[i : i + RELAY_CHUNK] for i in range(0, len(ids), RELAY_CHUNK)]
            transaction.on_commit(
                lambda: _send_many(ESCALATE_RELAY_TASK, [[chunk] for chunk in chunks])
            )
        result.escalate_ids.extend(ids)
        return len(rows)

    # 4. deferred cases whose review date arrived.
    def resume_batch(window: _DueWindow) -> int:
        rows = _claim(
            window=window,
            set_sql="sweep_due_at = %s",
            set_params=[_dt(now + CLAIM_RETRY)],
            where_sql="sweep_due_at <= %s AND status = %s",
            where_params=[at, Status.DEFERRED],
        )
        ids = [row[0] for row in rows]
        if ids and enqueue:
            transaction.on_commit(lambda: _send_many(RESUME_TASK, [[pk] for pk in ids]))
        result.resume_ids.extend(ids)
        return len(rows)

    for run_batch in (red_batch, yellow_batch, escalate_batch, resume_batch):
        phase(run_batch)

    # 5. Whatever is still due matched none of the above: recompute its next look.
    final_sql, final = _in(sorted(FINAL_STATUSES))

    def repair_batch(window: _DueWindow) -> int:
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
        if rows:
            log.warning("clock sweep: %d case(s) had an inconsistent clock; recomputed", len(rows))
        result.repaired += len(rows)
        return len(rows)

    if result.complete:
        phase(repair_batch)

    result.seconds = time.monotonic() - started
    if result.red or result.yellow or result.escalate_ids or result.resume_ids:
        log.info(
            "clock sweep: %d red, %d yellow, %d to escalate, %d to resume in %.3fs",
            result.red,
            result.yellow,
            len(result.escalate_ids),
            len(result.resume_ids),
            result.seconds,
        )
    return result


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


def resume_if_due(case_id: int, *, today: dt.date | None = None) -> Case | None:
    """The sweep's resumption of a deferred case on its review date (idempotent)."""
    today = today or timezone.localdate()
    case = Case.objects.filter(
        pk=case_id, status=Status.DEFERRED, deferred_review_on__lte=today
    ).first()
    if case is None:
        return None
    return services.case_resume(case=case, actor=None, note=_("复查日期已到，系统自动恢复办理"))


# --- the outbox sweep ----------------------------------------------------------------------


@dataclass
class OutboxResult:
    sent: list[tuple[str, list]] = field(default_factory=list)
    skipped_quarantined: int = 0


def sweep_outbox(
    *, now: dt.datetime | None = None, limit: int = OUTBOX_LIMIT, enqueue: bool = True
) -> OutboxResult:
    """Re-send follow-up work and notifications whose message did not get through."""
    now = now or timezone.now()
    cutoff = now - OUTBOX_AGE
    result = OutboxResult()
    wanted: list[tuple[str, list]] = []

    rows = list(
        Case.objects.filter(pending_since__lt=cutoff)
        .order_by("pending_since")
        .values_list("pk", "pending_work")[:limit]
    )
    for pk, work in rows:
        for item in work or []:
            task_name = PENDING_WORK_TASKS.get(item)
            if task_name is None:
                log.warning("case %s: unknown pending work %r", pk, item)
                continue
            wanted.append((task_name, [pk]))
    if rows:
        # Each case's work is re-sent at most once a minute: its waiting time restarts now.
        Case.objects.filter(pk__in=[pk for pk, _work in rows], pending_since__lt=cutoff).update(
            pending_since=now
        )

    events = list(
        CaseEvent.objects.filter(
            notified_at__isnull=True,
            created_at__lt=cutoff,
            created_at__gte=now - OUTBOX_EVENT_HORIZON,
        )
        .order_by("pk")
        .values_list("pk", "created_at")[: limit * 4]
    )
    if events:
        # Events have no column to restart, so the last re-send is remembered in the cache.
        keys = {f"outbox:event:{pk}:{created.timestamp()}": pk for pk, created in events}
        recent = cache.get_many(list(keys))
        fresh = {key: pk for key, pk in keys.items() if key not in recent}
        fresh = dict(list(fresh.items())[:limit])
        cache.set_many(dict.fromkeys(fresh, 1), timeout=int(OUTBOX_RESEND_EVERY.total_seconds()))
        wanted.extend((FAN_OUT_TASK, [pk]) for pk in fresh.values())

    keyed = {poison_key(name, args): (name, args) for name, args in wanted}
    blocked = quarantined_keys(keyed)
    result.skipped_quarantined = len(blocked)
    result.sent = [work for key, work in keyed.items() if key not in blocked]
    if enqueue:
        by_task: dict[str, list[list]] = {}
        for name, args in result.sent:
            by_task.setdefault(name, []).append(args)
        for name, arg_lists in by_task.items():
            _send_many(name, arg_lists)
    if result.sent:
        log.info(
            "outbox sweep: re-sent %d message(s), %d quarantined skipped",
            len(result.sent),
            result.skipped_quarantined,
        )
    return result


def relay_fan_out(event_ids: Iterable[int]) -> None:
    """Send one notification task per event (the clock sweep batches its URGE events)."""
    _send_many(FAN_OUT_TASK, [[pk] for pk in event_ids])


def relay_escalations(case_ids: Iterable[int]) -> None:
    """Send one escalation task per case (the clock sweep claims them in batches)."""
    _send_many(ESCALATE_TASK, [[pk] for pk in case_ids])
