"""Tables, and their CSV and Excel exports: every table a page shows can be downloaded with
``?export=csv`` or ``?export=xlsx`` and contains exactly the rows and columns on the page."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from django.http import HttpResponse

from apps.core.downloads import (
    CSV_CONTENT_TYPE,
    attachment,
    spreadsheet_safe,
    workbook_response,
)

EXPORT_FORMATS = ("csv", "xlsx")


@dataclass
class Table:
    key: str  # used in ?table=… when a page has several tables, and in the file name
    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)  # values as exported (numbers stay numbers)
    display: list[list[str]] = field(default_factory=list)  # the same cells as the page shows them
    links: list[str] = field(default_factory=list)  # per row: where to see the cases (optional)
    note: str = ""

    def add(self, values: list, shown: list[str] | None = None, link: str = "") -> None:
        self.rows.append(values)
        self.display.append(
            shown if shown is not None else ["" if v is None else str(v) for v in values]
        )
        self.links.append(link)

    @property
    def html_rows(self) -> list[tuple[list[str], str]]:
        return list(zip(self.display, self.links))


def _filename(table: Table, suffix: str, period: str) -> str:
    stem = re.sub(r"[^0-9A-Za-z_-]+", "-", f"liandong-{table.key}-{period}").strip("-")
    return f"{stem}.{suffix}"


def export_response(table: Table, fmt: str, *, period: str, subtitle: str = "") -> HttpResponse:
    if fmt == "csv":
        buffer = io.StringIO()
        buffer.write("\ufeff")  # so that Excel opens UTF-8 Chinese correctly
        writer = csv.writer(buffer)
        writer.writerow([table.title, subtitle])
        writer.writerow(table.headers)
        for row in table.rows:
            writer.writerow([spreadsheet_safe(v) for v in row])
        return attachment(
            HttpResponse(buffer.getvalue(), content_type=CSV_CONTENT_TYPE),
            _filename(table, fmt, period),
        )
    else:
        from openpyxl import Workbook
        from openpyxl.styles import Font

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = re.sub(r"[\[\]:*?/\\]", " ", table.title)[:31] or "sheet"
        sheet.append([table.title, subtitle])
        sheet["A1"].font = Font(bold=True)
        sheet.append(table.headers)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([spreadsheet_safe(v) for v in row])
        for index, header in enumerate(table.headers, start=1):
            sheet.column_dimensions[sheet.cell(row=2, column=index).column_letter].width = max(
                10, len(header) * 2
            )
        sheet.freeze_panes = "A3"
        return workbook_response(workbook, _filename(table, fmt, period))
