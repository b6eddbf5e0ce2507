"""Login lockout (django-axes): the client's address, and the answer a locked-out sign-in gets.

Axes counts failures in the database; when a sign-in is refused because of a lock, its middleware
calls ``lockout_response`` (settings.AXES_LOCKOUT_CALLABLE), which answers in the look of the
login that was used: the field app's page for /field/login/, JSON in the API's error shape for
/api/…, the desk's login look for the rest. Always 429, always saying when to try again.
"""

from __future__ import annotations

import math
from datetime import datetime

from axes.helpers import get_cool_off
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

LOCKOUT_STATUS = 429


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR (see AXES_CLIENT_IP_CALLABLE in settings for why not X-Forwarded-For)."""
    return request.META.get("REMOTE_ADDR") or None


def retry_at(request: HttpRequest) -> datetime:
    """When the lock that refused this request ends at the latest.

    Axes records a refused attempt too (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so the
    lock runs for the cool-off from this very attempt."""
    attempt_time = getattr(request, "axes_attempt_time", None) or timezone.now()
    return attempt_time + get_cool_off(request)


def lockout_message(request: HttpRequest) -> str:
    until = retry_at(request)
    minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
    local = timezone.localtime(until)
    return (
        f"登录失败次数过多，该账号或本机网络已被暂时锁定。请在 {minutes} 分钟后"
        f"（{local:%H:%M} 以后）再试；如需立即登录，请联系管理员解除锁定。"
    )


def lockout_response(
    request: HttpRequest, original_response=None, credentials=None
) -> HttpResponse:
    message = lockout_message(request)
    path = request.path
    if path.startswith("/api/"):
        return JsonResponse(
            {"detail": message}, status=LOCKOUT_STATUS, json_dumps_params={"ensure_ascii": False}
        )
    if path.startswith("/field/"):
        return render(request, "field/locked.html", {"message": message}, status=LOCKOUT_STATUS)
    context = {
        **admin.site.each_context(request),
        "title": "登录已锁定",
        "message": message,
        "login_url": path,
    }
    if not path.startswith("/admin/"):
        context["site_header"] = (
            "联动 · 基层治理平台"  # as on /accounts/login/ (registration/login.html)
        )
    return render(request, "accounts/locked.html", context, status=LOCKOUT_STATUS)
