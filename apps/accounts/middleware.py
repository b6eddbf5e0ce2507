"""Session policy middleware: idle expiry that slides with use, and the first-login password
change. Both read only the session (loaded anyway for a signed-in request): no query added."""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from apps.accounts.models import LoginSession
from apps.accounts.sessions import MUST_CHANGE_KEY, REFRESHED_KEY, session_kind

DESK_PASSWORD_URL = "/accounts/password/"
FIELD_PASSWORD_URL = "/field/password/"
MUST_CHANGE_MESSAGE = (
    "首次登录须先修改初始密码：请在外勤 App 或指挥台的“修改密码”页面设置新密码后再操作。"
)


class SessionIdleMiddleware:
    """Keep a signed-in session alive while it is used: its expiry is SESSION_COOKIE_AGE (the desk
    idle timeout) or the field app's longer age from the last *save*, and this re-saves it at
    most once per SESSION_IDLE_REFRESH_S — so a session ends after idle time, give or take that
    interval, without a database write on every request. Background polls listed in
    SESSION_IDLE_PASSIVE_PATHS do not count as use."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if (
            session is None
            or session.session_key is None
            or request.path in settings.SESSION_IDLE_PASSIVE_PATHS
            or "_auth_user_id" not in session
        ):
            return response
        now = int(time.time())
        if now - session.get(REFRESHED_KEY, 0) >= settings.SESSION_IDLE_REFRESH_S:
            # Marks the session modified: SessionMiddleware (outside this one) saves it with a
            # fresh expiry and sends the cookie again.
            session[REFRESHED_KEY] = now
        return response


class PasswordChangeRequiredMiddleware:
    """An account an administrator or an import created (or reset) must choose its own password
    before anything else: pages send it to the password page of the app it signed in to, API
    calls with that session are refused with 403. (The token endpoint refuses on its own: it
    has no session.)"""

    ALLOWED_PATHS = (
        DESK_PASSWORD_URL,
        FIELD_PASSWORD_URL,
        "/admin/password_change/",  # the same page as DESK_PASSWORD_URL (config/urls.py)
        "/accounts/logout/",
        "/admin/logout/",
        "/field/logout/",
        "/field/sw.js",
        "/field/manifest.webmanifest",
        "/i18n/setlang/",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is None or not session.get(MUST_CHANGE_KEY) or not request.user.is_authenticated:
            return self.get_response(request)
        path = request.path
        if path in self.ALLOWED_PATHS or path.startswith(settings.STATIC_URL):
            return self.get_response(request)
        if path.startswith("/api/"):
            return JsonResponse(
                {"detail": MUST_CHANGE_MESSAGE},
                status=403,
                json_dumps_params={"ensure_ascii": False},
            )
        if session_kind(request) == LoginSession.Kind.FIELD:
            return redirect(FIELD_PASSWORD_URL)
        return redirect(DESK_PASSWORD_URL)
