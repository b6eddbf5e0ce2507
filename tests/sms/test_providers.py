"""The Alibaba Cloud and Tencent Cloud backends, through the providers' own SDKs, against a
local server that answers as each provider's API does (the one thing we do not run is their
servers): what the SDK sends, and how each answer is taken."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from apps.sms.backends import AliyunBackend, Outgoing, SmsError, TencentBackend

MESSAGE = Outgoing(
    phone="13912345678",
    text="【联动】您反映的问题已受理，流水号 ABCD-EFGH-JKMN-P。",
    template="SMS_123456789",
    params={"number": "ABCD-EFGH-JKMN-P", "link": "https://ld.example.org/track/t/x/"},
    reference="42",
)


class Provider:
    """A local HTTP server: records each request, answers with the body it is given."""

    def __init__(self, answer: dict):
        self.answer = answer
        self.requests: list[dict] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                provider.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                payload = json.dumps(provider.answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider(settings):
    made: list[Provider] = []

    def make(answer: dict) -> Provider:
        p = Provider(answer)
        made.append(p)
        settings.SMS_PROVIDER_PROTOCOL = "http"
        settings.SMS_ALIYUN_ENDPOINT = p.endpoint
        settings.SMS_TENCENT_ENDPOINT = p.endpoint
        settings.SMS_SIGN_NAME = "联动示范县"
        settings.SMS_ALIYUN_ACCESS_KEY_ID = "LTAI-test"
        settings.SMS_ALIYUN_ACCESS_KEY_SECRET = "secret"
        settings.SMS_TENCENT_SECRET_ID = "AKID-test"
        settings.SMS_TENCENT_SECRET_KEY = "secret"
        settings.SMS_TENCENT_APP_ID = "1400000000"
        settings.SMS_TIMEOUT_MS = 3000
        return p

    yield make
    for p in made:
        p.close()


def aliyun_fields(request: dict) -> dict[str, str]:
    """The SendSms parameters, wherever the SDK put them (query string or form body)."""
    fields = {k: v[0] for k, v in parse_qs(urlsplit(request["path"]).query).items()}
    fields.update({k: v[0] for k, v in parse_qs(request["body"]).items()})
    return fields


def test_aliyun_sends_the_approved_template_with_its_variables(provider):
    server = provider(
        {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "r1"}
    )
    assert AliyunBackend().send(MESSAGE) == "900619746936498440^0"
    (request,) = server.requests
    fields = aliyun_fields(request)
    assert fields["PhoneNumbers"] == "13912345678"
    assert fields["SignName"] == "联动示范县"
    assert fields["TemplateCode"] == "SMS_123456789"
    assert json.loads(fields["TemplateParam"]) == MESSAGE.params
    assert (
        "LTAI-test"
        in request["headers"].get("Authorization", "") + request["path"] + request["body"]
    )


def test_aliyun_flow_control_is_retryable_and_a_bad_template_is_not(provider):
    provider({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控", "RequestId": "r2"})
    with pytest.raises(SmsError) as limited:
        AliyunBackend().send(MESSAGE)
    assert limited.value.retryable and "isv.BUSINESS_LIMIT_CONTROL" in str(limited.value)
    provider({"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "模板不合法", "RequestId": "r3"})
    with pytest.raises(SmsError) as refused:
        AliyunBackend().send(MESSAGE)
    assert not refused.value.retryable


def test_tencent_sends_the_template_with_its_numbered_variables(provider):
    server = provider(
        {
            "Response": {
                "SendStatusSet": [
                    {
                        "SerialNo": "5000:104571066915705365784949619",
                        "PhoneNumber": "+8613912345678",
                        "Fee": 1,
                        "SessionContext": "42",
                        "Code": "Ok",
                        "Message": "send success",
                        "IsoCode": "CN",
                    }
                ],
                "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279",
            }
        }
    )
    assert TencentBackend().send(MESSAGE) == "5000:104571066915705365784949619"
    (request,) = server.requests
    body = json.loads(request["body"])
    assert body["PhoneNumberSet"] == ["+8613912345678"]
    assert body["SmsSdkAppId"] == "1400000000" and body["SignName"] == "联动示范县"
    assert body["TemplateId"] == "SMS_123456789"
    assert body["TemplateParamSet"] == ["ABCD-EFGH-JKMN-P", "https://ld.example.org/track/t/x/"]
    assert request["headers"]["X-TC-Action"] == "SendSms"
    assert "AKID-test" in request["headers"]["Authorization"]


def test_tencent_refusals_are_told_apart(provider):
    answer = {
        "Response": {
            "SendStatusSet": [
                {
                    "SerialNo": "",
                    "PhoneNumber": "+8613912345678",
                    "Fee": 0,
                    "SessionContext": "42",
                    "Code": "LimitExceeded.PhoneNumberDailyLimit",
                    "Message": "单个手机号日下发条数超过设定的上限",
                    "IsoCode": "CN",
                }
            ],
            "RequestId": "r4",
        }
    }
    provider(answer)
    with pytest.raises(SmsError) as limited:
        TencentBackend().send(MESSAGE)
    assert limited.value.retryable
    answer["Response"]["SendStatusSet"][0]["Code"] = "FailedOperation.TemplateIncorrectOrUnapproved"
    provider(answer)
    with pytest.raises(SmsError) as refused:
        TencentBackend().send(MESSAGE)
    assert not refused.value.retryable


def test_an_unreachable_provider_is_a_retryable_failure(provider, settings):
    provider({})  # credentials and the rest set as for the real thing
    settings.SMS_PROVIDER_PROTOCOL = "http"
    settings.SMS_ALIYUN_ENDPOINT = "127.0.0.1:1"
    settings.SMS_TENCENT_ENDPOINT = "127.0.0.1:1"
    settings.SMS_TIMEOUT_MS = 1000
    for backend in (AliyunBackend(), TencentBackend()):
        with pytest.raises(SmsError) as failed:
            backend.send(MESSAGE)
        assert failed.value.retryable


def test_missing_credentials_are_not_retried(settings):
    settings.SMS_TENCENT_SECRET_ID = ""
    with pytest.raises(SmsError) as failed:
        TencentBackend().send(MESSAGE)
    assert not failed.value.retryable and "InvalidCredential" in str(failed.value)
