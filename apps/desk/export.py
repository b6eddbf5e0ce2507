"""CSV and Excel export of admin lists, always of a queryset the admin already scoped.

``ExportMixin`` gives any ModelAdmin two URLs, ``export.csv`` and ``export.xlsx``, that export
the list exactly as filtered on screen (same query string, same ``get_queryset`` scoping), and
two admin actions that export the selected rows. Columns come from ``export_columns``: pairs
of (header, accessor) where the accessor is a callable taking the object.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils import timezone

from apps.core.downloads import (
    CSV_CONTENT_TYPE,
    attachment,
    spreadsheet_safe,
    workbook_response,
)

# Excel is for reading in a spreadsheet; past this size the CSV is the right tool.
EXCEL_MAX_ROWS = 100_000
CSV_MAX_ROWS = 1_000_000
Column = tuple[str, Callable[[Any], Any]]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float, str)):
        return value
    return str(value)


def rows_of(queryset: QuerySet, columns: list[Column], limit: int) -> Iterator[list[Any]]:
    for obj in queryset[:limit].iterator(chunk_size=2000):
        yield [spreadsheet_safe(_cell(accessor(obj))) for _header, accessor in columns]


def csv_response(
    filename: str, columns: list[Column], rows: Iterable[list[Any]]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield "\ufeff"  # a BOM, so Excel opens the UTF-8 Chinese text correctly
        yield writer.writerow([header for header, _ in columns])
        for row in rows:
            yield writer.writerow(row)

    return attachment(
        StreamingHttpResponse(stream(), content_type=CSV_CONTENT_TYPE), f"{filename}.csv"
    )


def xlsx_response(
    filename: str, title: str, columns: list[Column], rows: Iterable[list[Any]]
) -> HttpResponse:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    from openpyxl.cell import WriteOnlyCell

    header = []
    for name, _ in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    return workbook_response(book, f"{filename}.xlsx")


if TYPE_CHECKING:
    # For the type checker the mixin is the ModelAdmin it is mixed into.
    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object


class ExportMixin(_AdminBase):
    """Mix into a ModelAdmin (before ``admin.ModelAdmin``) and set ``export_columns``."""

    export_columns: list[Column] = []
    export_filename = "export"
    change_list_template = "admin/cases/export_change_list.html"

    def get_export_columns(self, request) -> list[Column]:
        return list(self.export_columns)

    def get_export_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset

    def _export_name(self) -> str:
        return f"{self.export_filename}-{timezone.localtime():%Y%m%d-%H%M}"

    def export_queryset(self, request, queryset: QuerySet, fmt: str):
        columns = self.get_export_columns(request)
        queryset = self.get_export_queryset(queryset)
        if fmt == "xlsx":
            total = queryset.count()
            if total > EXCEL_MAX_ROWS:
                self.message_user(
                    request,
                    f"共 {total} 条，超过 Excel 导出上限 {EXCEL_MAX_ROWS} 条；请缩小筛选范围或导出 CSV。",
                    messages.ERROR,
                )
                return None
            return xlsx_response(
                self._export_name(),
                str(self.opts.verbose_name_plural),
                columns,
                rows_of(queryset, columns, EXCEL_MAX_ROWS),
            )
        return csv_response(self._export_name(), columns, rows_of(queryset, columns, CSV_MAX_ROWS))

    def filtered_export_view(self, request, fmt: str):
        """The list as filtered on screen: the changelist's own filtering of the scoped queryset."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        back = redirect(request.path.rsplit("/", 1)[0] + "/?" + request.GET.urlencode())
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            self.message_user(request, "筛选条件无效，请重新选择后再导出。", messages.ERROR)
            return back
        response = self.export_queryset(request, changelist.get_queryset(request), fmt)
        return back if response is None else response

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path(
                "export.csv",
                wrap(lambda request: self.filtered_export_view(request, "csv")),
                name="%s_%s_export_csv" % info,
            ),
            path(
                "export.xlsx",
                wrap(lambda request: self.filtered_export_view(request, "xlsx")),
                name="%s_%s_export_xlsx" % info,
            ),
            *super().get_urls(),
        ]

    @admin.action(description="导出所选为 CSV")
    def export_selected_csv(self, request, queryset):
        return self.export_queryset(request, queryset, "csv")

    @admin.action(description="导出所选为 Excel")
    def export_selected_xlsx(self, request, queryset):
        return self.export_queryset(request, queryset, "xlsx")
