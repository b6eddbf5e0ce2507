"""One access-log line per HTTP request, written inside the request so it carries its id.

``GET /api/tasks/ 200 12.3ms client=10.1.2.3 user=42``: method, path (never the query string,
which may carry a ticket or a search for a phone number; paths with secrets, such as a citizen's
link, are masked by the log filter), status, server time, the client's address as the app sees
it (behind the proxy: the address the proxy saw) and the user's id (never a name). Logger
``liandong.access``; ``ACCESS_LOG=0`` turns it off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

log = logging.getLogger("liandong.access")


class AccessLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.enabled = settings.ACCESS_LOG

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not self.enabled:
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        log.info(
            "%s %s %s %.1fms client=%s user=%s",
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            request.META.get("REMOTE_ADDR", "-"),
            user.pk if user is not None and user.is_authenticated else "-",
        )
        return response
