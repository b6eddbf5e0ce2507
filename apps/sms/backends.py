"""Where a message goes: ``SMS_BACKEND`` = ``console`` | ``file`` | ``aliyun`` | ``tencent``.

Each backend's ``send`` returns the provider's id for the message or raises ``SmsError``
(``retryable`` when trying again later may help: a timeout, a provider's flow control).
Templates and the sign name are the ones approved by the provider (settings); the text is what
``console`` and ``file`` show and what the template renders to.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils import timezone

from apps.sms.models import mask_phone

log = logging.getLogger(__name__)


class SmsError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Outgoing:
    phone: str
    text: str
    template: str  # the provider's template id for this kind of message
    params: dict[str, str]  # the template's variables
    reference: str  # our id for the message (file name, logs)


class SmsBackend(Protocol):
    name: str

    def send(self, message: Outgoing) -> str: ...


class ConsoleBackend:
    """For development: the text in the log, the number masked."""

    name = "console"

    def send(self, message: Outgoing) -> str:
        log.info("SMS %s to %s: %s", message.reference, mask_phone(message.phone), message.text)
        return f"console-{message.reference}"


class FileBackend:
    """One JSON file per message in ``SMS_FILE_DIR``: for tests, demos and a county trying the
    product before its provider contract is signed."""

    name = "file"

    def send(self, message: Outgoing) -> str:
        directory = Path(settings.SMS_FILE_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        path = directory / f"{stamp}-{message.reference}.json"
        partial = path.with_suffix(".part")
        partial.write_text(
            json.dumps(
                {
                    "to": message.phone,
                    "text": message.text,
                    "template": message.template,
                    "params": message.params,
                    "reference": message.reference,
                },
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        partial.replace(path)  # readers never see half a file
        return f"file-{path.name}"


class AliyunBackend:
    """Alibaba Cloud SMS (短信服务, dysmsapi 2017-05-25) through its official SDK."""

    name = "aliyun"

    def send(self, message: Outgoing) -> str:
        from alibabacloud_dysmsapi20170525 import models as sms_models
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi import models as openapi_models
        from alibabacloud_tea_util import models as util_models

        client = Client(
            openapi_models.Config(
                access_key_id=settings.SMS_ALIYUN_ACCESS_KEY_ID,
                access_key_secret=settings.SMS_ALIYUN_ACCESS_KEY_SECRET,
                endpoint=settings.SMS_ALIYUN_ENDPOINT,
                protocol=settings.SMS_PROVIDER_PROTOCOL,
            )
        )
        request = sms_models.SendSmsRequest(
            phone_numbers=message.phone,
            sign_name=settings.SMS_SIGN_NAME,
            template_code=message.template,
            template_param=json.dumps(message.params, ensure_ascii=False),
            out_id=message.reference,
        )
        runtime = util_models.RuntimeOptions(
            connect_timeout=settings.SMS_TIMEOUT_MS, read_timeout=settings.SMS_TIMEOUT_MS
        )
        try:
            response = client.send_sms_with_options(request, runtime)
        except Exception as exc:  # the SDK raises its own and transport errors alike
            raise SmsError(f"阿里云短信接口不可用：{type(exc).__name__}", retryable=True) from exc
        body = response.body
        if body.code == "OK":
            return str(body.biz_id)
        # Flow control is temporary; a bad template, sign or number is not.
        retryable = body.code in {"isv.BUSINESS_LIMIT_CONTROL", "SignatureNonceUsed", "Throttling"}
        raise SmsError(f"阿里云短信拒绝：{body.code} {body.message}", retryable=retryable)


class TencentBackend:
    """Tencent Cloud SMS (短信, API 2021-01-11) through its official SDK."""

    name = "tencent"

    def send(self, message: Outgoing) -> str:
        from tencentcloud.common import credential
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
            TencentCloudSDKException,
        )
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import models, sms_client

        request = models.SendSmsRequest()
        request.SmsSdkAppId = settings.SMS_TENCENT_APP_ID
        request.SignName = settings.SMS_SIGN_NAME
        request.TemplateId = message.template
        # Tencent's templates number their variables {1}, {2}: the params in declaration order.
        request.TemplateParamSet = list(message.params.values())
        request.PhoneNumberSet = [f"+86{message.phone}"]
        request.SessionContext = message.reference
        try:
            http = HttpProfile(
                protocol=settings.SMS_PROVIDER_PROTOCOL,
                endpoint=settings.SMS_TENCENT_ENDPOINT,
                reqTimeout=max(1, settings.SMS_TIMEOUT_MS // 1000),
            )
            client = sms_client.SmsClient(
                credential.Credential(
                    settings.SMS_TENCENT_SECRET_ID, settings.SMS_TENCENT_SECRET_KEY
                ),
                settings.SMS_TENCENT_REGION,
                ClientProfile(httpProfile=http),
            )
            response = client.SendSms(request)
        except TencentCloudSDKException as exc:
            # Wrong or missing credentials stay wrong until someone fixes the settings.
            retryable = not str(exc.code).startswith(("InvalidCredential", "AuthFailure"))
            raise SmsError(f"腾讯云短信接口错误：{exc.code}", retryable=retryable) from exc
        except Exception as exc:
            raise SmsError(f"腾讯云短信接口不可用：{type(exc).__name__}", retryable=True) from exc
        status = response.SendStatusSet[0]
        if status.Code == "Ok":
            return str(status.SerialNo)
        retryable = status.Code.startswith("LimitExceeded")
        raise SmsError(f"腾讯云短信拒绝：{status.Code} {status.Message}", retryable=retryable)


BACKENDS: dict[str, type[SmsBackend]] = {
    "console": ConsoleBackend,
    "file": FileBackend,
    "aliyun": AliyunBackend,
    "tencent": TencentBackend,
}


def get_backend() -> SmsBackend:
    return BACKENDS[settings.SMS_BACKEND]()


def new_reference() -> str:
    return uuid.uuid4().hex[:12]
