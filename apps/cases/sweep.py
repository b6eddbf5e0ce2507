"""What beat runs every minute: the clock sweep (分色预警, 督办, 超时上报) and the outbox sweep.

Both are idempotent and safe to run concurrently with each other, with themselves and with
people working on the same cases: every change is one conditional, set-based UPDATE whose
WHERE clause restates the condition it acts on, so a row that somebody changed in between (a
unit signing at that very second, another sweep) simply no longer matches. The clock sweep finds
its cases through the ``SweepDue`` table — ``Case.sweep_due_at``, the earliest moment anything
can happen to a case, indexed in a narrow table that triggers keep (apps/cases/sweep_index.py) —
so its cost follows the number of cases due, not the number of open cases, and its UPDATEs of
the case rows are HOT (no index of ``cases_case`` covers a column they change).

The writes themselves are functions of the workflow service (``apps.cases.services.sweeps``),
like every change of a case; this module decides what runs when — phases, batches, the time
budget — and sends the follow-up messages.

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
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases import services
from apps.cases.models import Case, CaseEvent, Status
from apps.cases.services import sweeps
from apps.cases.services.base import PENDING_WORK_TASKS
from apps.cases.services.sweeps import CLAIM_RETRY, DueWindow
from apps.cases.task_guard import poison_key, quarantined_keys

log = logging.getLogger(__name__)

BATCH = 5000
# Stop starting new batches after this long, so a backlog never makes two beat runs overlap.
TIME_BUDGET_S = 40.0
# Outbox: work is re-sent when it has waited this long, and at most this often per item.
OUTBOX_AGE = dt.timedelta(minutes=1)
OUTBOX_RESEND_EVERY = dt.timedelta(minutes=5)
# Notifications older than this are not worth sending any more.
OUTBOX_EVENT_HORIZON = dt.timedelta(days=1)
OUTBOX_LIMIT = 1000
RELAY_CHUNK = 500
# Fans out a history row; apps.notify owns it, settings name it (see CASE_EVENT_TASK there).
FAN_OUT_TASK = settings.CASE_EVENT_TASK
RELAY_TASK = "apps.cases.tasks.fan_out_events"
ESCALATE_TASK = "apps.cases.tasks.escalate_overdue"
ESCALATE_RELAY_TASK = "apps.cases.tasks.escalate_many"
RESUME_TASK = "apps.cases.tasks.resume_deferred"

__all__ = ["CLAIM_RETRY", "sweep_clocks", "sweep_outbox", "resume_if_due"]


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


# --- messages ------------------------------------------------------------------------------


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

    def out_of_time() -> bool:
        return time.monotonic() - started > time_budget_s

    def phase(run_batch) -> None:
        window = DueWindow(now, batch)
        while not window.exhausted:
            if out_of_time():
                result.complete = False
                return
            with transaction.atomic():
                sweeps.no_parallel_plans()
                run_batch(window)

    # 1. red: the step's deadline passed; one automatic 督办 event per case, their
    # notifications sent by a relay task (the outbox sweep catches any that do not go out).
    def red_batch(window: DueWindow) -> None:
        ids = sweeps.cases_turn_red(window, now)
        if ids and enqueue:
            chunks = [ids[i : i + RELAY_CHUNK] for i in range(0, len(ids), RELAY_CHUNK)]
            transaction.on_commit(lambda: _send_many(RELAY_TASK, [[chunk] for chunk in chunks]))
        result.urge_event_ids.extend(ids)
        result.red += len(ids)

    # 2. yellow: 80 % of the step's limit passed, the deadline not yet.
    def yellow_batch(window: DueWindow) -> None:
        result.yellow += sweeps.cases_turn_yellow(window, now)

    # 3. escalation: no progress by escalate_at. Claimed here, done by one task per case.
    def escalate_batch(window: DueWindow) -> None:
        ids = sweeps.cases_claim_escalations(window, now)
        if ids and enqueue:
            # One escalate_overdue task per case (a bad case cannot hold up the others), sent by
            # the relay on a worker so that a burst of thousands does not slow the sweep down.
            chunks = [ids[i : i + RELAY_CHUNK] for i in range(0, len(ids), RELAY_CHUNK)]
            transaction.on_commit(
                lambda: _send_many(ESCALATE_RELAY_TASK, [[chunk] for chunk in chunks])
            )
        result.escalate_ids.extend(ids)

    # 4. deferred cases whose review date arrived.
    def resume_batch(window: DueWindow) -> None:
        ids = sweeps.cases_claim_resumptions(window, now)
        if ids and enqueue:
            transaction.on_commit(lambda: _send_many(RESUME_TASK, [[pk] for pk in ids]))
        result.resume_ids.extend(ids)

    for run_batch in (red_batch, yellow_batch, escalate_batch, resume_batch):
        phase(run_batch)

    # 5. Whatever is still due matched none of the above: recompute its next look.
    def repair_batch(window: DueWindow) -> None:
        repaired = sweeps.cases_repair_clock(window, now)
        if repaired:
            log.warning("clock sweep: %d case(s) had an inconsistent clock; recomputed", repaired)
        result.repaired += repaired

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
        sweeps.cases_outbox_restart([pk for pk, _work in rows], before=cutoff, now=now)

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
