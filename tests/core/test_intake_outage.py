"""The intake through the real server while its Redis (cache, sessions' cache, broker, channel
layer) stops and starts several times (issue #15): phones keep reporting without a single
error, a report sent again with the same id is answered with the same case, none is lost or
doubled, and once Redis is back the outbox hands every report its follow-up (routing and
notifications). tests/core/test_cache_outage.py covers the same paths in-process."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter

import pytest
from celery import Celery
from django.conf import settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

import config.celery
from apps.cases import sweep
from apps.cases.models import Case, CaseEvent
from config.env import celery_broker_url
from tests.api.conftest import report_payload
from tests.conftest import _worker_env, celery_worker, uvicorn_server, wait_for
from tests.private_redis import private_redis  # noqa: F401 - a fixture

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PHONES = 4
REPORTS_PER_PHONE = 15
OUTAGES = 3
OUTAGE_S = 3.0


class Phone(threading.Thread):
    """Sends its reports one after the other, as the field app's outbox does: a report whose
    answer did not arrive (no connection, a 5xx) is sent again, same id, until it is answered."""

    def __init__(self, base: str, token: str, payloads: list[dict]):
        super().__init__(daemon=True)
        self.base, self.token, self.payloads = base, token, payloads
        self.answers: list[tuple[str, int, bool, int | None]] = []  # (id, status, replay, case)
        self.answered_at: list[float] = []
        self.failures: list[str] = []  # 5xx or no answer, each retried

    def post(self, payload: dict) -> tuple[int, dict, bool]:
        request = urllib.request.Request(
            self.base + "/api/reports/",
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "Authorization": f"Token {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                replay = response.headers.get("Idempotent-Replay") == "true"
                return response.status, json.loads(response.read()), replay
        except urllib.error.HTTPError as error:
            return error.code, {"detail": error.read().decode()[:300]}, False

    def send(self, payload: dict) -> None:
        for _attempt in range(20):
            try:
                status, body, replay = self.post(payload)
            except OSError as exc:
                self.failures.append(f"{payload['id']}: {exc!r}")
                time.sleep(0.5)
                continue
            self.answers.append((payload["id"], status, replay, body.get("id")))
            self.answered_at.append(time.monotonic())
            if status < 500:
                return
            self.failures.append(f"{payload['id']}: {status} {body}")
            time.sleep(0.5)

    def run(self) -> None:
        for i, payload in enumerate(self.payloads):
            self.send(payload)
            if i % 5 == 4:
                self.send(payload)  # the answer was lost on the way: the outbox sends it again
            time.sleep(0.15)


def test_reports_through_the_server_while_redis_restarts_lose_nothing_and_fail_nothing(
    org_tx, private_redis
):
    gw = org_tx.users["gw"]
    token = Token.objects.create(user=gw).key
    env = {**_worker_env(), "REDIS_URL": private_redis.url}
    with uvicorn_server(env) as base:
        phones = [
            Phone(
                base,
                token,
                [
                    report_payload(org_tx, description=f"路边堆放垃圾 {p}-{i}")
                    for i in range(REPORTS_PER_PHONE)
                ],
            )
            for p in range(PHONES)
        ]
        for phone in phones:
            phone.start()
        down: list[tuple[float, float]] = []
        while any(phone.is_alive() for phone in phones) and len(down) < OUTAGES:
            time.sleep(1.0)
            private_redis.stop()
            stopped = time.monotonic()
            time.sleep(OUTAGE_S)
            down.append((stopped, time.monotonic()))
            private_redis.start()
        for phone in phones:
            phone.join(timeout=120)
        assert not any(phone.is_alive() for phone in phones)

        # Redis is back: the worker and beat's outbox sweep (a minute later) do the follow-up
        # whose messages were lost with each restart (a Redis without persistence forgets them).
        broker = Celery("liandong-test", broker=celery_broker_url(private_redis.url))
        broker.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        config_app, config.celery.app = config.celery.app, broker
        try:
            with celery_worker(env, name="intake"):
                sweep.sweep_outbox(now=timezone.now() + dt.timedelta(minutes=2))
                wait_for(
                    lambda: (
                        not Case.objects.exclude(pending_work=[]).exists()
                        and not CaseEvent.objects.filter(notified_at__isnull=True).exists()
                    ),
                    timeout=60,
                )
        finally:
            config.celery.app = config_app

    # The premise: the phones were still reporting through every outage.
    assert len(down) == OUTAGES
    for stopped, started in down:
        assert sum(stopped < at < started for phone in phones for at in phone.answered_at) >= PHONES
    answers = [answer for phone in phones for answer in phone.answers]
    failures = [failure for phone in phones for failure in phone.failures]
    assert failures == []  # not one 5xx, not one dropped connection: only Redis was down
    statuses = Counter((status, replay) for _id, status, replay, _case in answers)
    sent = PHONES * REPORTS_PER_PHONE
    assert statuses == {(201, False): sent, (200, True): sent // 5}
    # Each id has one case, and every answer for it named that case.
    cases = dict(Case.objects.filter(reporter=gw).values_list("client_uuid", "pk"))
    assert len(cases) == sent
    for report_id, _status, _replay, case_id in answers:
        assert cases[uuid.UUID(report_id)] == case_id
    routed = Case.objects.filter(reporter=gw, pending_work=[])
    assert routed.count() == sent and not routed.filter(village__isnull=True).exists()
    assert CaseEvent.objects.filter(case__reporter=gw, action="report").count() == sent
