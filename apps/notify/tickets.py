"""WebSocket tickets: a short-lived, single-use proof of login for opening ``/ws/notifications/``.

Why: a socket URL is written to access logs and proxy logs (uvicorn logs every handshake with
its full URL), so a long-lived API token must never travel in it. A client with only a token
(a script, the notification bench) first calls ``POST /api/notifications/ticket/`` with its
token in the ``Authorization`` header, then connects with ``?ticket=<ticket>`` or sends
``{"type": "auth", "ticket": "…"}``. Browsers need none of this: their session cookie logs the
socket in. A ticket that lands in a log is harmless: it is worthless once used, and after
``WS_TICKET_TTL_S`` (60 s) anyway.

Design:

1. Issuing writes nothing. A ticket is ``<user id>.<random nonce>`` signed with
   ``django.core.signing.TimestampSigner`` (the project's SECRET_KEY, a salt of its own, the
   signing time inside). So issuing works whatever state Redis or the database is in, and
   costs one HMAC.
2. Redeeming checks the signature and age (``max_age``), then claims the nonce with
   ``cache.add("wsticket:<nonce>", …, ttl)``: an atomic "set if absent" in Redis, so of two
   sockets presenting the same ticket at once exactly one wins. The key outlives the ticket's
   validity, so a ticket cannot be replayed after its claim expired.
3. Why the cache and not a table: the claim needs Redis only at the moment a socket opens, and
   a socket cannot work without Redis anyway (the channel layer lives there) — if Redis is down
   the claim raises, and the consumer closes with 1012 as for any channel-layer failure. Report
   intake never touches tickets, so a Redis outage cannot break it through them. A table would
   add two database writes per socket and a cleanup job for the same guarantee. The price: if
   Redis loses its data (a restart without persistence), a ticket claimed in the last minute
   could open one more socket before it expires.

Without ``REDIS_URL`` (a bare ``manage.py shell``) the cache is per-process LocMem, which is
exactly as atomic inside the one process that then serves sockets.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing
from django.core.cache import cache

SALT = "liandong.notify.ws-ticket"
CACHE_PREFIX = "wsticket:"
# Signing timestamps have one-second resolution: keep the claim a little longer than validity.
CLAIM_MARGIN_S = 5
MAX_TICKET_CHARS = 200


def ticket_ttl_s() -> int:
    return int(settings.WS_TICKET_TTL_S)


def ticket_issue(*, user) -> str:
    """A new ticket for ``user``; nothing is stored until it is redeemed."""
    nonce = secrets.token_urlsafe(16)
    return signing.TimestampSigner(salt=SALT).sign(f"{user.pk}.{nonce}")


def ticket_redeem(ticket: object) -> int | None:
    """The user id a valid, fresh, unused ticket was issued to, or None. Using it spends it."""
    if not isinstance(ticket, str) or not ticket or len(ticket) > MAX_TICKET_CHARS:
        return None
    ttl = ticket_ttl_s()
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(ticket, max_age=ttl)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    user_id, _, nonce = value.partition(".")
    if not user_id.isdigit() or not nonce:
        return None
    if not cache.add(CACHE_PREFIX + nonce, 1, timeout=ttl + CLAIM_MARGIN_S):
        return None  # already used
    return int(user_id)
