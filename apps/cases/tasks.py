"""Celery tasks of the case workflow. Each takes ids, calls the workflow service, and is safe
to run twice (acks_late + reject_on_worker_lost in settings: a killed worker means a retry)."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.cases import services

log = logging.getLogger(__name__)


@shared_task(name="apps.cases.tasks.route_case")
def route_case(case_id: int) -> None:
    services.case_route(case_id=case_id)
