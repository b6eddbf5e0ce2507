"""Celery tasks of the notification area. They take ids and call a service; safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.notify import services


@shared_task(
    name="apps.notify.tasks.fan_out_event",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def fan_out_event(event_id: int, event=None) -> None:
    """Enqueued by the workflow service after commit for every case event (and re-sent by the
    outbox sweep while ``CaseEvent.notified_at`` is empty). ``event``: the committed row itself,
    when the task that wrote it runs this one in the same process (``follow_up.run_here``)."""
    services.event_fan_out(event_id=event_id, event=event)


@shared_task(
    name="apps.notify.tasks.fan_out_events",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def fan_out_events(event_ids: list[int], events=None) -> None:
    """The routing events of a batch of reports (``case_route_waiting``), fanned out together.
    Each event stays in the outbox until it is out, so a failed run is re-sent event by event
    by the outbox sweep (``fan_out_event``). ``events``: the committed rows, when the task that
    wrote them runs this one in the same process."""
    services.events_fan_out(event_ids=event_ids, events=events)


@shared_task(name="apps.notify.tasks.push_desk_counts", ignore_result=True)
def push_desk_counts(region_id: int) -> None:
    """Sent by ``desk_counts_changed`` with a countdown: one desk's counters, once per interval."""
    services.desk_counts_push(region_id=region_id)
