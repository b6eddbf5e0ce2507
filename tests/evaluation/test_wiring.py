"""The evaluation app's wiring: beat schedule, the refresh task, the weights in the admin."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from apps.evaluation import tasks
from apps.evaluation.models import EvaluationWeight, RollupCursor

from .helpers import report_at, t


def test_the_refresh_runs_every_minute_on_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["evaluation-refresh-rollups"]
    assert entry["task"] == "apps.evaluation.tasks.refresh_rollups" and entry["schedule"] <= 60


@pytest.mark.django_db
def test_the_refresh_task_rolls_up_new_history_and_stamps_the_time(org):
    report_at(org, t("2025-03-03", "09:00"))
    result = tasks.refresh_rollups()
    assert result["read"] >= 2 and result["days"] >= 1
    assert RollupCursor.objects.get(name="events").refreshed_at is not None


@pytest.mark.django_db
def test_the_refresh_task_stands_aside_while_another_refresh_runs(org):
    cache.add(tasks.LOCK_KEY, "1", timeout=30)
    try:
        assert tasks.refresh_rollups() is None
    finally:
        cache.delete(tasks.LOCK_KEY)


@pytest.mark.django_db
def test_the_weights_are_seeded_and_editable_in_the_admin(org):
    assert EvaluationWeight.objects.filter(kind="town", indicator="handle_on_time_rate").exists()
    User.objects.create_superuser("root", password="root-pass-123")
    client = Client()
    client.login(username="root", password="root-pass-123")
    page = client.get("/admin/evaluation/evaluationweight/")
    assert page.status_code == 200 and "按时处置率" in page.content.decode()
