"""Sign-in and sign-out bookkeeping: each signed-in session is named in LoginSession so an
administrator can end it (``account_end_sessions``), and the session remembers its kind and
whether its account must change its password (``apps.accounts.sessions``).

A receiver is the one place that sees every sign-in (four login views, the test client)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.models import Session
from django.dispatch import receiver
from django.utils import timezone

from apps.accounts.models import AccountStatus, LoginSession
from apps.accounts.sessions import KIND_KEY, MUST_CHANGE_KEY, login_kind


@receiver(user_logged_in, dispatch_uid="accounts-login-session")
def record_login_session(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    kind = login_kind(request)
    session[KIND_KEY] = kind
    if kind == LoginSession.Kind.FIELD:
        # Phones sign in once and stay signed in; the expiry still slides with use.
        session.set_expiry(settings.FIELD_SESSION_AGE_S)
    if AccountStatus.objects.filter(user=user, must_change_password=True).exists():
        session[MUST_CHANGE_KEY] = True
    if session.session_key is None:
        session.save()
    LoginSession.objects.update_or_create(
        session_key=session.session_key, defaults={"user": user, "kind": kind}
    )
    # Forget the account's sessions that expired on their own since, so the list stays short.
    stale = (
        LoginSession.objects.filter(user=user)
        .exclude(
            session_key__in=Session.objects.filter(expire_date__gt=timezone.now()).values(
                "session_key"
            )
        )
        .exclude(session_key=session.session_key)
    )
    stale.delete()


@receiver(user_logged_out, dispatch_uid="accounts-logout-session")
def forget_login_session(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        LoginSession.objects.filter(session_key=session.session_key).delete()
