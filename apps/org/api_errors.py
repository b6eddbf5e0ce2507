"""One error shape for the whole API: ``{"detail": "...", "errors": {field: [messages]}}``.

A phone or a script can show ``detail`` to a person as it is; ``errors`` names each field.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        first = _first_message(errors)
        response.data = {"detail": first or "提交的内容有误。", "errors": errors}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"detail": str(data["detail"])}
    return response


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


def error_response(message: str, *, code: int = status.HTTP_400_BAD_REQUEST, errors: dict | None = None) -> Response:
    body = {"detail": message}
    if errors:
        body["errors"] = errors
    return Response(body, status=code)
