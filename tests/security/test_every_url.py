"""Every URL outside the admin, every role of the east town, the west town's objects.

The routes are read from the URL resolver, not listed by hand: a route added later fails
``test_every_route_is_classified`` until it is placed below — public (no login, with the reason),
signed in, or naming an object (then how to build the west town's object it names). For each
route naming an object, every east-town role tries the west town's object and must get 403 or
404 with nothing changed; every route that needs a login refuses an anonymous caller. The admin
has its own enumeration (tests/admin/test_every_admin.py), and the WebSocket its own
(tests/notify/test_tickets.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from apps.cases.models import Case, CaseEvent, CasePhoto
from apps.notify.models import Kind, Notification
from apps.places.models import Place, PlaceEvent, PlaceKind
from apps.places.services import place_add
from tests.admin.conftest import add_photo, at_town, login

pytestmark = pytest.mark.django_db

EAST_ROLES = ["gw", "gw2", "gl", "vh", "td", "dh"]

# No login: who may open them and why.
PUBLIC = {
    "": "the home page sends each person to their own start page (or the login)",
    "accounts/login/": "the desk's login",
    "accounts/logout/": "logging out",
    "i18n/setlang/": "the language switch",
    "api/schema/": "the API's description, no data",
    "api/docs/": "the API's description, no data",
    "api/auth/token/": "signing in for a token",
    "field/login/": "the field app's login",
    "field/logout/": "logging out",
    "field/manifest.webmanifest": "the PWA's manifest",
    "field/sw.js": "the PWA's service worker (no data)",
    "field/": "the app shell; its data come from the API, which needs a login",
    "track/": "citizens: status by tracking number",
    "track/board/": "大联动公开: the public board (sensitive categories withheld)",
    "track/clock/": "时限与颜色说明: the clock rule in words, no data",
    "track/verify/": "citizens: the reporter's second factor",
    "track/rate/": "citizens: rating with the second factor",
    "track/report/": "随手拍: a citizen's report",
    "track/t/<str:token>/": "the citizen's link; the 192-bit token is the key",
    "track/p/<str:number>/<int:photo_id>/<str:size>.jpg": "photos marked public only",
    "track/map/grids.geojson": "grid outlines for the 随手拍 map",
}
OPEN311 = "open311/v2/"  # Open311 clients: public reads, API keys for writes (test_open311.py)

# Signed in, and nothing in the route names an object: the answer is scoped by the caller.
SIGNED_IN = {
    "accounts/password/",
    "field/password/",
    "api/me/",
    "api/categories/",
    "api/reports/",
    "api/cases/mine/",
    "api/tasks/",
    "api/notifications/",
    "api/notifications/unread-count/",
    "api/notifications/read-all/",
    "api/notifications/ticket/",
    "api/notifications/desk-counts/",
    "api/places/",
    "api/places/near/",
    "api/places/kinds/",
    "api/places/import/",
    "evaluation/",
    "evaluation/indicators/",
    "evaluation/scores/",
    "evaluation/hotspots/",
    "evaluation/board/",
    "evaluation/board.json",
    "evaluation/help/",
}


@dataclass
class West:
    """The west town's objects, and what must stay as it is."""

    case: Case
    photo: CasePhoto
    notification: Notification
    client_uuid: uuid.UUID
    place: Place

    def state(self) -> tuple[Any, ...]:
        self.case.refresh_from_db()
        self.notification.refresh_from_db()
        self.place.refresh_from_db()
        return (
            self.place.status,
            self.place.version,
            PlaceEvent.objects.filter(place=self.place).count(),
            self.case.status,
            self.case.version,
            CaseEvent.objects.filter(case=self.case).count(),
            CasePhoto.objects.filter(case=self.case).count(),
            self.notification.read_at,
        )


@dataclass
class Try:
    method: str
    path: str
    data: dict[str, Any] | None = None


