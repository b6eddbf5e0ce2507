"""Settings, continued: logs, request ids, health probes and error tracking (docs/operations.md)."""

from __future__ import annotations

from django_guid.integrations import CeleryIntegration

from config.env import (
    env_bool,
    env_float,
    env_int,
    env_str,
)
from config.settings import *  # noqa: F403

# --- Operations: logs, request ids, health, error tracking (docs/operations.md) -----------
# Every line: time, level, logger, request id, message; LOG_FORMAT=json for log collectors.
# The request id follows a request into the Celery tasks it queued (django-guid puts it in the
# task's headers). The access log is ours (apps/core/access_log.py), written inside the request
# so it carries the id; uvicorn's own is off. Secrets are masked on every handler.
LOG_FORMAT = env_str("LOG_FORMAT", "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_secrets": {"()": "config.log_redaction.RedactSecrets"},
        "request_id": {"()": "config.log_format.RequestId"},
    },
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s",
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(correlation_id)s %(message)s",
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "correlation_id": "request_id",
            },
            "json_ensure_ascii": False,
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "redact_secrets"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # django-guid narrates every id it sets at INFO; that is noise in production.
        "django_guid": {"level": "WARNING"},
        "django_guid.celery": {"level": "WARNING"},
    },
}
ACCESS_LOG = env_bool("ACCESS_LOG", True)
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "INTEGRATIONS": [CeleryIntegration()],
    "IGNORE_URLS": ["healthz", "readyz"],
}
# The worker uses this LOGGING (format, request id, masking) instead of its own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
READYZ_REDIS_TIMEOUT_S = env_float("READYZ_REDIS_TIMEOUT_S", 0.2)
READYZ_SWEEP_MAX_AGE_S = env_int("READYZ_SWEEP_MAX_AGE_S", 180)
# Error tracking (Sentry or a compatible server such as GlitchTip), off unless SENTRY_DSN is set.
# No personal data is sent (send_default_pii off); events pass the same masking as the logs.
SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    from config.error_tracking import init_sentry

    init_sentry(SENTRY_DSN, environment=env_str("SENTRY_ENVIRONMENT", "production"))

# A WebSocket ticket (POST /api/notifications/ticket/) opens one socket within this many seconds.
WS_TICKET_TTL_S = env_int("WS_TICKET_TTL_S", 60)
# A notification this old can no longer be overtaken by one with a lower id still being
# committed; the socket's replay cursor moves past it (apps/notify/consumers.py).
NOTIFY_SETTLE_S = env_float("NOTIFY_SETTLE_S", 60.0)
