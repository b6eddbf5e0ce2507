"""A small synchronous WebSocket client for the live tests (the `websockets` library)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token
from websockets.sync.client import ClientConnection, connect


def token_for(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def ticket_for(user) -> str:
    """A fresh single-use socket ticket, as ``POST /api/notifications/ticket/`` would issue it."""
    from apps.notify.tickets import ticket_issue

    return ticket_issue(user=user)


def ticket_via_api(base: str, token: str) -> str:
    """What an API client does before it opens a socket: trade its token for a ticket."""
    import urllib.request

    request = urllib.request.Request(
        base + "/api/notifications/ticket/",
        method="POST",
        headers={"Authorization": f"Token {token}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["ticket"]


def session_cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def open_socket(base: str, *, cookie: str | None = None, **params) -> ClientConnection:
    """Connect to /ws/notifications/ on ``base`` (http://host:port) as a browser would: with an
    Origin header (the server refuses sockets from other sites) and optionally a session cookie."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    url = base.replace("http://", "ws://") + "/ws/notifications/" + (f"?{query}" if query else "")
    headers = {"Cookie": cookie} if cookie else None
    return connect(url, origin=base, additional_headers=headers, open_timeout=10)


def next_message(
    ws: ClientConnection, kind: str, *, timeout: float = 5.0, where=lambda m: True
) -> dict:
    """The next message of type ``kind`` (skipping others), or AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {kind!r} message within {timeout}s")
        try:
            message = json.loads(ws.recv(timeout=remaining))
        except TimeoutError:
            raise AssertionError(f"no {kind!r} message within {timeout}s") from None
        if message["type"] == kind and where(message):
            return message


def messages_within(ws: ClientConnection, seconds: float) -> list[dict]:
    """Everything that arrives in the next ``seconds``."""
    received: list[dict] = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            received.append(json.loads(ws.recv(timeout=remaining)))
        except TimeoutError:
            break
    return received


def close_code(ws: ClientConnection, *, timeout: float = 5.0) -> int | None:
    """Read until the server closes the socket; return its close code."""
    from websockets.exceptions import ConnectionClosed

    deadline = time.monotonic() + timeout
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            ws.recv(timeout=remaining)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        pass
    raise AssertionError(f"the server did not close the socket within {timeout}s")


def send(ws: ClientConnection, **message) -> None:
    ws.send(json.dumps(message))
