"""Keep secrets and phone numbers out of every log line.

Whatever a log line comes from — our own code, Django, uvicorn's handshake and access lines,
Celery's worker — it passes a handler, and every handler of the process carries
``RedactSecrets``. What it hides:

* values after ``token``, ``ticket``, ``password``, ``secret``, ``sessionid``, ``csrftoken``,
  ``csrfmiddlewaretoken``, ``api_key`` (and names ending in them, e.g. ``public_token``) in
  ``key=value`` and ``"key": "value"`` forms — query strings, form bodies, cookies, dict reprs;
* ``Authorization: Token|Bearer|Basic <credential>``;
* 40-hex strings (DRF token keys) wherever they stand;
* the citizen's link ``/track/t/<token>/`` (it opens the case without a second factor);
* mainland mobile numbers, ``13812345678`` → ``138****5678`` (with +86, spaces or dashes too).

How it is wired (each is tested in tests/test_log_secrets.py):

1. ``LOGGING_CONFIG = "config.log_redaction.configure"``: Django's ``django.setup()`` — in the
   web process, the Celery worker and beat, and manage.py — applies ``LOGGING`` and then puts
   the filter on every handler that exists by then. Under uvicorn that includes its own
   ``uvicorn.error`` / ``uvicorn.access`` handlers: uvicorn configures logging before it imports
   ``config.asgi``; config/asgi.py calls ``install()`` once more to say so.
2. Celery replaces the root logger's handlers when the worker starts (``worker_hijack_root_logger``)
   and after ``django.setup()``; config/celery.py calls ``install()`` from the
   ``after_setup_logger`` / ``after_setup_task_logger`` signals, which fire after that.

A record is redacted once, in place (every later handler sees the redacted record): first
each string argument on its own — uvicorn's access formatter unpacks ``record.args`` and needs
them kept as a tuple — then the formatted message; if that still changes (a secret in the
format string itself, or built from it and an argument, e.g. ``"password=%r"``), the record
carries the redacted message without arguments. Tracebacks are formatted and redacted too.
"""

from __future__ import annotations

import logging
import logging.config
import re
from collections.abc import Callable

MASK = "[redacted]"

_SECRET_KEYS = r"token|ticket|passw(?:or)?d|secret|sessionid|session_key|csrftoken|csrfmiddlewaretoken|api[_-]?key"


def _keyed_value(match: re.Match[str]) -> str:
    quote = match.group("quote")
    return match.group("head") + (f"{quote}{MASK}{quote[-1]}" if quote else MASK)


# A replacement: a template string, or a function of the match.
_PATTERNS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # Authorization: Token abc / 'HTTP_AUTHORIZATION': 'Bearer abc'
    (
        re.compile(
            r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:token|bearer|basic)\s+)[^\s'\",;]+"
        ),
        r"\1" + MASK,
    ),
    # token=abc&… / "ticket": "abc" / 'password': 'two words' / password=b'x' / sessionid=abc; csrftoken=def
    (
        re.compile(
            rf"(?i)(?P<head>[\w-]*(?:{_SECRET_KEYS})['\"]?\s*[:=]\s*)"
            r"(?:(?P<quote>b?['\"])[^'\"]*['\"]|[^\s&;,'\"<>(){}\[\]]+)"
        ),
        _keyed_value,
    ),
    # the citizen's own link
    (re.compile(r"(/track/t/)[^/\s?'\"]+"), r"\1" + MASK),
    # DRF token keys, wherever they stand
    (re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{40}(?![0-9A-Fa-f])"), MASK),
    # mainland mobile numbers: keep the operator prefix and the last four digits
    (
        re.compile(r"(?<!\d)((?:\+|00)?86[-\s]?)?(1[3-9]\d)[-\s]?\d{4}[-\s]?(\d{4})(?!\d)"),
        r"\1\2****\3",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_arg(value):
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """A handler filter that rewrites the record in place; it never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_liandong_redacted", False):
            return True
        record._liandong_redacted = True
        # The format string is left alone while it has arguments ("password=%r" must still
        # take its argument); what it builds with them is checked after formatting.
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: hide what the error report would print
            record.msg, record.args = redact(str(record.msg)), None
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactSecrets()


def _has_redaction(handler: logging.Handler) -> bool:
    return any(isinstance(f, RedactSecrets) for f in handler.filters)


def install() -> None:
    """Put the filter on every handler of every logger that exists now (idempotent)."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not _has_redaction(handler):
                handler.addFilter(_FILTER)


def configure(logging_settings: dict) -> None:
    """``LOGGING_CONFIG``: Django's dictConfig, then the filter on every handler."""
    logging.config.dictConfig(logging_settings)
    install()
