"""Optional error tracking: Sentry's SDK (also speaks to GlitchTip and other compatible servers).

Off unless ``SENTRY_DSN`` is set. Errors of web requests and Celery tasks are sent with their
request id as a tag; no personal data (``send_default_pii`` off) and every message, exception
value and breadcrumb passes the same masking as the logs (config/log_redaction.py).
"""

from __future__ import annotations

from typing import Any


def _scrub(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    from django_guid import get_guid

    from config.log_redaction import redact

    guid = get_guid()
    if guid:
        event.setdefault("tags", {})["request_id"] = guid
    for exception in (event.get("exception") or {}).get("values") or []:
        if isinstance(exception.get("value"), str):
            exception["value"] = redact(exception["value"])
    message = event.get("logentry") or {}
    if isinstance(message.get("message"), str):
        message["message"] = redact(message["message"])
    for crumb in (event.get("breadcrumbs") or {}).get("values") or []:
        if isinstance(crumb.get("message"), str):
            crumb["message"] = redact(crumb["message"])
    return event


def init_sentry(dsn: str, *, environment: str) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        before_send=_scrub,
        traces_sample_rate=0.0,
    )
