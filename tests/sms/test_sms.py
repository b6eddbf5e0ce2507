"""Citizens who left a phone number hear from us: the tracking link when their report is taken
on, the rating link when it is closed — once each, within a daily limit, through the provider
the county chose, and never with their number in a log."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from apps.cases import services as workflow
from apps.cases import tracking
from apps.cases.models import CaseEvent
from apps.sms import services
from apps.sms.backends import SmsError
from apps.sms.models import SmsCursor, SmsKind, SmsMessage, SmsStatus
from apps.sms.tasks import send_sms, sweep_sms
from tests.public.conftest import CITIZEN_PHONE, citizen_case, close_through_town

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def file_backend(settings, tmp_path):
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_DIR = str(tmp_path / "sms")
    settings.SMS_SETTLE_S = 0  # the cursor may pass every committed event at once
    return Path(settings.SMS_FILE_DIR)


def sent_files(directory: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def start_cursor() -> None:
    """The installation's first sweep: the cursor starts at the history as it is now."""
    services.sms_collect()


def send_due() -> None:
    for message_id in services.sms_due():
        services.sms_send(message_id=message_id)


def test_accepted_then_closed_the_citizen_gets_both_links_once(org, file_backend):
    start_cursor()
    case = citizen_case(org)
    workflow.case_accept(case=case, actor=org.users["vh"])
    services.sms_collect()
    send_due()
    (tracking_sms,) = sent_files(file_backend)
    assert tracking_sms["to"] == CITIZEN_PHONE
    number = tracking.display(case.tracking_number)
    assert number in tracking_sms["text"] and "已受理" in tracking_sms["text"]
    assert tracking_sms["params"] == {"number": number, "link": tracking_sms["params"]["link"]}
    page = Client().get(urlsplit(tracking_sms["params"]["link"]).path)
    assert page.status_code == 200 and number in page.content.decode()

    case.refresh_from_db()
    close_through_town(org, case)  # accepted already: the rest of the loop to its closure
    services.sms_collect()
    services.sms_collect()  # a second sweep (another beat, a redelivery) adds nothing
    send_due()
    send_due()
    files = sent_files(file_backend)
    assert len(files) == 2
    rating = files[1]
    assert "已办结" in rating["text"] and "评价" in rating["text"]
    page = Client().get(urlsplit(rating["params"]["link"]).path)
    assert page.status_code == 200 and "评价" in page.content.decode()
    assert list(
        SmsMessage.objects.filter(case=case).values_list("kind", "status").order_by("kind")
    ) == [(SmsKind.RATING, SmsStatus.SENT), (SmsKind.TRACKING, SmsStatus.SENT)]


def test_a_report_without_a_phone_and_old_history_send_nothing(org, file_backend):
    case = citizen_case(org, phone="")
    old = citizen_case(org, grid_key="east-v1-g2")
    workflow.case_accept(case=old, actor=org.users["vh"])  # before the installation's first sweep
    start_cursor()
    workflow.case_accept(case=case, actor=org.users["vh"])
    services.sms_collect()
    send_due()
    assert sent_files(file_backend) == [] and not SmsMessage.objects.exists()


def test_the_cursor_waits_for_events_that_may_still_be_overtaken(org, settings):
    start_cursor()
    settings.SMS_SETTLE_S = 60
    case = citizen_case(org)
    workflow.case_accept(case=case, actor=org.users["vh"])
    before = SmsCursor.objects.get().event_id
    services.sms_collect()
    # The event is read (a message is made) but the cursor stays below it until it is settled.
    assert SmsMessage.objects.filter(case=case).count() == 1
    assert SmsCursor.objects.get().event_id == before
    services.sms_collect(now=timezone.now() + dt.timedelta(seconds=61))
    assert SmsCursor.objects.get().event_id == CaseEvent.objects.latest("id").id
    assert SmsMessage.objects.filter(case=case).count() == 1


