"""Logs an operator can follow: time, level, logger and a request id on every line, the same id
in the access log and in the Celery task the request caused; JSON on request."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import uuid
from contextlib import contextmanager

import pytest
from django.test import Client

from tests.conftest import wait_for

ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"


@contextmanager
def access_lines():
    """What the console handler of LOGGING writes for ``liandong.access``, while it is written
    (the request id is read at that moment, inside the request)."""
    console = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(console.formatter)
    for f in console.filters:
        handler.addFilter(f)
    logger = logging.getLogger("liandong.access")
    logger.addHandler(handler)
    lines: list[str] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        lines.extend(buffer.getvalue().splitlines())


@pytest.mark.django_db
def test_every_request_has_an_id_in_its_response_and_its_access_line(org):
    with access_lines() as lines:
        response = Client().get("/track/")
    request_id = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    (text,) = lines
    assert re.match(ISO_TIME + rf" INFO liandong\.access \[{request_id}\] GET /track/ 200 ", text)
    assert text.endswith("client=127.0.0.1 user=-")


@pytest.mark.django_db
def test_a_proxys_request_id_is_kept_and_a_forged_one_replaced(org):
    from_proxy = uuid.uuid4().hex
    assert Client().get("/track/", HTTP_X_REQUEST_ID=from_proxy)["X-Request-ID"] == from_proxy
    forged = Client().get("/track/", HTTP_X_REQUEST_ID="<script>x</script>")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", forged)


@pytest.mark.django_db
def test_the_access_log_never_writes_a_query_string(org):
    with access_lines() as lines:
        Client().get("/track/", {"number": "13800138000"})
    (text,) = lines
    assert "13800138000" not in text and "?" not in text


def test_json_lines_carry_time_level_logger_request_id_and_message():
    from django_guid import clear_guid, set_guid

    formatter_config = __import__("django.conf").conf.settings.LOGGING["formatters"]["json"]
    factory = formatter_config["()"]
    module, name = factory.rsplit(".", 1)
    formatter_class = getattr(__import__(module, fromlist=[name]), name)
    formatter = formatter_class(**{k: v for k, v in formatter_config.items() if k not in ("()",)})
    from config.log_format import RequestId

    set_guid("0" * 32)
    try:
        record = logging.LogRecord(
            "apps.cases", logging.WARNING, __file__, 1, "案件 %s 已派遣", (7,), None
        )
        RequestId().filter(record)
        line = json.loads(formatter.format(record))
    finally:
        clear_guid()
    assert line["level"] == "WARNING" and line["logger"] == "apps.cases"
    assert line["request_id"] == "0" * 32 and line["message"] == "案件 7 已派遣"
    assert re.fullmatch(ISO_TIME, line["time"])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_request_id_follows_a_report_into_its_routing_task(org_tx, celery_worker_process):
    from rest_framework.test import APIClient

    from tests.api.conftest import report_payload
    from tests.factories import PASSWORD

    client = APIClient()
    assert client.login(username=org_tx.users["gw"].username, password=PASSWORD)
    response = client.post("/api/reports/", report_payload(org_tx), format="json")
    assert response.status_code == 201
    request_id = response["X-Request-ID"]
    log_path = celery_worker_process.log_path

    def routed_under_the_same_id() -> bool:
        return any(
            f"[{request_id}]" in line and "route_case" in line and "succeeded" in line
            for line in log_path.read_text(errors="replace").splitlines()
        )

    wait_for(routed_under_the_same_id, timeout=20)
