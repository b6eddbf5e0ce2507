"""Writes of the notification area: fan a case event out to the people concerned, mark read.

``event_fan_out`` is the outbox consumer for ``CaseEvent.notified_at``: it may run twice (a
re-delivered task, the workflow sweep re-sending) and still tells each person once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.cases import reference
from apps.cases.models import Case, CaseEvent
from apps.notify import push, recipients, selectors
from apps.notify.models import Notification
from apps.notify.serializers import notification_payload
from apps.org.models import Grid

log = logging.getLogger(__name__)


def event_fan_out(*, event_id: int, event: CaseEvent | None = None) -> list[Notification]:
    """Persist one notification per person concerned, push them live, stamp the event.

    1. Skip an event already stamped (``notified_at``) — the second run of a task.
    2. Plan recipients (``recipients.plan``: per action, minus the actor, minus anyone who may
       not see the case) and insert them; the unique (event, recipient) key makes a concurrent
       or repeated run insert nothing new.
    3. Push every notification of the event to its recipient's group — first, since someone
       is waiting for it — then the recipients' unread counts and the touched units' task
       lists, in one go; the case's desks get their counters within a second
       (``desk_counts_changed``: once per desk per interval, not once per event).
    4. Stamp ``notified_at`` (a conditional UPDATE, the one change history rows allow).

    ``event``: the committed row with its case, when the process that wrote it fans it out
    (the routing task); otherwise it is read here.
    """
    return events_fan_out(
        event_ids=[event_id], events=[event] if event is not None and event.pk == event_id else None
    )


def events_fan_out(
    *, event_ids: list[int], events: list[CaseEvent] | None = None
) -> list[Notification]:
    """``event_fan_out`` for several events at once (a routing task's batch), each told exactly
    as alone, with the work shared: the desks and the visibility checks of every event in two
    queries (``recipients.plan_many``), every notification in one INSERT, each recipient's
    unread count once and each unit's task list once, after all the notifications.

    ``events``: the committed rows with their cases, when the process that wrote them fans them
    out; otherwise they are read here."""
    # The case's category comes from the per-process reference copy; its grid (only when the
    # case has no address) is read for the events that need it, the event's unit (a few actions
    # name it) when asked.
    if events is None or {e.pk for e in events} != set(event_ids):
        events = list(
            CaseEvent.objects.select_related("case").filter(pk__in=event_ids).order_by("id")
        )
    events = [e for e in events if e.notified_at is None]
    if not events:
        return []
    cases = {e.case_id: e.case for e in events}
    for case in cases.values():
        case.category = reference.category_by_id(case.category_id) or case.category
    _load_grids([c for c in cases.values() if not c.address])
    plans = recipients.plan_many(events)
    notifications = _insert_all(events, plans)
    people = {p.user.pk: p.user for planned in plans for p in planned}  # with profile and scope
    for notification in notifications:
        notification.case = cases[notification.case_id]
        if notification.recipient_id in people:
            notification.recipient = people[notification.recipient_id]
    push.send(_personal_messages(notifications) + _follow_up_messages(events, notifications))
    desk_counts_changed(
        {pk for c in cases.values() for pk in (c.village_id, c.town_id, c.county_id)}
    )
    CaseEvent.objects.filter(pk__in=[e.pk for e in events], notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    return notifications


def _load_grids(cases: list[Case]) -> None:
    """Each case's grid (its name says where a case without an address is), in one query."""
    missing = [c for c in cases if "grid" not in c._state.fields_cache]
    if missing:
        grids = Grid.objects.in_bulk({c.grid_id for c in missing})
        for case in missing:
            case.grid = grids[case.grid_id]


def _insert_all(
    events: list[CaseEvent], plans: list[list[recipients.Planned]]
) -> list[Notification]:
    """Insert every planned notification of the events in one statement, with their ids. A
    second run of one of them meets the unique (event, recipient) key: then each event goes
    through ``_insert_notifications``, which inserts what is missing and reads back the rest."""
    rows = [
        row for event, planned in zip(events, plans, strict=True) for row in _rows(event, planned)
    ]
    if not rows:
        return []
    created = _insert_new(rows)
    if created is not None:
        return created
    return [
        n
        for event, planned in zip(events, plans, strict=True)
        if planned
        for n in _insert_notifications(event, planned)
    ]


def _insert_notifications(
    event: CaseEvent, planned: list[recipients.Planned]
) -> list[Notification]:
    """Insert the planned notifications and return every notification of the event, with ids.

    The first run inserts them all and the database returns their ids. A second run (a
    redelivered task, the outbox sweep) meets the unique (event, recipient) key: then only
    the missing ones are inserted and the event's rows are read back."""
    rows = _rows(event, planned)
    created = _insert_new(rows)
    if created is not None:
        return created
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return list(Notification.objects.filter(event=event).order_by("id"))


def _rows(event: CaseEvent, planned: list[recipients.Planned]) -> list[Notification]:
    return [
        Notification(
            recipient=p.user,
            case_id=event.case_id,
            event=event,
            kind=p.kind,
            title=p.title,
            body=p.body,
        )
        for p in planned
    ]


def _insert_new(rows: list[Notification]) -> list[Notification] | None:
    """Insert the rows in one statement and return them with their ids; None where one of them
    is there already (the unique (event, recipient) key) or the database gave no ids back."""
    try:
        with transaction.atomic():
            created = Notification.objects.bulk_create(rows)
        if all(n.pk for n in created):
            return created
    except IntegrityError:
        pass
    return None


def _personal_messages(notifications: list[Notification]) -> list[push.Message]:
    return [(selectors.user_group(n.recipient_id), notification_payload(n)) for n in notifications]


def _follow_up_messages(
    events: list[CaseEvent], notifications: list[Notification]
) -> list[push.Message]:
    """Badges (unread counts: one per person, counted after all their new notifications) and
    the touched units' task lists (one message per unit; ``cases`` lists them when a batch
    touched several of its cases)."""
    told = {n.recipient_id: n.recipient for n in notifications}
    unread = selectors.unread_counts(list(told.values()))
    messages = [
        (selectors.user_group(pk), {"type": "unread", "count": unread.get(pk, 0)}) for pk in told
    ]
    changes: dict[int, list[CaseEvent]] = {}
    for event in events:
        for unit_id in recipients.units_touched(event):
            changes.setdefault(unit_id, []).append(event)
    for unit_id in sorted(changes):
        last = changes[unit_id][-1]
        change = {"type": "tasks.changed", "case": last.case_id, "action": last.action}
        if len(changes[unit_id]) > 1:
            change["cases"] = sorted({e.case_id for e in changes[unit_id]})
        messages.append((selectors.unit_group(unit_id), change))
    return messages


# --- desk counters -------------------------------------------------------------------------
# Every event changes a desk's 待本级处理/已超时 counters, but counting them for every event was
# the dearest part of the fan-out (two COUNTs for each of three desks, per event). A desk is
# counted at most once per DESK_COUNTS_INTERVAL_S instead: the first change marks it due and
# sends one ``push_desk_counts`` a moment later; changes until then ride along, because that
# task clears the mark *before* it counts (a change after the clearing marks it due again).


def _desk_due_key(region_id: int) -> str:
    return f"desk-counts-due:{region_id}"


# region id → until when (monotonic) a push this process scheduled is sure to count later
# changes too, so it need not ask Redis (a push counts after its countdown; 0.8 leaves room
# for the clocks of the two processes).
_scheduled_here: dict[int, float] = {}


def desk_counts_changed(region_ids: Iterable[int | None]) -> None:
    """Have the desks of these regions pushed their counters within the interval."""
    from apps.notify import tasks

    interval = settings.DESK_COUNTS_INTERVAL_S
    now = time.monotonic()
    for region_id in {pk for pk in region_ids if pk}:
        if _scheduled_here.get(region_id, 0.0) > now:
            continue
        try:
            # The mark outlives the interval, so a lost task delays the next push, never stops it.
            if not cache.add(_desk_due_key(region_id), 1, timeout=max(int(interval * 10), 10)):
                continue
        except Exception:  # noqa: BLE001 - Redis away: nor could anything be pushed; clients re-ask
            log.warning("desk counters of region %s not scheduled (cache unreachable)", region_id)
            continue
        try:
            tasks.push_desk_counts.apply_async(args=(region_id,), countdown=interval)
            _scheduled_here[region_id] = now + 0.8 * interval
        except Exception:  # noqa: BLE001 - broker away: drop the mark so the next change retries
            cache.delete(_desk_due_key(region_id))
            log.warning("desk counters of region %s not scheduled (broker unreachable)", region_id)


def desk_counts_push(*, region_id: int) -> dict[str, int]:
    """Count one desk's counters now and push them to its group."""
    cache.delete(_desk_due_key(region_id))
    counts = selectors.desk_counts(region_id)
    push.send([(selectors.region_group(region_id), {"type": "desk.counts", **counts})])
    return counts


def unread_message(user: User) -> push.Message:
    return selectors.user_group(user.pk), {"type": "unread", "count": selectors.unread_count(user)}


def notification_mark_read(*, user: User, notification_id: int) -> Notification | None:
    """Mark one of the user's notifications read (None if it is not theirs to see). Every open
    socket of the user gets the new unread count, so the phone's badge follows the desk."""
    notification = selectors.notifications_for(user).filter(pk=notification_id).first()
    if notification is None:
        return None
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
        push.send([unread_message(user)])
    return notification


def notifications_mark_all_read(*, user: User) -> int:
    """Mark all the user's unread notifications read; returns how many changed."""
    changed = (
        selectors.notifications_for(user)
        .filter(read_at__isnull=True)
        .update(read_at=timezone.now())
    )
    if changed:
        push.send([unread_message(user)])
    return changed
