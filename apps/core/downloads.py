"""What every download shares: the attachment header, the Excel response, and the guard that
keeps text typed by users from running as a spreadsheet formula."""

from __future__ import annotations

import io
from typing import Any, TypeVar

from django.http import HttpResponse, HttpResponseBase

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

R = TypeVar("R", bound=HttpResponseBase)


def attachment(response: R, filename: str) -> R:
    """The response, saved by the browser as ``filename``."""
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def workbook_response(workbook: Any, filename: str) -> HttpResponse:
    """An openpyxl workbook as an .xlsx download."""
    buffer = io.BytesIO()
    workbook.save(buffer)
    return attachment(HttpResponse(buffer.getvalue(), content_type=XLSX_CONTENT_TYPE), filename)


def spreadsheet_safe(value: Any) -> Any:
    """Formula injection: a text cell starting with = + - @ (or a tab or carriage return) would
    run as a formula in a spreadsheet, so it is written with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
