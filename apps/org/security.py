"""The Content-Security-Policy of every response (settings.CONTENT_SECURITY_POLICY).

django-csp builds the policy and adds the request's nonce when a template used it; this adds
the one source that depends on the request: the WebSocket endpoint /ws/ of the host the page
came from. ``'self'`` alone does not cover ws:/wss: in every browser, and a host written in
settings would not know the port the site is served on.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts  # refused with 400 anyway; no socket to allow
        socket = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        update = dict(parts.update or {})
        update["connect-src"] = [*_as_list(update.get("connect-src")), socket]
        parts.update = update
        return parts


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]
