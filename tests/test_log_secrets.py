"""No secret reaches a log line (issue #14): tokens, tickets, passwords, session and CSRF
cookies, the citizen's link and full mobile numbers are redacted by config/log_redaction.py.

The fast tests check the filter itself. The live test runs the real server (uvicorn at INFO
with its access log) and a real Celery worker on a Redis of their own, writes both outputs to
files, does what people do — desk and field logins, a failed login, a token, a grid worker's
report through the API, a citizen's report with a phone number, sockets with a ticket and with a
session, a socket with ?token= — and then reads every line of both logs."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar

import pytest
from celery import Celery
from uvicorn.logging import AccessFormatter

from apps.cases.models import Case, CaseEvent
from config.env import celery_broker_url
from config.log_redaction import RedactSecrets, install, redact
from tests.api.conftest import report_payload
from tests.conftest import _worker_env, celery_worker, uvicorn_log_path, uvicorn_server, wait_for
from tests.factories import PASSWORD
from tests.notify.sockets import close_code, next_message, open_socket
from tests.photo_files import jpeg
from tests.private_redis import PrivateRedis

KEY = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # the shape of a DRF token key


# --- the filter -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        (
            f'127.0.0.1:5 - "WebSocket /ws/notifications/?token={KEY}&since=3" [accepted]',
            "/ws/notifications/?token=[redacted]&since=3",
            KEY,
        ),
        (
            "/ws/notifications/?ticket=7.Zx-9_q:1tXyZa:Sig-_Q&since=0",
            "?ticket=[redacted]&since=0",
            "Zx-9_q",
        ),
        ("Authorization: Token abc123def", "Authorization: Token [redacted]", "abc123def"),
        ("{'HTTP_AUTHORIZATION': 'Bearer abc123def'}", "'Bearer [redacted]'", "abc123def"),
        (
            "Cookie: csrftoken=AbCdEf12; sessionid=q1w2e3r4t5",
            "csrftoken=[redacted]; sessionid=[redacted]",
            "q1w2e3r4t5",
        ),
        ("username=gw&password=s3cret-pw&next=/", "password=[redacted]&next=/", "s3cret-pw"),
        ('{"type": "auth", "ticket": "7.n:t:s"}', '"ticket": "[redacted]"', "7.n:t:s"),
        (
            "csrfmiddlewaretoken=Mask3dT0ken&x=1",
            "csrfmiddlewaretoken=[redacted]&x=1",
            "Mask3dT0ken",
        ),
        (
            '"GET /track/t/AbC-dEf_123/?new=1 HTTP/1.1" 200',
            "/track/t/[redacted]/?new=1",
            "AbC-dEf_123",
        ),
        (f"key {KEY} in a sentence", "key [redacted] in a sentence", KEY),
        ("举报人手机13812345678，请回电", "举报人手机138****5678，请回电", "13812345678"),
        ("phone: +86 139 1234 5678", "+86 139****5678", "1234"),
        ("phone: 0086-15012345678", "0086-150****5678", "15012345678"),
    ],
)
def test_the_filter_hides_secrets_and_phones_and_keeps_the_rest(line, kept, gone):
    assert kept in redact(line) and gone not in redact(line)


@pytest.mark.parametrize(
    "line",
    [
        "clock sweep: 3 red, 0 yellow, 1 to escalate, 0 to resume in 0.012s",
        "Task apps.cases.tasks.route_case[5f1c2a3e-9d1b-4a7e-8c2f-3b4d5e6f7a8b] succeeded in 0.05s: None",
        "password_changed: True",
        "1733400000000 ms",
        "case 12345678901234",
        "tracking 7K3M-Q9XD-2HTB-P",
    ],
)
def test_ordinary_lines_pass_unchanged(line):
    assert redact(line) == line


def emitted(
    logger_name: str, *args, formatter: logging.Formatter | None = None, exc_info=None
) -> str:
    """What a handler carrying the filter writes for ``logger.info(*args)``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or logging.Formatter("%(message)s"))
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    try:
        if exc_info:
            logger.error(*args, exc_info=exc_info)
        else:
            logger.info(*args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_arguments_are_redacted_and_stay_arguments_for_uvicorns_access_formatter():
    # AccessFormatter unpacks record.args (client, method, path, version, status): a filter that
    # folded them into the message would break every access line.
    line = emitted(
        "test.access",
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:9",
        "GET",
        f"/ws/notifications/?token={KEY}",
        "1.1",
        200,
        formatter=AccessFormatter(
            '%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False
        ),
    )
    assert line.strip() == '127.0.0.1:9 - "GET /ws/notifications/?token=[redacted] HTTP/1.1" 200 OK'


def test_a_secret_made_of_format_and_a_non_string_argument_is_caught_after_formatting():
    assert (
        emitted("test.mixed", "login with password=%r", b"hunter22").strip()
        == "login with password=b'[redacted]'"
    )
    assert (
        emitted("test.mixed", "form %r", {"password": "two words"}).strip()
        == "form {'password': '[redacted]'}"
    )
    assert emitted("test.mixed", "reporter %s", 13812345678).strip() == "reporter 138****5678"
    assert "hunter22" not in emitted(
        "test.mixed", "%(who)s said password=%(pw)s", {"who": "gw", "pw": "hunter22"}
    )


def test_tracebacks_are_redacted():
    try:
        raise ValueError(f"bad token={KEY} from 13812345678")
    except ValueError:
        text = emitted("test.exc", "failed", exc_info=sys.exc_info())
    assert (
        "Traceback" in text
        and KEY not in text
        and "13812345678" not in text
        and "138****5678" in text
    )


def test_install_puts_the_filter_on_handlers_outside_logging_settings_once():
    # As uvicorn's own handlers, configured before config.asgi is imported.
    handler = logging.StreamHandler(io.StringIO())
    logger = logging.getLogger("test.uvicorn.error")
    logger.addHandler(handler)
    try:
        install()
        install()
        assert sum(isinstance(f, RedactSecrets) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)


def test_django_setup_filtered_every_handler_of_this_process():
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    # pytest's capture handlers are added after django.setup(), per test: they are not ours.
    ours = [
        h for lg in loggers for h in lg.handlers if not type(h).__module__.startswith("_pytest")
    ]
    assert ours, "no handler configured"
    assert all(any(isinstance(f, RedactSecrets) for f in h.filters) for h in ours)


# --- the live run -----------------------------------------------------------------------


class Browser:
    """A person's HTTP client with its own cookies (urllib; follows redirects like a browser)."""

    def __init__(self, base: str):
        self.base, self.jar = base, CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name)

    def open(self, path: str, data: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            response = self.opener.open(request, timeout=20)
        except urllib.error.HTTPError as error:  # a 4xx answer is an answer
            response = error
        response.body = response.read()
        return response

    def post_form(self, path: str, fields: dict):
        self.open(path)  # the form page sets the CSRF cookie
        fields = {**fields, "csrfmiddlewaretoken": self.cookie("csrftoken")}
        return self.open(
            path,
            urllib.parse.urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )

    def post_multipart(self, path: str, fields: dict, files: dict[str, tuple[str, bytes, str]]):
        self.open(path)
        fields = {**fields, "csrfmiddlewaretoken": self.cookie("csrftoken")}
        boundary = uuid.uuid4().hex
        body = io.BytesIO()
        for name, value in fields.items():
            body.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        for name, (filename, content, content_type) in files.items():
            body.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        body.write(f"--{boundary}--\r\n".encode())
        return self.open(
            path, body.getvalue(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )

    def api(self, method: str, path: str, payload: dict | None = None, token: str | None = None):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        request = urllib.request.Request(
            self.base + path,
            method=method,
            headers=headers,
            data=json.dumps(payload).encode() if payload is not None else None,
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())


def forms_of(secret: str) -> set[str]:
    """A secret as it may stand in a line: as is and URL-encoded."""
    return {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_day_of_logins_reports_and_sockets_leaves_no_secret_in_any_log(org_tx):
    u = org_tx.users
    phone_typed, phone = "139 8765 4321", "13987654321"
    secrets: dict[str, str] = {"password": PASSWORD, "phone": phone}
    redis = PrivateRedis()  # our own broker: no other test's worker takes these tasks
    redis.start()
    env = {**_worker_env(), "REDIS_URL": redis.url, "LOG_LEVEL": "INFO"}
    try:
        with (
            uvicorn_server(env, log_level="info", access_log=True) as base,
            celery_worker(env, name="log-secrets") as worker,
        ):
            server_log = uvicorn_log_path(base)

            desk = Browser(base)
            desk.post_form("/accounts/login/", {"username": u["td"].username, "password": PASSWORD})
            secrets["desk sessionid"] = desk.cookie("sessionid")
            secrets["desk csrftoken"] = desk.cookie("csrftoken")

            field = Browser(base)
            field.post_form("/field/login/", {"username": u["gw"].username, "password": PASSWORD})
            secrets["field sessionid"] = field.cookie("sessionid")
            secrets["field csrftoken"] = field.cookie("csrftoken")

            stranger = Browser(base)
            failed = stranger.post_form(
                "/accounts/login/", {"username": u["gw"].username, "password": "wrong-" + PASSWORD}
            )
            assert not any(c.name == "sessionid" for c in stranger.jar), failed.status
            secrets["wrong password"] = "wrong-" + PASSWORD

            phone_app = Browser(base)
            token_request = urllib.request.Request(
                base + "/api/auth/token/",
                data=urllib.parse.urlencode(
                    {"username": u["gw"].username, "password": PASSWORD}
                ).encode(),
            )
            with urllib.request.urlopen(token_request, timeout=20) as response:
                token = json.loads(response.read())["token"]
            secrets["token"] = token

            report_id = str(uuid.uuid4())
            status, _ = phone_app.api(
                "POST", "/api/reports/", report_payload(org_tx, id=report_id), token=token
            )
            assert status == 201

            citizen = Browser(base)
            lat2, lng2 = org_tx.point_in(org_tx.grids["east-v2-g2"])
            answer = citizen.post_multipart(
                "/track/report/",
                {
                    "category": str(org_tx.categories["rubbish"].pk),
                    "description": "桥下堆了很多建筑垃圾",
                    "lat": f"{lat2:.7f}",
                    "lng": f"{lng2:.7f}",
                    "accuracy": "12",
                    "position_source": "gps",
                    "phone": phone_typed,
                },
                {"photo": ("现场.jpg", jpeg(120, 90), "image/jpeg")},
            )
            citizen_case = Case.objects.get(reporter_phone=phone)
            assert (
                f"/track/t/{citizen_case.public_token}/" in answer.geturl()
            )  # followed the redirect
            secrets["citizen link"] = citizen_case.public_token

            _, issued = phone_app.api("POST", "/api/notifications/ticket/", {}, token=token)
            secrets["ticket"] = issued["ticket"]
            secrets["ticket nonce"] = issued["ticket"].split(":")[0].split(".", 1)[1]
            with open_socket(base, ticket=issued["ticket"], since=0) as socket:
                assert next_message(socket, "hello")["user"] == u["gw"].pk
            with open_socket(base, cookie=f"sessionid={secrets['desk sessionid']}") as socket:
                assert next_message(socket, "hello")["user"] == u["td"].pk
            with open_socket(base, token=token) as socket:
                assert next_message(socket, "error")["code"] == 4401
                assert close_code(socket) == 4401

            # Django's own request log (not uvicorn's): "Not Found: /track/t/<link>/".
            secrets["guessed link"] = "Gu3ssed-L1nk_" + uuid.uuid4().hex[:12]
            assert citizen.open(f"/track/t/{secrets['guessed link']}/").status == 404

            cases = [Case.objects.get(client_uuid=report_id), citizen_case]
            wait_for(
                lambda: (
                    all(
                        not c.pending_work
                        for c in Case.objects.filter(pk__in=[c.pk for c in cases])
                    )
                    and not CaseEvent.objects.filter(
                        case__in=cases, notified_at__isnull=True
                    ).exists()
                ),
                timeout=60,
            )
            # A task that fails on a value prints it in its traceback: the worker's own log lines.
            sender = Celery("log-secrets", broker=celery_broker_url(redis.url))
            sender.send_task("apps.notify.tasks.fan_out_event", args=[f"{token}-{phone}"])
            wait_for(lambda: b"raised unexpected" in worker.log_path.read_bytes(), timeout=30)
        worker_log = worker.log_path
    finally:
        redis.stop()

    logs = {
        "server": server_log.read_text(errors="replace"),
        "worker": worker_log.read_text(errors="replace"),
    }
    leaks = [
        (name, which, line)
        for which, text in logs.items()
        for line in text.splitlines()
        for name, secret in secrets.items()
        for form in forms_of(secret)
        if form in line
    ]
    assert [(name, which) for name, which, _ in leaks] == [], leaks[:5]
    # Not empty, not trivially quiet: the lines that carried secrets are there, redacted.
    assert '"WebSocket /ws/notifications/?ticket=[redacted]&since=0" [accepted]' in logs["server"]
    assert '"WebSocket /ws/notifications/?token=[redacted]" [accepted]' in logs["server"]
    assert '"POST /accounts/login/ HTTP/1.1" 302' in logs["server"]
    assert '"GET /track/t/[redacted]/?new=1 HTTP/1.1" 200' in logs["server"]
    assert '"POST /api/notifications/ticket/ HTTP/1.1" 200' in logs["server"]
    assert "Not Found: /track/t/[redacted]/" in logs["server"]
    assert "succeeded in" in logs["worker"] and "apps.cases.tasks" in logs["worker"]
    assert "fan_out_event" in logs["worker"] and "raised unexpected" in logs["worker"]
    assert "[redacted]-139****4321" in logs["worker"]

    # The phone's eleven digits anywhere, however written (139 8765 4321, 139-8765-4321, …).
    split_up = [
        (which, line)
        for which, text in logs.items()
        for line in text.splitlines()
        if phone in re.sub(r"[\s\-.()]", "", line)
    ]
    assert split_up == []
