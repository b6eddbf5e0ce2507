"""Writes of the notification area: fan a case event out to the people concerned, mark read.

``event_fan_out`` is the outbox consumer for ``CaseEvent.notified_at``: it may run twice (a
re-delivered task, the workflow sweep re-sending) and still tells each person once.
"""

from __future__ import annotations

from django.utils import timezone

from apps.cases.models import CaseEvent
from apps.notify import push, recipients, selectors
from apps.notify.models import Notification
from apps.notify.serializers import notification_payload
from apps.org.models import Tier


def event_fan_out(*, event_id: int) -> list[Notification]:
    """Persist one notification per person concerned, push them live, stamp the event.

    1. Skip an event already stamped (``notified_at``) — the second run of a task.
    2. Plan recipients (``recipients.plan``: per action, minus the actor, minus anyone who may
       not see the case) and insert them; the unique (event, recipient) key makes a concurrent
       or repeated run insert nothing new.
    3. Push every notification of the event to its recipient's group — first, since someone
       is waiting for it — then the recipients' unread counts, the touched units' task lists
       and the desks' counters.
    4. Stamp ``notified_at`` (a conditional UPDATE, the one change history rows allow).
    """
    event = (
        CaseEvent.objects.select_related("case__category", "case__grid", "unit")
        .filter(pk=event_id)
        .first()
    )
    if event is None or event.notified_at is not None:
        return []
    planned = recipients.plan(event)
    Notification.objects.bulk_create(
        [
            Notification(recipient=p.user, case_id=event.case_id, event=event, kind=p.kind, title=p.title,
                         body=p.body)
            for p in planned
        ],
        ignore_conflicts=True,
    )
    notifications = list(
        Notification.objects.filter(event=event).select_related("case", "recipient").order_by("id")
    )
    # The planned users carry their loaded profile and scope: reuse them for the unread counts.
    people = {p.user.pk: p.user for p in planned}
    push.send(_personal_messages(notifications))
    push.send(_follow_up_messages(event, notifications, people))
    CaseEvent.objects.filter(pk=event.pk, notified_at__isnull=True).update(notified_at=timezone.now())
    return notifications


def _personal_messages(notifications: list[Notification]) -> list[push.Message]:
    return [(selectors.user_group(n.recipient_id), notification_payload(n)) for n in notifications]


def _follow_up_messages(event: CaseEvent, notifications: list[Notification], people: dict) -> list[push.Message]:
    """Badges (unread counts), the touched units' task lists and the desks' counters."""
    told = {n.recipient_id: people.get(n.recipient_id, n.recipient) for n in notifications}
    unread = selectors.unread_counts(list(told.values()))
    messages = [(selectors.user_group(pk), {"type": "unread", "count": unread.get(pk, 0)}) for pk in told]
    change = {"type": "tasks.changed", "case": event.case_id, "action": event.action}
    messages += [(selectors.unit_group(unit_id), change) for unit_id in sorted(recipients.units_touched(event))]
    case = event.case
    for region_id, tier in ((case.village_id, Tier.VILLAGE), (case.town_id, Tier.TOWN), (case.county_id, Tier.COUNTY)):
        counts = selectors.desk_counts(region_id, tier)
        messages.append((selectors.region_group(region_id), {"type": "desk.counts", **counts}))
    return messages


def unread_message(user) -> push.Message:
    return selectors.user_group(user.pk), {"type": "unread", "count": selectors.unread_count(user)}


def notification_mark_read(*, user, notification_id: int) -> Notification | None:
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


def notifications_mark_all_read(*, user) -> int:
    """Mark all the user's unread notifications read; returns how many changed."""
    changed = selectors.notifications_for(user).filter(read_at__isnull=True).update(read_at=timezone.now())
    if changed:
        push.send([unread_message(user)])
    return changed
