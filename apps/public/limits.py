"""Rate limits for the public pages and Open311 (django-ratelimit's counters in the shared cache).

Each limit is counted per IP address (IPv6 by /64, django-ratelimit's default) and, where the
request names one, per phone number or per tracking number — so neither many numbers from one
address nor one number from many addresses gets far. Rates can be changed in settings:
``PUBLIC_RATE_LIMITS = {"lookup_ip": "60/h", ...}``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django_ratelimit.core import get_usage

from apps.core.cache import CACHE_ERRORS, cache_unavailable

DEFAULT_RATES = {
    # Looking a number up: generous for people, useless for guessing 60-bit numbers.
    "lookup_ip": "60/h",
    # Proving "I am the reporter" (phone's last four digits): 10,000 combinations, so few tries
    # per number per day, whichever addresses they come from.
    "verify_ip": "20/h",
    "verify_number": "10/d",
    "rate_ip": "20/h",
    "rate_number": "5/h",
    # Citizen snapshot reports (随手拍).
    "report_ip": "10/h",
    "report_phone": "5/d",
    # Open311 clients: per key, plus reads per address.
    "open311_post_key": "600/h",
    "open311_post_ip": "120/h",
    "open311_post_phone": "10/d",
    "open311_get_ip": "600/h",
}


# While the counters' cache (Redis) is unreachable, most limits let requests through — a citizen's
# report or lookup matters more than a few seconds of unmetered traffic — but proving "I am the
# reporter" by the phone's last four digits does not: 10,000 combinations, so unmetered guessing
# is refused until the counters are back.
FAIL_CLOSED = {"verify_ip", "verify_number"}
RETRY_WHEN_UNAVAILABLE_S = 60


@dataclass(frozen=True)
class Limited:
    """A limit was hit: which one, and how many seconds until it resets."""

    name: str
    retry_after: int


def rate(name: str) -> str:
    return {**DEFAULT_RATES, **getattr(settings, "PUBLIC_RATE_LIMITS", {})}[name]


def _fixed(value: str):
    # Phone numbers are kept out of the cache keys in clear text.
    digest = hashlib.sha256(value.encode()).hexdigest()
    return lambda group, request: digest


def hit(request, checks: list[tuple[str, str | None]]) -> Limited | None:
    """Count one attempt against each ``(limit name, key)``; key None means the client's IP.
    Every counter is incremented (a blocked client keeps being counted), and the first limit
    that is exceeded is returned."""
    first: Limited | None = None
    for name, value in checks:
        try:
            usage = get_usage(
                request,
                group=f"public:{name}",
                key="ip" if value is None else _fixed(value),
                rate=rate(name),
                increment=True,
            )
        except CACHE_ERRORS as exc:
            cache_unavailable(exc)
            if name in FAIL_CLOSED and first is None:
                first = Limited(name=name, retry_after=RETRY_WHEN_UNAVAILABLE_S)
            continue
        if usage and usage["should_limit"] and first is None:
            first = Limited(name=name, retry_after=max(int(usage["time_left"]), 1))
    return first
