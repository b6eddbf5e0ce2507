"""live.js keeps the replay cursor (issue #15), in headless Chromium on the field app: a
notification committed after a higher one was already shown, while Redis restarts, is shown
after the reconnect — once, and the higher one not again; a notification whose push was lost
on an open socket is fetched as soon as the badge count says there is one more."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from celery import Celery
from django.utils import timezone

import config.celery
from apps.cases.models import CaseEvent
from apps.notify import push, selectors
from apps.notify.models import Kind, Notification
from apps.notify.serializers import notification_payload
from config.env import celery_broker_url
from tests.conftest import _worker_env, field_login, uvicorn_server, wait_for_js
from tests.notify.helpers import at_town_desk
from tests.private_redis import private_redis  # noqa: F401 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOWN = "JSON.stringify(window.__shown)"


def test_the_phone_shows_a_late_committed_and_a_lost_notification_once(
    org_tx,
    private_redis,
    settings,
    monkeypatch,
    phone_context,  # noqa: F811 - the fixture
):
    gw = org_tx.users["gw"]
    # The case's tasks go to the test's Redis, where no worker listens: a Celery worker of this
    # run would fan its events out, and its rows' ids would collide with the ones planned here.
    monkeypatch.setattr(
        config.celery, "app", Celery("liandong-test", broker=celery_broker_url(private_redis.url))
    )
    case = at_town_desk(org_tx)  # gw reported it, so gw sees it
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "apps.notify.layers.BlockingPoolRedisChannelLayer",
            "CONFIG": {"hosts": [private_redis.url], "expiry": 30},
        }
    }
    base_id = (
        Notification.objects.order_by("-id").values_list("id", flat=True).first() or 0
    ) + 1000

    def commit(offset: int, title: str) -> Notification:
        event = CaseEvent.objects.create(
            case=case, action="urge", actor=org_tx.users["td"], notified_at=timezone.now()
        )
        return Notification.objects.create(
            id=base_id + offset, recipient=gw, case=case, event=event, kind=Kind.URGE, title=title
        )

    # Pushed from a thread of its own, as from a Celery worker: Playwright's loop runs in this one.
    pusher = ThreadPoolExecutor(max_workers=1)

    def push_notification(n: Notification) -> bool:
        return pusher.submit(
            push.send, [(selectors.user_group(gw.pk), notification_payload(n))]
        ).result()

    def push_badge() -> bool:
        badge = {"type": "unread", "count": selectors.unread_count(gw)}
        return pusher.submit(push.send, [(selectors.user_group(gw.pk), badge)]).result()

    env = {**_worker_env(), "REDIS_URL": private_redis.url}
    with uvicorn_server(env) as base:
        phone = phone_context.new_page()
        field_login(phone, base, "gw")
        wait_for_js(phone, "window.liandongNotify && window.liandongNotify.ready()")
        phone.evaluate(
            "window.__shown = []; window.__sameDocument = true;"
            "window.liandongNotify.on('notification', function (m) { window.__shown.push(m.id); })"
        )

        # id +2 is committed and shown while +1, taken before it, is still open.
        high = commit(2, "督办：第二条")
        assert push_notification(high)
        wait_for_js(phone, f"{SHOWN} === '[{high.pk}]'", timeout=10)

        private_redis.stop()  # the socket is closed (1012); live.js reconnects with backoff
        wait_for_js(phone, "!window.liandongNotify.connected()", timeout=10)
        low = commit(1, "督办：第一条")
        assert not push_notification(low)  # Redis is down: this push is lost
        private_redis.start()
        wait_for_js(phone, f"{SHOWN} === '[{high.pk},{low.pk}]'", timeout=30)

        # A push lost on the open socket: only the badge count arrives.
        lost = commit(3, "督办：第三条")
        wait_for_js(phone, "window.liandongNotify.ready()", timeout=10)
        assert push_badge()
        wait_for_js(phone, f"{SHOWN} === '[{high.pk},{low.pk},{lost.pk}]'", timeout=10)
        stored = phone.evaluate("JSON.parse(localStorage.getItem('liandong.notify'))")
        assert phone.evaluate("window.__sameDocument") is True

    pusher.shutdown()
    assert stored["user"] == gw.pk
    # All three are younger than NOTIFY_SETTLE_S: remembered above the cursor, not in it.
    assert stored["cursor"] < low.pk and sorted(stored["seen"]) == [low.pk, high.pk, lost.pk]
