from __future__ import annotations

from celery import shared_task

from apps.core.leases import lease_take
from apps.sms import services


@shared_task(name="apps.sms.tasks.sweep_sms", poison_key="id")
def sweep_sms() -> None:
    """Beat: new history → messages, and every message whose attempt is due → a send task."""
    from django.conf import settings

    if not lease_take(name="sweep_sms", every_s=settings.SMS_SWEEP_INTERVAL_S):
        return
    services.sms_collect()
    for message_id in services.sms_due():
        send_sms.delay(message_id)


@shared_task(name="apps.sms.tasks.send_sms")
def send_sms(message_id: int) -> None:
    services.sms_send(message_id=message_id)
