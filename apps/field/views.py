"""The field app (外勤 PWA) for grid workers and handlers: one page of vanilla JS served by
Django, its web app manifest and its service worker. All data goes through /api/."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from apps.cases import steps
from apps.core.maps import configured, map_config, tile_hosts

LOGIN_URL = "/field/login/"
# Files the service worker keeps so the app starts with no signal (the "app shell").
SHELL_STATIC = [
    "field/app.js",
    "field/app.css",
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/leaflet.css",
    "core/basemap.js",  # the basemap and WGS-84 ⇄ GCJ-02 (apps/core)
    "field/case_map.js",
    "field/offline_tiles.js",
    "field/icons/icon-192.png",
    "field/icons/icon-512.png",
    "notify/live.js",  # the live-notification client the shell loads (apps/notify)
]


@lru_cache(maxsize=1)
def shell_version() -> str:
    """Changes whenever a shell file changes, so phones pick up a new version of the app."""
    digest = hashlib.sha256()
    for name in SHELL_STATIC:
        path = finders.find(name)
        if path:
            with open(path, "rb") as handle:
                digest.update(handle.read())
    for template in ("app.html", "sw.js"):
        template_path = settings.BASE_DIR / "apps" / "field" / "templates" / "field" / template
        if template_path.exists():
            digest.update(template_path.read_bytes())
    # The steps' labels come into the shell through its config (``_config``).
    digest.update(json.dumps(steps.field_labels(), sort_keys=True).encode())
    return digest.hexdigest()[:12]


def _config() -> dict:
    return {
        "version": shell_version(),
        "swUrl": "/field/sw.js",
        "loginUrl": LOGIN_URL,
        # The basemap (apps/core/maps.py), drawn by core/basemap.js.
        "map": map_config(),
        "center": list(settings.MAP_DEFAULT_CENTER),
        "maxPhotos": settings.MAX_PHOTOS_PER_REPORT,
        "maxPhotoBytes": settings.MAX_PHOTO_BYTES,
        "accuracyFlagM": settings.POSITION_ACCURACY_FLAG_M,
        # The buttons of the steps the API offers (``allowed_actions``), from the step registry.
        "stepLabels": steps.field_labels(),
    }


@never_cache
@login_required(login_url=LOGIN_URL)
@ensure_csrf_cookie
def app(request: HttpRequest) -> HttpResponse:
    """The app shell. It carries no personal data (that comes from /api/me/), so the service
    worker may keep it for offline starts."""
    return render(request, "field/app.html", {"config": _config()})


class LoginView(auth_views.LoginView):
    """Log in once on this phone: a sign-in through this page lasts FIELD_SESSION_AGE_S (90 days
    by default) and is renewed as the app is used (apps/accounts/signals.py and middleware.py);
    an administrator can end it (account_end_sessions). Failed sign-ins count towards the login
    lock like on every login page (django-axes)."""

    template_name = "field/login.html"
    redirect_authenticated_user = True
    next_page = "/field/"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["session_days"] = settings.FIELD_SESSION_AGE_S // 86400
        return context


class PasswordChangeView(auth_views.PasswordChangeView):
    """The field app's password page: where an account created or reset by an administrator
    chooses its own password at first sign-in (apps.accounts.middleware sends it here)."""

    template_name = "field/password.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), LOGIN_URL)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        from apps.accounts.sessions import MUST_CHANGE_KEY

        context = super().get_context_data(**kwargs)
        context["must_change"] = bool(self.request.session.get(MUST_CHANGE_KEY))
        return context

    def form_valid(self, form):
        from apps.accounts import services
        from apps.accounts.sessions import MUST_CHANGE_KEY

        services.account_password_change_own(
            user=form.user, password=form.cleaned_data["new_password1"]
        )
        update_session_auth_hash(self.request, form.user)
        self.request.session.pop(MUST_CHANGE_KEY, None)
        return redirect("/field/")


class LogoutView(auth_views.LogoutView):
    next_page = LOGIN_URL


def manifest(request: HttpRequest) -> JsonResponse:
    body = {
        "name": "联动 · 网格外勤",
        "short_name": "联动外勤",
        "description": "网格员现场上报、核查与任务处理",
        "lang": "zh-CN",
        "start_url": "/field/",
        "scope": "/field/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f3f5f8",
        "theme_color": "#1d4f91",
        "icons": [
            {
                "src": static("field/icons/icon-192.png"),
                "sizes": "192x192",
                "type": "image/png",
                "purpose": "any",
            },
            {
                "src": static("field/icons/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "any",
            },
            {
                "src": static("field/icons/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    response = JsonResponse(body, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    return response


def service_worker(request: HttpRequest) -> HttpResponse:
    context = {
        "version": shell_version(),
        "shell_urls": json.dumps(
            [
                "/field/",
                "/field/manifest.webmanifest",
                *[static(n) for n in SHELL_STATIC if finders.find(n)],
            ]
        ),
        "login_url": LOGIN_URL,
        # The basemap's tile servers: their tiles are kept for use with no signal.
        "tile_hosts": json.dumps(tile_hosts(configured())),
    }
    response = render(
        request, "field/sw.js", context, content_type="application/javascript; charset=utf-8"
    )
    # The browser must always see the newest worker; the worker may control all of /field/.
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/field/"
    return response
