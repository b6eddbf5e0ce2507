"""The token endpoint's rate limit."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework.throttling import ScopedRateThrottle

logger = logging.getLogger(__name__)


class TokenRateThrottle(ScopedRateThrottle):
    """TOKEN_THROTTLE_RATE requests per client address (REMOTE_ADDR: a client-sent
    X-Forwarded-For must not give it a fresh allowance).

    Fails open: the counts live in the cache (Redis), and when it cannot be reached the request
    goes through with a warning in the log — the database lockout (django-axes) still stops
    password guessing, and a blinking cache must not stop phones from signing in."""

    scope_attr = "throttle_scope"

    def get_rate(self):
        return settings.TOKEN_THROTTLE_RATE

    def get_ident(self, request):
        return request.META.get("REMOTE_ADDR", "")

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # any cache failure (connection refused, timeout, …): see the docstring
            logger.warning("Token throttle skipped: the cache is unreachable.", exc_info=True)
            return True
