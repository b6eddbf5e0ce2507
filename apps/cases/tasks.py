"""Celery tasks of the case workflow. Each takes ids, calls the workflow service or a sweep, and
is safe to run twice: acks_late + reject_on_worker_lost (settings) mean a killed worker is a
retry, and every task counts its deliveries so a poison task is quarantined instead of looping
(``apps.cases.task_guard``, the base class of every task)."""

from __future__ import annotations

import importlib.util
import logging
import time

from celery import shared_task
from django.conf import settings

from apps.cases import services, sweep
from apps.core import follow_up
from apps.core.leases import current_slot, lease_take

log = logging.getLogger(__name__)

# The photo pipeline registers "apps.cases.tasks.process_case_photos" in its own module; importing
# it here is what makes the worker load it. (Checked by name so a real error in it still shows.)
if importlib.util.find_spec("apps.cases.photo_tasks") is not None:
    from apps.cases.photo_tasks import process_case_photos  # noqa: F401


# A backlog's route_case messages mostly find their case routed by an earlier task's batch:
# the guard lets those go after one read (task_guard.GuardedTask.done_already).
# ``done_already`` and ``poison_key`` are options of the app's task base class
# (apps.cases.task_guard), which celery's stubs do not know.
@shared_task(  # type: ignore[call-overload]
    name="apps.cases.tasks.route_case",
    done_already=staticmethod(lambda case_id: services.case_routed_already(case_id)),
)
def route_case(case_id: int) -> None:
    """Route a new report and tell the people concerned, in this one task: the notifications
    are what the routing is for, and queueing them behind a backlog of reports would triple the
    messages per report (their history rows stay in the outbox until they are out). Other
    reports waiting for their routing go along in the same task (``case_route_waiting``)."""
    with follow_up.run_here():
        services.case_route_waiting(case_id=case_id)


@shared_task(name="apps.cases.tasks.escalate_overdue")
def escalate_overdue(case_id: int) -> None:
    """Claimed by the clock sweep; acts only while the case still sits in its overdue step."""
    services.case_escalate_overdue(case_id=case_id)


@shared_task(name="apps.cases.tasks.resume_deferred")
def resume_deferred(case_id: int) -> None:
    sweep.resume_if_due(case_id)


@shared_task(name="apps.cases.tasks.fan_out_events")
def fan_out_events(event_ids: list[int]) -> None:
    """Relay: one notification task per event of a clock-sweep batch."""
    sweep.relay_fan_out(event_ids)


@shared_task(name="apps.cases.tasks.escalate_many")
def escalate_many(case_ids: list[int]) -> None:
    """Relay: one escalate_overdue task per case the clock sweep claimed."""
    sweep.relay_escalations(case_ids)


# The beat tasks carry no payload: each message is its own work for the poison counter. They run
# on the sweeps queue (settings.CELERY_TASK_ROUTES), and each acts at most once per interval
# however many copies arrive (a second beat, a redelivery, a late one): apps/core/leases.py.
def _this_intervals_turn(name: str) -> bool:
    now, every = time.time(), settings.SWEEP_INTERVAL_S
    if lease_take(name=name, every_s=every, now=now):
        log.info("%s: the run of interval %d", name, current_slot(every, now))
        return True
    log.info(
        "%s: interval %d has had its run (another beat, or a late copy); skipped",
        name,
        current_slot(every, now),
    )
    return False


@shared_task(name="apps.cases.tasks.sweep_clocks", poison_key="id")  # type: ignore[call-overload]
def sweep_clocks() -> None:
    if _this_intervals_turn("sweep_clocks"):
        sweep.sweep_clocks()


@shared_task(name="apps.cases.tasks.sweep_outbox", poison_key="id")  # type: ignore[call-overload]
def sweep_outbox() -> None:
    if _this_intervals_turn("sweep_outbox"):
        sweep.sweep_outbox()


@shared_task(name="apps.cases.tasks.check_work_calendar", poison_key="id")  # type: ignore[call-overload]
def check_work_calendar() -> None:
    """Daily: in December, warn while next year's holidays and 调休 days are missing."""
    from apps.cases.work_calendar import calendar_warning

    warning = calendar_warning()
    if warning:
        log.warning("%s", warning)