# Routes that name an object: the west town's object, as the request an east role tries.
OBJECT_ROUTES: dict[str, Callable[[Any, West], list[Try]]] = {
    "api/cases/<int:pk>/": lambda org, w: [Try("get", f"/api/cases/{w.case.pk}/")],
    "api/cases/<int:pk>/actions/<slug:action>/": lambda org, w: [
        Try("post", f"/api/cases/{w.case.pk}/actions/{action}/", {"note": "越权"})
        for action in ("sign", "handle", "escalate", "return", "accept", "close", "verify")
    ],
    "api/reports/<uuid:client_uuid>/photos/": lambda org, w: [
        Try("post", f"/api/reports/{w.client_uuid}/photos/", {"id": str(uuid.uuid4())})
    ],
    "api/photos/<int:pk>/<slug:size>/": lambda org, w: [
        Try("get", f"/api/photos/{w.photo.pk}/{size}/") for size in ("web", "thumb")
    ],
    "api/citizen-link/<int:pk>/": lambda org, w: [Try("get", f"/api/citizen-link/{w.case.pk}/")],
    "api/citizen-link/<int:pk>/qr.svg": lambda org, w: [
        Try("get", f"/api/citizen-link/{w.case.pk}/qr.svg")
    ],
    "api/places/<int:pk>/": lambda org, w: [Try("get", f"/api/places/{w.place.pk}/")],
    "api/places/<int:pk>/actions/<slug:action>/": lambda org, w: [
        Try("post", f"/api/places/{w.place.pk}/actions/{action}/", {"reason": "越权"})
        for action in ("confirm", "reject", "close")
    ],
    "api/notifications/<int:pk>/read/": lambda org, w: [
        Try("post", f"/api/notifications/{w.notification.pk}/read/")
    ],
    "evaluation/scores/<str:kind>/<int:subject_id>/": lambda org, w: [
        Try("get", f"/evaluation/scores/{kind}/{subject.pk}/")
        for kind, subject in (
            ("town", org.towns["west"]),
            ("village", org.villages["west-v1"]),
            ("stationed", org.units["west-cg"]),
            ("grid_worker", org.users["gw_w"]),
        )
    ],
}


def routes() -> Iterator[str]:
    def walk(patterns, prefix: str) -> Iterator[str]:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    for route in walk(get_resolver().url_patterns, ""):
        if not route.startswith(("admin/", "static/", "media/")):
            yield route


def test_every_route_is_classified():
    unplaced = [
        r
        for r in routes()
        if r not in PUBLIC
        and r not in SIGNED_IN
        and r not in OBJECT_ROUTES
        and not r.startswith(OPEN311)
    ]
    assert not unplaced, (
        f"say who may open these routes (PUBLIC, SIGNED_IN or OBJECT_ROUTES): {unplaced}"
    )
    stale = (set(PUBLIC) | SIGNED_IN | set(OBJECT_ROUTES)) - set(routes())
    assert not stale, f"routes that no longer exist: {sorted(stale)}"


@pytest.fixture
def west(org) -> West:
    case = at_town(org, "west")
    photo = add_photo(case)
    client_uuid = uuid.uuid4()
    Case.objects.filter(pk=case.pk).update(client_uuid=client_uuid)
    notification = Notification.objects.create(
        recipient=org.users["td_w"],
        case=case,
        event=case.events.order_by("pk").last(),
        kind=Kind.ESCALATION,
        title="西镇待派遣",
    )
    kind = PlaceKind.objects.create(code="building", name="楼栋")
    lat, lng = org.point_in(org.grids["west-v1-g1"])
    place, _ = place_add(actor=org.users["gw_w"], kind=kind, name="西镇楼栋", lat=lat, lng=lng)
    return West(
        case=case,
        photo=photo,
        notification=notification,
        client_uuid=client_uuid,
        place=place,
    )


def _send(client: Client, attempt: Try):
    if attempt.method == "get":
        return client.get(attempt.path)
    return client.post(attempt.path, attempt.data or {}, content_type="application/json")


@pytest.mark.parametrize("route", sorted(OBJECT_ROUTES))
def test_no_east_role_reaches_a_west_object(org, west, route):
    before = west.state()
    for role in EAST_ROLES:
        client = login(org.users[role])
        for attempt in OBJECT_ROUTES[route](org, west):
            response = _send(client, attempt)
            assert response.status_code in (403, 404), (role, attempt, response.status_code)
            assert west.case.tracking_number not in response.content.decode(errors="replace")
    assert west.state() == before


@pytest.mark.parametrize("route", sorted(OBJECT_ROUTES))
def test_the_west_town_itself_reaches_its_objects(org, west, route):
    """The check above is not a route that refuses everyone: someone of the west town (or the
    county) gets an answer that is not 403/404 for at least one of the route's requests."""
    answers = set()
    for role in ("gw_w", "vh_w", "td_w", "cd", "leader"):
        client = login(org.users[role])
        for attempt in OBJECT_ROUTES[route](org, west):
            if attempt.method == "get":
                answers.add(_send(client, attempt).status_code)
    if any(a.method == "get" for a in OBJECT_ROUTES[route](org, west)):
        assert answers - {403, 404}, (route, answers)


@pytest.mark.parametrize("route", sorted(SIGNED_IN | set(OBJECT_ROUTES)))
def test_a_route_that_needs_a_login_refuses_an_anonymous_caller(org, west, route):
    attempts = (
        OBJECT_ROUTES[route](org, west) if route in OBJECT_ROUTES else [Try("get", "/" + route)]
    )
    for attempt in attempts:
        response = _send(Client(), attempt)
        if response.status_code == 302:
            assert "login" in response["Location"], (attempt, response["Location"])
        else:
            # 404: the photo route also serves signed public links, and says nothing without one.
            assert response.status_code in (401, 403, 404, 405), (attempt, response.status_code)
            assert west.case.tracking_number not in response.content.decode(errors="replace")
