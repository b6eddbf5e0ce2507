"""What the intake keeps in memory per process, and that a change made anywhere still reaches it:
the category tree and time-limit table (apps/cases/reference.py), the village/town/county of
each grid (apps/org/geo.py), the work calendar version (apps/cases/clock.py), and the ASGI
handler that runs each request on one thread of a fixed pool (config/asgi.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote, urlsplit

import pytest
from asgiref.sync import SyncToAsync
from asgiref.testing import ApplicationCommunicator
from rest_framework.authtoken.models import Token

from apps.cases import clock, reference
from apps.cases.models import Case, CasePhoto, Category, Step, TimeLimit
from apps.org import geo
from apps.org.models import Region
from tests.api.conftest import report_payload
from tests.factories import another_process_bumps

pytestmark = pytest.mark.django_db

URL = "/api/reports/"


class HttpCommunicator(ApplicationCommunicator):
    """One HTTP request to an ASGI application, and its whole answer. (channels.testing has the
    same, but importing it needs daphne, which nothing here runs.)"""

    def __init__(self, application, method: str, path: str, body: bytes = b"", headers=None):
        target = urlsplit(path)
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": method.upper(),
            "path": unquote(target.path),
            "query_string": target.query.encode(),
            "headers": headers or [],
        }
        super().__init__(application, scope)
        self.body = body

    async def get_response(self, timeout: float = 1) -> dict:
        await self.send_input({"type": "http.request", "body": self.body})
        answer = await self.receive_output(timeout)
        assert answer["type"] == "http.response.start"
        answer["body"] = b""
        while True:
            part = await self.receive_output(timeout)
            assert part["type"] == "http.response.body"
            answer["body"] += part.get("body", b"")
            if not part.get("more_body", False):
                break
        del answer["type"]
        answer.setdefault("headers", [])
        return answer


def test_a_category_switched_off_in_this_process_is_refused_by_the_next_report(org, client_for):
    client = client_for(org.users["gw"])
    assert client.post(URL, report_payload(org), format="json").status_code == 201
    rubbish = Category.objects.get(pk=org.categories["rubbish"].pk)
    rubbish.is_active = False
    rubbish.save()
    response = client.post(URL, report_payload(org), format="json")
    assert response.status_code == 400
    assert "category" in response.json()["errors"]
    assert Case.objects.count() == 1


def test_a_change_another_process_made_is_picked_up_once_the_version_moves(org, settings):
    settings.REFERENCE_RECHECK_S = 3600  # only the version decides here, never the clock
    rubbish = org.categories["rubbish"].pk
    assert reference.active_leaf(rubbish) is not None
    # Another process switched it off: a row change without a signal here, then its bump.
    Category.objects.filter(pk=rubbish).update(is_active=False)
    assert reference.active_leaf(rubbish) is not None  # the copy is trusted until rechecked
    another_process_bumps(reference.VERSION_KEY)
    settings.REFERENCE_RECHECK_S = 0
    assert reference.active_leaf(rubbish) is None


def test_a_category_added_elsewhere_a_moment_ago_is_found_without_waiting(org, settings):
    settings.REFERENCE_RECHECK_S = 3600
    reference.get()  # this process's copy, taken before the new category exists
    parent = org.categories["rubbish"].parent
    created = Category.objects.bulk_create(
        [Category(code="new-leaf", name="新小类", parent=parent)]
    )[0]
    # bulk_create sends no signal: only the other process's bump tells us.
    another_process_bumps(reference.VERSION_KEY)
    assert reference.active_leaf(created.pk).name == "新小类"
    assert reference.active_leaf(999_999) is None


def test_a_time_limit_edit_counts_for_the_next_clock(org):
    rubbish = Category.objects.select_related("parent").get(pk=org.categories["rubbish"].pk)
    case = Case(category=rubbish, severity=3)
    before = clock.limit_hours(case, Step.HANDLE)
    assert before == 4  # the any-severity row of the test organisation
    # A row for this severity takes precedence over the any-severity one, from the next clock on …
    row = TimeLimit.objects.create(category=rubbish, severity=3, step=Step.HANDLE, hours=9)
    assert clock.limit_hours(case, Step.HANDLE) == 9
    row.hours = 11
    row.save()
    assert clock.limit_hours(case, Step.HANDLE) == 11
    # … and deleting it brings the any-severity row back.
    row.delete()
    assert clock.limit_hours(case, Step.HANDLE) == before


def test_the_calendar_version_is_read_again_after_a_change(org, settings):
    from apps.cases.models import WorkCalendarDay

    settings.CALENDAR_RECHECK_S = 3600
    monday = dt.date(2031, 3, 3)
    assert clock.is_workday(monday)
    WorkCalendarDay.objects.create(date=monday, is_workday=False, note="测试假日")
    clock.calendar_changed()
    assert not clock.is_workday(monday)


def test_a_report_is_filed_under_the_town_and_county_the_map_index_knows(org, client_for):
    grid = org.grids["east-v1-g1"]
    place = geo.place_of(grid.pk)
    assert (place.village_id, place.town_id, place.county_id) == (
        grid.village_id,
        grid.village.parent_id,
        grid.village.parent.parent_id,
    )
    response = client_for(org.users["gw"]).post(URL, report_payload(org), format="json")
    assert response.status_code == 201
    assert response.json()["grid_name"] == grid.name
    case = Case.objects.get(pk=response.json()["id"])
    assert (case.village_id, case.town_id, case.county_id, case.holder_id) == (
        grid.village_id,
        grid.village.parent_id,
        grid.village.parent.parent_id,
        grid.village_id,
    )


def test_moving_a_village_to_another_town_in_the_admin_reaches_the_index(org, client):
    from django.contrib.auth.models import User

    village = org.grids["east-v1-g1"].village
    other_town = (
        Region.objects.filter(tier=village.parent.tier).exclude(pk=village.parent_id).first()
    )
    assert geo.place_of(org.grids["east-v1-g1"].pk).town_id == village.parent_id
    client.force_login(User.objects.create_superuser("root", password="root-pass-123"))
    response = client.post(
        f"/admin/org/region/{village.pk}/change/",
        {
            "code": other_town.code[:9] + "901",
            "name": village.name,
            "tier": village.tier,
            "parent": other_town.pk,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert geo.place_of(org.grids["east-v1-g1"].pk).town_id == other_town.pk


def _asgi(requests):
    """Run ``(method, path, body, headers)`` requests through config.asgi's application, one
    after the other, on an event loop of its own in a thread of its own, as a server has (another
    test of the run may have left a loop set on this thread)."""
    from config.asgi import application

    async def run():
        answers = []
        for method, path, body, headers in requests:
            communicator = HttpCommunicator(
                application,
                method,
                path,
                body=body,
                headers=[
                    (b"host", b"localhost"),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            )
            answers.append(await communicator.get_response(timeout=30))
        return answers

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


@pytest.mark.django_db(transaction=True)
def test_the_asgi_app_serves_each_request_whole_on_one_thread_of_a_fixed_pool(org_tx, settings):
    from django.core.signals import request_finished, request_started

    from config.asgi import django_asgi_app

    assert not isinstance(
        django_asgi_app._middleware_chain, SyncToAsync
    )  # the chain is built sync, as WSGI's
    token = Token.objects.create(user=org_tx.users["gw"])
    body = json.dumps(report_payload(org_tx)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Token {token.key}".encode()),
    ]
    seen = []

    def started(**kwargs):
        seen.append(("started", threading.current_thread()))

    def finished(**kwargs):
        seen.append(("finished", threading.current_thread()))

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        answers = _asgi([("POST", URL, body, headers)] * 12)
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    first, *again = answers
    assert first["status"] == 201, first["body"][:500]
    for answer in again:
        assert answer["status"] == 200 and (b"idempotent-replay", b"true") in [
            (k.lower(), v) for k, v in answer["headers"]
        ]
    assert Case.objects.count() == 1
    # Each request: started and finished on the same thread, one of the pool's, never the loop's.
    assert [event for event, _ in seen] == ["started", "finished"] * 12
    for (_, began), (_, ended) in zip(seen[::2], seen[1::2], strict=True):
        assert began is ended and began.name.startswith("django-request")
    # No thread per request: twelve requests in a row were served by the pool's few threads,
    # which are still there afterwards.
    served_by = {thread for _, thread in seen}
    assert len(served_by) <= django_asgi_app.threads < 12
    assert all(thread.is_alive() for thread in served_by)


def _fetch_until_hang_up(path, headers) -> bytes:
    """GET ``path`` through the ASGI app as a client that hangs up once the first chunk is in."""
    from config.asgi import application

    async def run():
        hung_up, received, requested = asyncio.Event(), [], False

        async def receive():
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await hung_up.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                assert message["status"] == 200, message
            if message["type"] == "http.response.body":
                received.append(message.get("body", b""))
                hung_up.set()
                await asyncio.sleep(0.05)  # the server hears of it before this chunk is done

        path_only, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path_only,
            "raw_path": path_only.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"localhost"), *headers],
            "client": ("127.0.0.1", 1),
            "server": ("localhost", 80),
        }
        await asyncio.wait_for(application(scope, receive, send), timeout=30)
        return b"".join(received)

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


@pytest.mark.django_db(transaction=True)
def test_the_asgi_app_streams_a_photo_file_and_a_csv_export(org_tx, client):
    from PIL import Image

    from apps.cases.photos import case_photos_process

    token = Token.objects.create(user=org_tx.users["gw"])
    auth = [(b"authorization", f"Token {token.key}".encode())]
    payload = report_payload(org_tx)
    boundary = "liandong-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in payload.items()
    ]
    # Noise: its served copy is large enough to be sent in many chunks.
    noise = Image.frombytes("RGB", (2400, 1600), random.Random(7).randbytes(2400 * 1600 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "JPEG", quality=80)
    jpeg = buffer.getvalue()
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + jpeg
        + b"\r\n"
    )
    multipart = b"".join(parts) + f"--{boundary}--\r\n".encode()
    (created,) = _asgi(
        [
            (
                "POST",
                URL,
                multipart,
                [(b"content-type", f"multipart/form-data; boundary={boundary}".encode()), *auth],
            )
        ]
    )
    assert created["status"] == 201, created["body"][:500]
    case = Case.objects.get()
    # Make the served copy here, unless a Celery worker left running by an earlier test (the
    # routing task makes a report's copies) got there first: either way it exists afterwards.
    case_photos_process(case_id=case.pk)
    assert CasePhoto.objects.get(case=case).web.name
    photo_url = json.loads(created["body"])["photos"][0]["web_url"]
    # The case export: a streamed CSV whose rows are read from the database while it is sent.
    client.force_login(org_tx.users["td"])
    session = f"sessionid={client.cookies['sessionid'].value}".encode()
    photo, export = _asgi(
        [
            ("GET", photo_url, b"", auth),
            ("GET", "/admin/cases/case/export.csv", b"", [(b"cookie", session)]),
        ]
    )
    assert photo["status"] == 200
    assert Image.open(io.BytesIO(photo["body"])).size == (1920, 1280)
    assert len(photo["body"]) > 3 * 65536  # several chunks
    # The phone hangs up after the first chunk: the thread stops sending the rest.
    assert len(_fetch_until_hang_up(photo_url, auth)) < len(photo["body"]) / 2
    assert export["status"] == 200, export["body"][:300]
    from apps.cases import tracking

    assert tracking.display(case.tracking_number) in export["body"].decode("utf-8-sig")


@pytest.mark.django_db(transaction=True)
def test_a_view_pushing_to_the_channel_layer_pushes_through_the_servers_loop(org_tx, monkeypatch):
    """A view that pushes (marking a notification read sends the new unread count to the user's
    sockets) runs on a pool thread; its ``async_to_sync`` must reach the server's own loop."""
    from channels.layers import get_channel_layer

    from apps.cases import services
    from apps.notify import push
    from apps.notify.models import Kind, Notification
    from apps.notify.selectors import user_group
    from config.asgi import application

    in_server_thread, answers = push._in_server_thread, []
    monkeypatch.setattr(
        push, "_in_server_thread", lambda: answers.append(in_server_thread()) or answers[-1]
    )

    user = org_tx.users["gw"]
    lat, lng = org_tx.point_in(org_tx.grids["east-v1-g1"])
    case, _ = services.case_report(
        reporter=user,
        category=org_tx.categories["rubbish"],
        description="路灯不亮",
        lat=lat,
        lng=lng,
        restrict_to_grids=None,
    )
    notification = Notification.objects.create(
        recipient=user, case=case, event=case.events.first(), kind=Kind.DISPATCH, title="新派遣"
    )
    token = Token.objects.create(user=user)

    async def run():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(user_group(user.pk), channel)
        communicator = HttpCommunicator(
            application,
            "POST",
            f"/api/notifications/{notification.pk}/read/",
            headers=[(b"host", b"localhost"), (b"authorization", f"Token {token.key}".encode())],
        )
        answer = await communicator.get_response(timeout=30)
        pushed = await asyncio.wait_for(layer.receive(channel), timeout=10)
        await layer.group_discard(user_group(user.pk), channel)
        return answer, pushed

    with ThreadPoolExecutor(max_workers=1) as pool:
        answer, pushed = pool.submit(asyncio.run, run()).result()
    assert answer["status"] == 200, answer["body"][:300]
    assert pushed["payload"] == {"type": "unread", "count": 0}
    assert answers == [True]  # sent by the server's loop, not a loop of the request thread's own


def test_a_report_from_a_phone_already_seen_is_two_inserts_and_nothing_else(org):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=org.users['gw']).key}")
    assert client.post(URL, report_payload(org), format="json").status_code == 201
    with CaptureQueriesContext(connection) as queries:
        assert client.post(URL, report_payload(org), format="json").status_code == 201
    statements = [
        q["sql"].split("(")[0].strip()
        for q in queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT"))
    ]
    assert statements == ['INSERT INTO "cases_case"', 'INSERT INTO "cases_caseevent"']
