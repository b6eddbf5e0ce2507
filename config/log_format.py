"""The request id on every log record (``-`` outside a request or task)."""

from __future__ import annotations

import logging

from django_guid import get_guid


class RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = get_guid() or "-"
        return True
