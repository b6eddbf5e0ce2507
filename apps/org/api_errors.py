"""One error shape for the whole API: ``{"detail": "...", "errors": {field: [messages]}}``.

A phone or a script can show ``detail`` to a person as it is; ``errors`` names each field.
DRF's own refusals (not logged in, no permission, not found, CSRF, throttled, unreadable body)
are translated by Django's zh_Hans catalogue but only say what happened, or come in English
(CSRF, parse errors): they are replaced here by Chinese that also says what to do. A refusal
our own code worded (``NotFound(_("找不到这条上报…"))``) is kept as it is.
"""

from __future__ import annotations

import logging
import math
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

log = logging.getLogger(__name__)


# DRF's stock messages, by the refusal's class: what we say instead.
STOCK_DETAILS = {
    exceptions.NotAuthenticated: "您还没有登录，或登录已过期；请重新登录后再试。",
    exceptions.AuthenticationFailed: "登录信息不正确或已过期，请重新登录。",
    exceptions.PermissionDenied: "您没有权限执行这项操作；如确需办理，请联系本级指挥中心开通权限。",
    exceptions.NotFound: "找不到这条记录，或它不在您的辖区内；请刷新列表后再试。",
    exceptions.NotAcceptable: "无法按请求的格式返回，请以 application/json 接收。",
}
# Token authentication's own stock messages (apps/org/authentication.py raises DRF's wording).
TOKEN_DETAILS = {
    "Invalid token.": "登录凭证（令牌）无效或已被撤销，请重新登录。",
    "User inactive or deleted.": "这个账号已停用或已删除；如需继续使用，请联系所在指挥中心。",
}


_HAN = re.compile(r"[\u4e00-\u9fff]")  # a refusal our own code worded in Chinese is kept


# The database unreachable (restarting, failing over, every pooled connection in use for
# DB_POOL_TIMEOUT_S): not the caller's fault and over in a moment. The phone keeps an unsent
# report in its outbox and sends it again; a report that was stored before the failure comes
# back as the replay of the same id.
DATABASE_UNAVAILABLE = (
    "服务器暂时连不上数据库，请约半分钟后重试；外勤 App 中未发出的上报会保留并自动重发。"
)


def exception_handler(exc, context):
    if isinstance(exc, (OperationalError, InterfaceError)):
        log.warning("database unavailable, answered 503: %s", type(exc).__name__)
        set_rollback()
        return Response(
            {"detail": DATABASE_UNAVAILABLE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "30"},
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        first = _first_message(errors)
        response.data = {"detail": first or "提交的内容有误。", "errors": errors}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"detail": _actionable(exc, str(data["detail"]), context)}
    return response


def _actionable(exc, detail: str, context) -> str:
    """The refusal in Chinese that says what to do (see the module docstring)."""
    if isinstance(exc, exceptions.PermissionDenied) and detail.startswith("CSRF Failed"):
        return "页面已过期（表单校验失败），请刷新页面后重试；如仍不行，请重新登录。"
    if isinstance(exc, exceptions.Throttled) and not _HAN.search(detail):
        # DRF sets ``wait`` in Throttled.__init__; the stubs do not declare it.
        seconds: float | None = exc.wait  # type: ignore[attr-defined]
        wait = f" {math.ceil(seconds)} 秒后" if seconds is not None else "稍后"
        return f"操作太频繁，请{wait}再试。"
    if isinstance(exc, exceptions.ParseError):
        return "提交的内容无法解析（格式不对），请检查后重新提交。"
    if isinstance(exc, exceptions.MethodNotAllowed):
        request = context.get("request")
        method = request.method if request is not None else ""
        return f"这个接口不接受 {method} 请求，请核对接口说明（/api/docs/）。"
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return "不支持这种提交格式，请以 JSON（application/json）或表单提交。"
    for english, chinese in TOKEN_DETAILS.items():
        if detail in (english, gettext(english)):
            return chinese
    for cls, chinese in STOCK_DETAILS.items():
        if type(exc) is cls and detail == str(cls.default_detail):
            return chinese
    return detail


def _first_message(errors) -> str:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            if message:
                return message if field in ("non_field_errors", "detail") else f"{field}: {message}"
    elif isinstance(errors, list):
        for item in errors:
            message = _first_message(item)
            if message:
                return message
    elif errors:
        return str(errors)
    return ""


def error_response(
    message: str, *, code: int = status.HTTP_400_BAD_REQUEST, errors: dict | None = None
) -> Response:
    body: dict[str, object] = {"detail": message}
    if errors:
        body["errors"] = errors
    return Response(body, status=code)
