"""Settings, continued: production security, security headers and error pages, what logs may hold, and sign-in protection."""

from __future__ import annotations

from datetime import timedelta

from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

from apps.core import maps
from config.env import (
    env_bool,
    env_float,
    env_int,
    env_str,
)
from config.settings import *  # noqa: F403
from config.settings import (
    INSTALLED_APPS,
    MAP_BASEMAP,
    MAP_TILES_ATTRIBUTION,
    MAP_TILES_CRS,
    MAP_TILES_URL,
    MIDDLEWARE,
    TIANDITU_KEY,
)

# --- Security (production) ----------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if env_bool("LIANDONG_HTTPS", False):
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Security headers and error pages (issue #14) -----------------------------------------
# Every response carries a Content-Security-Policy: scripts only from our own origin or an
# inline <script nonce="{{ request.csp_nonce }}"> (no inline event handlers, no javascript:
# URLs), nothing may frame us, forms post only to us. The per-request nonce and the same-host
# ws:/wss: source for /ws/ are added by apps.org.security.ContentSecurityPolicyMiddleware.
_BASEMAP = maps.resolve(
    MAP_BASEMAP,
    tianditu_key=TIANDITU_KEY,
    url=MAP_TILES_URL,
    attribution=MAP_TILES_ATTRIBUTION,
    crs=MAP_TILES_CRS,
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        # 'unsafe-inline' for styles only: Leaflet positions every tile, marker and popup with
        # style attributes, and the Django admin's own templates set style attributes too.
        # Styles cannot run code, so scripts stay nonce-only.
        "style-src": [SELF, UNSAFE_INLINE],
        # data:/blob: for Leaflet's icons and the photo previews the field app and 随手拍 draw;
        # the basemap's tile hosts (apps/core/maps.py), subdomains as a wildcard label.
        "img-src": [SELF, "data:", "blob:", *maps.tile_sources(_BASEMAP)],
        # The tile hosts again: the field app's service worker fetches tiles to keep offline.
        "connect-src": [SELF, *maps.tile_sources(_BASEMAP)],
        "font-src": [SELF],
        "worker-src": [SELF],
        "manifest-src": [SELF],
        "frame-ancestors": [NONE],
        "frame-src": [NONE],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    },
}
# Browser features: location and camera for our own pages (field reports, 随手拍), nothing else.
PERMISSIONS_POLICY = {
    "geolocation": ["self"],
    "camera": ["self"],
    "microphone": [],
    "payment": [],
    "usb": [],
    "serial": [],
    "bluetooth": [],
    "midi": [],
    "display-capture": [],
    "browsing-topics": [],
}
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# A refused form (expired page, cookies blocked) gets a Chinese page that says what to do.
CSRF_FAILURE_VIEW = "apps.org.error_views.csrf_failure"

# --- Sockets and logs: no secrets (issue #14) ----------------------------------------------
# Every handler carries config.log_redaction.RedactSecrets (tokens, tickets, passwords, session
# and CSRF cookies, the citizen's link, mobile numbers); LOGGING_CONFIG also puts it on handlers
# configured outside LOGGING (uvicorn's, Django's defaults). Celery's: see config/celery.py.
LOGGING_CONFIG = "config.log_redaction.configure"

# --- Login protection and sessions (apps/accounts) ---------------------------------------
# django-axes counts failed sign-ins in the database (the cache may blink; the DB is the truth)
# on every login path: /accounts/login/, /admin/login/, /field/login/ and /api/auth/token/.
# AXES_FAILURE_LIMIT failures for one username, or from one address, lock that username or that
# address for AXES_COOLOFF_MIN minutes; a successful sign-in clears them; an administrator can
# lift a lock at once (apps.accounts.services.account_unlock, manage.py account_unlock).
INSTALLED_APPS += ["axes"]
MIDDLEWARE += [
    "apps.accounts.middleware.SessionIdleMiddleware",
    "apps.accounts.middleware.PasswordChangeRequiredMiddleware",
    # Last, as axes asks: it turns a lockout flagged during the request into the lockout page.
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "apps.accounts.backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("AXES_COOLOFF_MIN", 15.0))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "apps.accounts.lockout.lockout_response"
# The attempt log holds usernames and addresses of every region: it is read through the account
# admin actions and `manage.py axes_list_attempts`, not through an unscoped admin screen.
AXES_ENABLE_ADMIN = False
# The client address is REMOTE_ADDR: uvicorn --proxy-headers (Procfile) already puts the client's
# address there when the request came through the local reverse proxy, and a client cannot
# forge it with an X-Forwarded-For header of its own.
AXES_CLIENT_IP_CALLABLE = "apps.accounts.lockout.client_ip"
# POST /api/auth/token/ is also throttled per address (DRF rate, e.g. "10/min"); the throttle
# lets requests through when the cache is unreachable (the lockout above still protects).
TOKEN_THROTTLE_RATE = env_str("TOKEN_THROTTLE_RATE", "10/min")
# A desk session's expiry slides with use (SESSION_COOKIE_AGE is its idle timeout); the session
# is re-saved at most once per SESSION_IDLE_REFRESH_S, not on every request.
SESSION_IDLE_REFRESH_S = env_int("SESSION_IDLE_REFRESH_S", 60)
# Background polls that must not count as activity (the desk dashboard refreshes its counters
# every 15 s: an open tab would otherwise never go idle).
SESSION_IDLE_PASSIVE_PATHS = ["/admin/desk/stats.json"]
# Phones sign in once and stay signed in (sliding too); an administrator can end it at any time.
FIELD_SESSION_AGE_S = env_int("FIELD_SESSION_AGE_S", 60 * 60 * 24 * 90)
