"""Celery task that makes the served copies of case photos (see ``apps.cases.photos``).

Registered under ``apps.cases.tasks`` (the name the outbox sweep re-sends for ``"photos"``
left in ``Case.pending_work``); ``apps/cases/tasks.py`` imports this module so autodiscovery
finds it. Takes an id, calls the service, safe to run twice (acks_late in settings).
"""

from __future__ import annotations

from celery import shared_task

from apps.cases.photos import case_photos_process

__all__ = ["process_case_photos"]


@shared_task(name="apps.cases.tasks.process_case_photos")
def process_case_photos(case_id: int) -> int:
    return case_photos_process(case_id=case_id)
