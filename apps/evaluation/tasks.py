"""Celery tasks of the evaluation app. The refresh is idempotent and guarded by a lock, so a
slow run (a backlog after a bulk import) and the next beat tick never work on the same days."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

from apps.core.leases import lease_take
from apps.evaluation import services

log = logging.getLogger(__name__)

LOCK_KEY = "evaluation:refresh-lock"


@shared_task(name="apps.evaluation.tasks.refresh_rollups", acks_late=True, ignore_result=True)
def refresh_rollups() -> dict | None:
    if not lease_take(name="refresh_rollups", every_s=60.0):
        return None  # this minute's refresh was done already (a second beat, a late copy)
    if not cache.add(LOCK_KEY, "1", timeout=120):
        return None  # another refresh is still running; the next tick catches up
    try:
        result = services.rollups_refresh()
        if result["read"] or result["days"]:
            log.info("evaluation rollups refreshed: %s", result)
        return result
    finally:
        cache.delete(LOCK_KEY)
