from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import run
from tests.factories import build_test_org

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _cold_process_caches():
    """Each test starts as a fresh process would: no category tree, time limits, calendar or
    API callers left in memory from the previous test (its rows were rolled back with it)."""
    from apps.cases import clock, reference
    from apps.org import credentials

    reference.forget_local()
    clock.forget_local()
    credentials.forget_local()
    yield


@pytest.fixture
def org(db):
    """The small test organisation (see tests/factories.py)."""
    return build_test_org()


@pytest.fixture
def sent(monkeypatch):
    """The task messages this process sends (instead of sending them): ``(name, args)``."""
    from apps.core import follow_up

    messages: list[tuple[str, tuple]] = []
    monkeypatch.setattr(
        follow_up, "send", lambda name, *args: messages.append((name, args)) or True
    )
    return messages


def ensure_role_groups() -> None:
    """The flush after each transactional test empties every table, including the role groups
    the data migration made (permissions come back through post_migrate); put them back."""
    from importlib import import_module

    from django.contrib.auth.models import Group, Permission

    migration = import_module("apps.org.migrations.0002_role_groups")
    for role, codes in migration.ROLE_PERMISSIONS.items():
        group, created = Group.objects.get_or_create(name=role)
        if created:
            labels = [code.split(".") for code in codes]
            group.permissions.set(
                [
                    Permission.objects.get(content_type__app_label=app, codename=name)
                    for app, name in labels
                ]
            )


def grant_role_permissions(app_label: str, migration: str) -> None:
    """Give the role groups the permissions of ``app_label`` that its data migration grants
    (a transactional test's flush would have removed them)."""
    from importlib import import_module

    from django.contrib.auth.models import Group, Permission

    granted = import_module(f"apps.{app_label}.migrations.{migration}").ROLE_PERMISSIONS
    for role, codenames in granted.items():
        Group.objects.get(name=role).permissions.add(
            *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )


@pytest.fixture
def org_tx(transactional_db):
    """The same organisation, committed, for tests that talk to a worker or a live server."""
    ensure_role_groups()
    return build_test_org()


def _worker_env() -> dict[str, str]:
    """The environment for processes that must use this run's *test* database."""
    from django.conf import settings

    env = dict(os.environ)
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db.get('USER') or ''}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
        )
    env.pop("LIANDONG_TEST_DB_NAME", None)
    return env


@contextmanager
def celery_worker(env: dict[str, str] | None = None, name: str = "test"):
    """Run a Celery worker process (prefork, 1 child) while the block runs; yields the process.
    ``env`` defaults to this run's broker and test DB (tests may point one at their own Redis).
    It consumes the routing queue and the sweeps queue, as run.py's one worker does."""
    from django.conf import settings

    log_path = Path(os.environ["LIANDONG_DATA_DIR"]) / f"celery-{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = run.celery_command(
        "worker",
        "--concurrency",
        "1",
        *run.ALONE,
        "-n",
        f"{name}-{os.getpid()}@%h",
        "-Q",
        f"celery,{settings.SWEEPS_QUEUE}",
    )
    proc = run.start_logged(command, log_path, env=env or _worker_env())
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        run.wait_until_up(proc, log_path)
        yield proc
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker process (prefork, 1 child) against this run's broker and test DB.

    Tests that use it must be ``@pytest.mark.django_db(transaction=True)`` so their rows are
    committed where the worker can see them.
    """
    with celery_worker(name="worker") as proc:
        yield proc


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll until predicate() is truthy (returns its value) or fail after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {predicate}")


def wait_for_js(page, expression: str, timeout: float = 30.0):
    """Poll a JavaScript expression in ``page`` until it is truthy (returns its value) or fail
    after timeout seconds. Playwright's own ``wait_for_function`` polls by compiling the
    expression inside the page (``new Function``), which our Content-Security-Policy refuses
    (no 'unsafe-eval'); ``page.evaluate`` runs through the DevTools protocol instead."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        page.wait_for_timeout(50)
    raise AssertionError(f"{expression} not true within {timeout}s")


_free_port = run.free_port


def uvicorn_log_path(base: str) -> Path:
    """The file ``uvicorn_server`` writes the server's output to (stdout and stderr)."""
    return Path(os.environ["LIANDONG_DATA_DIR"]) / f"uvicorn-{base.rsplit(':', 1)[1]}.log"


@contextmanager
def uvicorn_server(
    env: dict[str, str] | None = None, *, log_level: str = "warning", access_log: bool = False
):
    """Serve the real ASGI app with uvicorn in a subprocess while the block runs; yields the
    base URL. ``env`` defaults to this run's test database and Redis. Its output goes to
    ``uvicorn_log_path(base)``; quiet unless asked (tests/test_log_secrets.py reads it all)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = uvicorn_log_path(base)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    options = ["--log-level", log_level, *([] if access_log else ["--no-access-log"])]
    proc = run.start_logged(
        run.web_command("127.0.0.1", port, *options), log_path, env=env or _worker_env()
    )
    try:
        run.wait_until_up(proc, log_path, url=base + "/track/")
        yield base
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker):
    """The real ASGI app (HTTP + WebSockets) served by uvicorn in a subprocess against this
    run's test database and Redis. Yields the base URL, e.g. ``http://127.0.0.1:41234``.
    Tests using it must be ``django_db(transaction=True)`` (use the ``org_tx`` fixture)."""
    with uvicorn_server() as base:
        yield base


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright. Skips where Chromium is not installed,
    unless LIANDONG_REQUIRE_BROWSER=1 (CI), where its absence fails the run."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("LIANDONG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield instance
        instance.close()


# A cheap Android phone, Chinese locale, Shanghai time.
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
    "user_agent": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
}


@pytest.fixture
def new_phone(browser):
    """``new_phone(**overrides)``: a phone-sized browser context (``PHONE`` with ``overrides``,
    e.g. another viewport), closed after the test."""
    contexts = []

    def make(**overrides):
        contexts.append(browser.new_context(**{**PHONE, **overrides}))
        return contexts[-1]

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def phone_context(new_phone):
    """A phone-sized browser context (``PHONE``)."""
    return new_phone()


@pytest.fixture
def desk_context(browser):
    """A desktop browser context for dispatchers and leaders."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    yield context
    context.close()


def screenshot(page, name: str) -> Path:
    """Save a screenshot under artifacts/screenshots/ (kept by CI as an artifact)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a process the tests started: SIGTERM, then SIGKILL after 20 s."""
    run.stop_processes(proc, timeout_s=20)


def children_of(pid: int) -> list[int]:
    """Live (not zombie) child processes of ``pid`` (a Celery worker's pool)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def submit_login(page, username: str, password: str | None = None) -> None:
    """Fill the login form on ``page`` (the desk's or the field app's) and send it."""
    from tests.factories import PASSWORD

    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD if password is None else password)
    page.click("input[type=submit], button[type=submit]")


def desk_login(page, base: str, username: str, next_url: str = "/admin/") -> None:
    """Sign in at the desk's login page in a browser page and land on ``next_url``."""
    page.goto(f"{base}/admin/login/?next={next_url}")
    submit_login(page, username)
    page.wait_for_url(f"**{next_url.split('?')[0]}**")


def field_login(page, base: str, username: str) -> None:
    """Sign in at the field app's login page and wait until the app has started."""
    page.goto(f"{base}/field/login/?next=/field/")
    submit_login(page, username)
    page.wait_for_selector("body[data-ready='1']")
