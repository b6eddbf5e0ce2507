"""Account pages and the API sign-in: the token endpoint and the desk's password page."""

from __future__ import annotations

import math

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from rest_framework import exceptions
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from apps.accounts import services
from apps.accounts.sessions import MUST_CHANGE_KEY
from apps.accounts.throttles import TokenRateThrottle
from apps.org.api_errors import error_response

TOKEN_MUST_CHANGE_MESSAGE = (
    "首次登录须先修改初始密码：请先在外勤 App 或指挥台登录并修改密码，再获取令牌。"
)


class TokenObtainView(ObtainAuthToken):
    """POST /api/auth/token/ {username, password} → {"token": …}, like DRF's obtain_auth_token,
    plus the sign-in protection of the login pages:

    - the credentials are checked with the *Django* request, so django-axes counts failures and
      flags a lockout on the request its middleware sees (a DRF Request would hide the flag);
      a locked-out caller gets 429 ``{"detail": "…"}`` saying when to retry;
    - the endpoint is throttled per address (``TokenRateThrottle``, fails open);
    - an account that must change its initial password gets no token (403) until it has."""

    throttle_classes = [TokenRateThrottle]
    throttle_scope = "auth-token"

    def post(self, request, *args, **kwargs):
        django_request = request._request
        serializer = self.serializer_class(data=request.data, context={"request": django_request})
        # Invalid credentials: 400 in the API's error shape, or 429 when the lock is flagged.
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        if services.password_change_required(user):
            return error_response(TOKEN_MUST_CHANGE_MESSAGE, code=403)
        if settings.AXES_RESET_ON_SUCCESS:
            # As a successful login does for the login pages (no user_logged_in here: no session).
            AxesProxyHandler.get_implementation().reset_user_attempts(
                django_request, {settings.AXES_USERNAME_FORM_FIELD: user.get_username()}
            )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    def throttled(self, request, wait):
        seconds = max(1, math.ceil(wait or 0))
        refused = exceptions.Throttled(detail=f"获取令牌的请求过于频繁，请在 {seconds} 秒后再试。")
        refused.wait = seconds  # for the Retry-After header, without DRF's English-built suffix
        raise refused


class DeskPasswordChangeView(auth_views.PasswordChangeView):
    """The desk's password page (also behind the admin's “修改密码” link), in the admin's look.
    The change goes through ``account_password_change_own``, which meets a first-login
    requirement; this session stays signed in."""

    template_name = "accounts/password_change.html"

    def get_context_data(self, **kwargs):
        context = {**admin.site.each_context(self.request), **super().get_context_data(**kwargs)}
        context["title"] = "修改密码"
        context["must_change"] = bool(self.request.session.get(MUST_CHANGE_KEY))
        return context

    def form_valid(self, form):
        user = form.user
        services.account_password_change_own(user=user, password=form.cleaned_data["new_password1"])
        update_session_auth_hash(self.request, user)
        self.request.session.pop(MUST_CHANGE_KEY, None)
        messages.success(self.request, "密码已修改。")
        return redirect("/")
