"""Live notifications end to end: the real ASGI server (uvicorn), a real Celery worker, Redis as
broker and channel layer, and a real WebSocket client."""

import time

import pytest

from apps.cases import services as workflow
from apps.cases.models import CaseEvent
from apps.cases.tracking import display
from apps.notify.models import Notification
from tests.cases.helpers import dispatched_at_town
from tests.conftest import wait_for
from tests.notify.helpers import at_town_desk
from tests.notify.sockets import (
    close_code,
    messages_within,
    next_message,
    open_socket,
    send,
    session_cookie_for,
    ticket_for,
    ticket_via_api,
    token_for,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def settled(case) -> None:
    """Wait until the worker has fanned out every event of the case so far."""
    wait_for(lambda: not CaseEvent.objects.filter(case=case, notified_at__isnull=True).exists())


def test_an_assignment_reaches_the_unit_members_phone_within_a_second(
    org_tx, asgi_server, celery_worker_process
):
    u = org_tx.users
    case = at_town_desk(org_tx)
    settled(case)
    with (
        open_socket(asgi_server, cookie=session_cookie_for(u["dh"])) as phone,
        open_socket(asgi_server, ticket=ticket_for(u["dh_w"])) as outsider,
    ):
        hello = next_message(phone, "hello")
        assert hello["user"] == u["dh"].pk and hello["unread"] == 0
        next_message(outsider, "hello")
        started = time.monotonic()
        workflow.case_dispatch(case=case, actor=u["td"], lead_unit=org_tx.units["east-cg"])
        pushed = next_message(phone, "notification", timeout=1.0)
        elapsed = time.monotonic() - started
        assert pushed["kind"] == "dispatch" and pushed["case"] == case.pk
        assert (
            pushed["tracking_number"] == display(case.tracking_number)
            and pushed["title"] == "新派遣：暴露垃圾"
        )
        assert elapsed < 1.0
        assert next_message(phone, "unread") == {"type": "unread", "count": 1}  # the badge follows
        assert not [m for m in messages_within(outsider, 0.5) if m["type"] == "notification"]


def test_a_reconnecting_phone_gets_everything_since_the_last_id_it_saw(
    org_tx, asgi_server, celery_worker_process
):
    u = org_tx.users
    case = dispatched_at_town(org_tx)
    settled(case)
    token = token_for(u["dh"])
    with open_socket(asgi_server, ticket=ticket_via_api(asgi_server, token), since=0) as phone:
        first = next_message(phone, "notification")
        assert first["replayed"] and first["kind"] == "dispatch"
        assert next_message(phone, "replay.done")["count"] == 1
    # Offline: two urges arrive while the phone has no connection.
    workflow.case_urge(case=case, actor=u["td"], note="尽快")
    workflow.case_urge(case=case, actor=u["td"], note="再次督办")
    settled(case)
    with open_socket(
        asgi_server, ticket=ticket_via_api(asgi_server, token), since=first["id"]
    ) as phone:
        hello = next_message(phone, "hello")
        assert hello["unread"] == 3 and hello["last_id"] > first["id"]
        replayed = [next_message(phone, "notification"), next_message(phone, "notification")]
        done = next_message(phone, "replay.done")
    # The urges are younger than NOTIFY_SETTLE_S: the cursor stays where it was, so a later
    # replay would offer them again (the client lists them in ``seen``).
    assert [m["kind"] for m in replayed] == ["urge", "urge"]
    assert done == {"type": "replay.done", "count": 2, "more": False, "cursor": first["id"]}
    assert [m["id"] for m in replayed] == sorted(m["id"] for m in replayed)
    assert all(m["id"] > first["id"] for m in replayed)


def test_anonymous_sockets_and_forged_tickets_are_refused(org_tx, asgi_server):
    with open_socket(asgi_server) as anonymous:
        send(anonymous, type="subscribe", group=f"user.{org_tx.users['dh'].pk}")
        assert close_code(anonymous) == 4401
    forged_ticket = ticket_for(org_tx.users["gw"]).replace(
        f"{org_tx.users['gw'].pk}.", f"{org_tx.users['dh'].pk}.", 1
    )
    with open_socket(asgi_server, ticket=forged_ticket) as forged:
        error = next_message(forged, "error")
        assert error["code"] == 4401 and "请重新获取票据" in error["detail"]
        assert close_code(forged) == 4401
    with open_socket(asgi_server) as late:
        send(late, type="auth", ticket="also-not-a-ticket")
        assert close_code(late) == 4401


def test_a_long_lived_token_is_refused_on_the_socket_even_when_valid(org_tx, asgi_server):
    token = token_for(org_tx.users["dh"])
    with open_socket(asgi_server, token=token) as in_url:
        error = next_message(in_url, "error")
        assert error["code"] == 4401 and "/api/notifications/ticket/" in error["detail"]
        assert close_code(in_url) == 4401
    with open_socket(asgi_server) as in_message:
        send(in_message, type="auth", token=token)
        assert "?ticket=" in next_message(in_message, "error")["detail"]
        assert close_code(in_message) == 4401


def test_a_ticket_opens_one_socket_only(org_tx, asgi_server):
    ticket = ticket_via_api(asgi_server, token_for(org_tx.users["dh"]))
    with open_socket(asgi_server, ticket=ticket) as first:
        assert next_message(first, "hello")["user"] == org_tx.users["dh"].pk
        with open_socket(asgi_server, ticket=ticket) as replayed:
            assert next_message(replayed, "error")["code"] == 4401
            assert close_code(replayed) == 4401
        send(first, type="ping")
        next_message(first, "pong")  # the first socket is unaffected


def test_a_ticket_sent_as_the_first_message_authenticates(org_tx, asgi_server):
    with open_socket(asgi_server) as client:
        send(client, type="auth", ticket=ticket_for(org_tx.users["dh"]))
        assert next_message(client, "hello")["user"] == org_tx.users["dh"].pk


def test_subscribing_to_another_unit_is_refused(org_tx, asgi_server):
    u, units = org_tx.users, org_tx.units
    with open_socket(asgi_server, ticket=ticket_for(u["dh"])) as phone:
        hello = next_message(phone, "hello")
        assert f"unit.{units['east-cg'].pk}" in hello["may_subscribe"]
        send(phone, type="subscribe", group=f"unit.{units['east-cg'].pk}")
        assert next_message(phone, "subscribed")["group"] == f"unit.{units['east-cg'].pk}"
        send(phone, type="subscribe", group=f"unit.{units['west-cg'].pk}")
        assert close_code(phone) == 4403


def test_a_grid_worker_may_not_follow_the_villages_desk_nor_another_user(org_tx, asgi_server):
    u = org_tx.users
    with open_socket(asgi_server, ticket=ticket_for(u["gw"])) as phone:
        assert next_message(phone, "hello")["may_subscribe"] == [f"user.{u['gw'].pk}"]
        send(phone, type="subscribe", group=f"region.{org_tx.villages['east-v1'].pk}")
        assert close_code(phone) == 4403
    with open_socket(asgi_server, ticket=ticket_for(u["gw"])) as phone:
        send(phone, type="subscribe", group=f"user.{u['gw2'].pk}")
        assert close_code(phone) == 4403


def test_the_desk_follows_its_counters_and_a_foreign_desk_is_refused(
    org_tx, asgi_server, celery_worker_process
):
    u = org_tx.users
    east = org_tx.towns["east"]
    with open_socket(asgi_server, cookie=session_cookie_for(u["td"])) as desk:
        next_message(desk, "hello")
        send(desk, type="subscribe", group=f"region.{east.pk}")
        assert next_message(desk, "desk.counts") == {
            "type": "desk.counts",
            "region": east.pk,
            "new": 0,
            "overdue": 0,
        }
        case = at_town_desk(org_tx)
        assert (
            next_message(desk, "notification", where=lambda m: m["case"] == case.pk)["kind"]
            == "escalation"
        )
        assert next_message(desk, "desk.counts", where=lambda m: m["new"] == 1)["region"] == east.pk
        send(desk, type="subscribe", group=f"region.{org_tx.towns['west'].pk}")
        assert close_code(desk) == 4403


def test_marking_read_on_one_device_updates_the_badge_on_the_other(
    org_tx, asgi_server, celery_worker_process
):
    u = org_tx.users
    case = dispatched_at_town(org_tx)
    settled(case)
    notification = Notification.objects.get(recipient=u["dh"])
    with (
        open_socket(asgi_server, ticket=ticket_for(u["dh"])) as phone,
        open_socket(asgi_server, cookie=session_cookie_for(u["dh"])) as desk,
    ):
        assert next_message(phone, "hello")["unread"] == 1
        next_message(desk, "hello")
        send(phone, type="mark_read", id=notification.pk)
        assert next_message(desk, "unread") == {"type": "unread", "count": 0}
        assert next_message(phone, "unread") == {"type": "unread", "count": 0}
        send(phone, type="mark_read", id=notification.pk + 1000)
        assert next_message(phone, "error")["detail"] == "没有这条通知。"
    assert Notification.objects.get(pk=notification.pk).read_at is not None


def test_malformed_and_oversized_frames_are_answered_not_crashed_on(org_tx, asgi_server):
    with open_socket(asgi_server, ticket=ticket_for(org_tx.users["dh"]), since="abc") as client:
        assert next_message(client, "error")["detail"] == "since 必须是通知编号（非负整数）。"
        client.send("{not json")
        assert next_message(client, "error")["detail"] == "消息不是有效的 JSON。"
        send(client, type="launch_rockets")
        assert "未知的消息类型" in next_message(client, "error")["detail"]
        send(client, type="ping")
        next_message(client, "pong")  # still open and answering
        client.send("x" * 5000)
        assert close_code(client) == 4400
    with open_socket(
        asgi_server, ticket=ticket_for(org_tx.users["dh"]), since=0, seen="3,x"
    ) as client:
        assert (
            next_message(client, "error")["detail"] == "seen 必须是通知编号的列表（最多 500 个）。"
        )
        send(client, type="replay", since=0, seen=list(range(501)))
        assert (
            next_message(client, "error")["detail"] == "seen 必须是通知编号的列表（最多 500 个）。"
        )
        send(client, type="replay", since=0, seen=[3])
        assert next_message(client, "replay.done") == {
            "type": "replay.done",
            "count": 0,
            "more": False,
            "cursor": 0,
        }
