"""What a signed-in session remembers about its sign-in, read by the middleware without a query.

Set at sign-in (``apps.accounts.signals``): which app signed in (desk or field) and whether the
account must choose a new password first. The password flag is read from the database once,
at sign-in: an administrator's reset changes the password hash, which ends every session of
the account (Django checks the hash on each request), so the next sign-in reads it afresh.
"""

from __future__ import annotations

from django.http import HttpRequest

from apps.accounts.models import LoginSession

KIND_KEY = "liandong_login_kind"
MUST_CHANGE_KEY = "liandong_must_change_password"
REFRESHED_KEY = "liandong_refreshed_at"

FIELD_LOGIN_PREFIX = "/field/"


def login_kind(request: HttpRequest) -> str:
    """field for a sign-in through the field app's login page, desk for every other one."""
    path = getattr(request, "path", "") or ""
    return (
        LoginSession.Kind.FIELD if path.startswith(FIELD_LOGIN_PREFIX) else LoginSession.Kind.DESK
    )


def session_kind(request: HttpRequest) -> str:
    return request.session.get(KIND_KEY, LoginSession.Kind.DESK)
