"""SMS to citizens, as a sweep over the case history.

The history is append-only and ordered by id, so the sweep reads it like the evaluation's
rollups do: every event after a cursor whose action calls for a message and whose case has a
citizen's phone becomes one ``SmsMessage`` row (one per case and kind, whatever repeats), and
each row is sent by a task. Nothing in the workflow has to remember to send anything, and a
message cannot be lost between a commit and a broker:

1. ``sms_collect`` turns new events into rows. Ids are taken before commit, so a lower id can
   commit after a higher one; the cursor only moves past events older than ``SMS_SETTLE_S`` and
   the events after it are read again next time (the unique row makes that harmless). Events
   older than ``SMS_MAX_AGE_S`` are never texted about (a bulk import of old history).
2. A number that already had ``SMS_DAILY_LIMIT`` messages in 24 hours gets no more that day
   (the row says so).
3. ``sms_send`` claims one attempt with a conditional UPDATE (so two workers never send the
   same row at once), calls the provider outside any transaction, and records the outcome; a
   retryable failure backs off (1, 2, 4 … minutes) up to ``SMS_MAX_ATTEMPTS``.
4. ``sms_due`` lists rows whose attempt is due: new ones, backed-off ones, and ones whose worker
   died mid-send (their claim expired after ``SMS_CLAIM_S``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases import tracking
from apps.cases.models import Action, Case, CaseEvent
from apps.public.services import public_link
from apps.sms.backends import Outgoing, SmsError, get_backend
from apps.sms.models import SmsCursor, SmsKind, SmsMessage, SmsStatus, mask_phone

log = logging.getLogger(__name__)

CURSOR = "history"
# The step after which the citizen is told, and what.
KIND_OF_ACTION: dict[str, SmsKind] = {
    Action.ACCEPT: SmsKind.TRACKING,  # 受理立案: the case is taken on
    Action.JOINT_RESPONSE: SmsKind.TRACKING,  # a major report dispatched at once, never "accepted"
    Action.CLOSE: SmsKind.RATING,  # 结案: please rate
}


def sms_text(case: Case, kind: str) -> tuple[str, dict[str, str]]:
    """The message and its template variables (number, link)."""
    params = {"number": tracking.display(case.tracking_number), "link": public_link(case)}
    if kind == SmsKind.RATING:
        text = _("【联动】您反映的问题（流水号 %(number)s）已办结，请对处理结果评价：%(link)s")
    else:
        text = _("【联动】您反映的问题已受理，流水号 %(number)s。查询进度、办结后评价：%(link)s")
    return text % params, params


def _cursor() -> SmsCursor:
    cursor = SmsCursor.objects.filter(name=CURSOR).first()
    if cursor is None:
        # A new installation (or one upgraded to this version) starts at the present: the
        # history it already holds is not texted about.
        start = CaseEvent.objects.aggregate(top=Max("id"))["top"] or 0
        SmsCursor.objects.bulk_create(
            [SmsCursor(name=CURSOR, event_id=start)], ignore_conflicts=True
        )
        cursor = SmsCursor.objects.get(name=CURSOR)
    return cursor


def sms_collect(*, now: dt.datetime | None = None) -> list[int]:
    """New rows for the events after the cursor; returns the ids of the rows made now."""
    now = now or timezone.now()
    cursor = _cursor()
    events = list(
        CaseEvent.objects.filter(
            id__gt=cursor.event_id,
            action__in=list(KIND_OF_ACTION),
            created_at__gte=now - dt.timedelta(seconds=settings.SMS_MAX_AGE_S),
        )
        .exclude(case__reporter_phone="")
        .select_related("case")
        .order_by("id")
    )
    # What is known already, read once for the batch (the events of the settle window come
    # round again every sweep): the messages made, and each number's count for the last day.
    made_already = set(
        SmsMessage.objects.filter(case_id__in={e.case_id for e in events}).values_list(
            "case_id", "kind"
        )
    )
    sent_today = Counter(
        dict(
            SmsMessage.objects.filter(
                phone__in={e.case.reporter_phone for e in events},
                created_at__gte=now - dt.timedelta(days=1),
                status__in=[SmsStatus.QUEUED, SmsStatus.SENT],
            )
            .order_by()
            .values_list("phone")
            .annotate(n=Count("id"))
        )
    )
    made: list[int] = []
    for event in events:
        kind = KIND_OF_ACTION[event.action]
        if (event.case_id, kind) in made_already:
            continue
        made_already.add((event.case_id, kind))
        text, _params = sms_text(event.case, kind)
        phone = event.case.reporter_phone
        limited = sent_today[phone] >= settings.SMS_DAILY_LIMIT
        try:
            with transaction.atomic():  # a savepoint: another sweep may have made it meanwhile
                message = SmsMessage.objects.create(
                    case_id=event.case_id,
                    kind=kind,
                    phone=phone,
                    text=text,
                    status=SmsStatus.LIMITED if limited else SmsStatus.QUEUED,
                    next_try_at=None if limited else now,
                    last_error=_("该号码 24 小时内短信已达 %(n)d 条")
                    % {"n": settings.SMS_DAILY_LIMIT}
                    if limited
                    else "",
                )
        except IntegrityError:
            continue
        if limited:
            log.warning("SMS for case %s not sent: daily limit of its number", event.case_id)
        else:
            sent_today[phone] += 1
            made.append(message.pk)
    settled = CaseEvent.objects.filter(
        id__gt=cursor.event_id,
        created_at__lte=now - dt.timedelta(seconds=settings.SMS_SETTLE_S),
    ).aggregate(top=Max("id"))["top"]
    if settled:
        SmsCursor.objects.filter(name=CURSOR, event_id__lt=settled).update(event_id=settled)
    return made


def sms_due(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    now = now or timezone.now()
    return list(
        SmsMessage.objects.filter(status=SmsStatus.QUEUED, next_try_at__lte=now)
        .order_by("next_try_at")
        .values_list("id", flat=True)[:limit]
    )


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2 ** (attempts - 1), 60))


def sms_send(*, message_id: int, now: dt.datetime | None = None) -> str:
    """One attempt at one message; returns its status afterwards."""
    now = now or timezone.now()
    claimed = SmsMessage.objects.filter(
        pk=message_id, status=SmsStatus.QUEUED, next_try_at__lte=now
    ).update(
        attempts=F("attempts") + 1,
        next_try_at=now + dt.timedelta(seconds=settings.SMS_CLAIM_S),
    )
    message = SmsMessage.objects.select_related("case").get(pk=message_id)
    if not claimed:
        return message.status  # sent, given up, or another worker is on it
    backend = get_backend()
    _text, params = sms_text(message.case, message.kind)
    template = {
        SmsKind.TRACKING: settings.SMS_TEMPLATE_TRACKING,
        SmsKind.RATING: settings.SMS_TEMPLATE_RATING,
    }[SmsKind(message.kind)]
    try:
        provider_id = backend.send(
            Outgoing(
                phone=message.phone,
                text=message.text,
                template=template,
                params=params,
                reference=f"{message.pk}",
            )
        )
    except SmsError as exc:
        gave_up = not exc.retryable or message.attempts >= settings.SMS_MAX_ATTEMPTS
        SmsMessage.objects.filter(pk=message.pk).update(
            status=SmsStatus.FAILED if gave_up else SmsStatus.QUEUED,
            next_try_at=None if gave_up else now + _backoff(message.attempts),
            backend=backend.name,
            last_error=str(exc)[:300],
        )
        log.warning(
            "SMS %s to %s, attempt %d: %s%s",
            message.pk,
            mask_phone(message.phone),
            message.attempts,
            exc,
            " (given up)" if gave_up else "",
        )
        return SmsStatus.FAILED if gave_up else SmsStatus.QUEUED
    SmsMessage.objects.filter(pk=message.pk).update(
        status=SmsStatus.SENT,
        sent_at=timezone.now(),
        next_try_at=None,
        backend=backend.name,
        provider_id=provider_id[:100],
        last_error="",
    )
    log.info("SMS %s sent to %s by %s", message.pk, mask_phone(message.phone), backend.name)
    return SmsStatus.SENT


def sms_retry(*, message: SmsMessage) -> bool:
    """The desk sends a failed message once more (after fixing a template, say)."""
    return bool(
        SmsMessage.objects.filter(pk=message.pk, status=SmsStatus.FAILED).update(
            status=SmsStatus.QUEUED, next_try_at=timezone.now(), last_error=""
        )
    )


__all__ = ["sms_collect", "sms_due", "sms_retry", "sms_send", "sms_text"]