def test_a_number_gets_at_most_the_daily_limit(org, settings, file_backend):
    settings.SMS_DAILY_LIMIT = 2
    start_cursor()
    for grid in ("east-v1-g1", "east-v1-g2", "east-v1-g1"):
        case = citizen_case(org, grid_key=grid)
        workflow.case_accept(case=case, actor=org.users["vh"])
    services.sms_collect()
    send_due()
    assert len(sent_files(file_backend)) == 2
    limited = SmsMessage.objects.get(status=SmsStatus.LIMITED)
    assert "24 小时内短信已达 2 条" in limited.last_error


class FlakyProvider:
    name = "flaky"

    def __init__(self, errors):
        self.errors = list(errors)
        self.calls = 0

    def send(self, message):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "provider-42"


def one_message_through(provider, org, monkeypatch) -> int:
    """The tracking message of a citizen's report, to be sent through ``provider``."""
    monkeypatch.setattr(services, "get_backend", lambda: provider)
    start_cursor()
    case = citizen_case(org)
    workflow.case_accept(case=case, actor=org.users["vh"])
    (message_id,) = services.sms_collect()
    return message_id


def test_a_retryable_failure_backs_off_and_then_succeeds(org, monkeypatch):
    provider = FlakyProvider([SmsError("超时", retryable=True)])
    message_id = one_message_through(provider, org, monkeypatch)
    assert services.sms_send(message_id=message_id) == SmsStatus.QUEUED
    message = SmsMessage.objects.get(pk=message_id)
    assert message.attempts == 1 and message.last_error == "超时"
    assert services.sms_due() == []  # backed off
    later = timezone.now() + dt.timedelta(minutes=2)
    assert services.sms_due(now=later) == [message_id]
    assert services.sms_send(message_id=message_id, now=later) == SmsStatus.SENT
    assert services.sms_send(message_id=message_id, now=later) == SmsStatus.SENT  # no resend
    assert provider.calls == 2
    assert SmsMessage.objects.get(pk=message_id).provider_id == "provider-42"


def test_a_permanent_refusal_fails_at_once_and_the_desk_can_retry(org, monkeypatch):
    provider = FlakyProvider([SmsError("模板未审核", retryable=False)])
    message_id = one_message_through(provider, org, monkeypatch)
    assert services.sms_send(message_id=message_id) == SmsStatus.FAILED
    message = SmsMessage.objects.get(pk=message_id)
    assert services.sms_retry(message=message) is True
    send_sms.apply(args=[message_id])
    assert SmsMessage.objects.get(pk=message_id).status == SmsStatus.SENT


def test_a_send_in_progress_is_not_sent_again_by_another_worker(org, monkeypatch):
    start_cursor()
    case = citizen_case(org)
    workflow.case_accept(case=case, actor=org.users["vh"])
    (message_id,) = services.sms_collect()
    seen = []

    class Reentrant:
        name = "reentrant"

        def send(self, message):
            # While this attempt runs, another worker picks up the same row: it must back off.
            seen.append(services.sms_send(message_id=message_id))
            return "ok"

    monkeypatch.setattr(services, "get_backend", lambda: Reentrant())
    assert services.sms_send(message_id=message_id) == SmsStatus.SENT
    assert seen == [SmsStatus.QUEUED]  # the second worker found it claimed and did nothing


def test_the_phone_number_never_reaches_a_log(org, settings, caplog):
    settings.SMS_BACKEND = "console"
    start_cursor()
    case = citizen_case(org)
    workflow.case_accept(case=case, actor=org.users["vh"])
    with caplog.at_level(logging.DEBUG):
        sweep_sms.apply()
        send_due()
    assert SmsMessage.objects.get(case=case).status == SmsStatus.SENT
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "139****5678" in text
    assert CITIZEN_PHONE not in text


def test_an_unknown_backend_is_refused_at_start_up():
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()",
        ],
        env={**__import__("os").environ, "SMS_BACKEND": "carrier-pigeon"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "SMS_BACKEND='carrier-pigeon'" in result.stderr
