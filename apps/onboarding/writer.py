"""Writing workbooks: the empty template (a header row and one example row per sheet, and a
sheet explaining every column), a county's export, the CSV template of one sheet, and the list
of initial passwords an import hands back once."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from apps.onboarding import spec

HEADER_FONT = Font(bold=True)
REQUIRED_FILL = PatternFill("solid", fgColor="FFF2CC")
EXCEL_CELL_LIMIT = 32_767


def _sheet(book: Workbook, sheet: spec.Sheet, rows: list[list[str]]) -> None:
    ws = book.create_sheet(sheet.title)
    ws.append(sheet.headers)
    for index, column in enumerate(sheet.columns, start=1):
        cell = ws.cell(row=1, column=index)
        cell.font = HEADER_FONT
        if column.required:
            cell.fill = REQUIRED_FILL
        ws.column_dimensions[get_column_letter(index)].width = column.width
    for row in rows:
        ws.append(row)
    # A name typed as "=…" is text, never a formula the spreadsheet would run.
    for cells in ws.iter_rows(min_row=2):
        for cell in cells:
            if cell.data_type == "f":
                cell.data_type = "s"
    # Codes are text: typed into a number cell, a 15-digit grid code loses its last digits.
    # (The column's format covers rows typed in later; the written rows get it cell by cell.)
    for index, column in enumerate(sheet.columns, start=1):
        if column.code:
            ws.column_dimensions[get_column_letter(index)].number_format = "@"
            for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "@"
    ws.freeze_panes = "A2"


def _explanation(book: Workbook) -> None:
    ws = book.create_sheet(spec.EXPLANATION_TITLE)
    ws.append(["工作表", "列", "必填", "说明"])
    for cell in ws[1]:
        cell.font = HEADER_FONT
    ws.append(
        [
            "全部",
            "",
            "",
            "每个工作表第 1 行是表头，不要改动；从第 2 行起每行一条。可以只保留需要的工作表。"
            "同一文件可反复导入：已有的不变，改过的更新，不会删除文件里没有的数据。"
            "先“试导入”看逐行结果，没有“拒绝”再正式导入；有一行被拒绝，整份文件都不会写入。",
        ]
    )
    for sheet in spec.SHEETS:
        ws.append([sheet.title, "", "", sheet.explanation])
        for column in sheet.columns:
            ws.append(
                [sheet.title, column.header, "是" if column.required else "", column.explanation]
            )
    for letter, width in zip("ABCD", (10, 16, 6, 90)):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=2):
        row[3].alignment = Alignment(wrap_text=True, vertical="top")


def _save(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_xlsx() -> bytes:
    book = Workbook()
    book.remove(book.active)
    for sheet in spec.SHEETS:
        _sheet(book, sheet, [[c.example for c in sheet.columns]])
    _explanation(book)
    return _save(book)


def template_csv(sheet: spec.Sheet) -> bytes:
    """One sheet as CSV (UTF-8 with a byte-order mark, so Excel on Windows opens it in Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(sheet.headers)
    writer.writerow([c.example for c in sheet.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def county_xlsx(rows: dict[str, list[list[str]]]) -> tuple[bytes, dict[str, str]]:
    """The county workbook, and the grid boundaries too long for an Excel cell (code → GeoJSON
    text): those go in a separate boundary file beside it, their cells left empty."""
    overflow: dict[str, str] = {}
    grid_rows = []
    for row in rows.get("grids", []):
        if len(row[4]) > EXCEL_CELL_LIMIT:
            overflow[row[0]] = row[4]
            row = [*row[:4], ""]
        grid_rows.append(row)
    book = Workbook()
    book.remove(book.active)
    for sheet in spec.SHEETS:
        _sheet(book, sheet, grid_rows if sheet.key == "grids" else rows.get(sheet.key, []))
    _explanation(book)
    return _save(book), overflow


def overflow_geojson(overflow: dict[str, str]) -> bytes:
    features = ",".join(
        f'{{"type":"Feature","properties":{{"code":"{code}"}},"geometry":{text}}}'
        for code, text in sorted(overflow.items())
    )
    return f'{{"type":"FeatureCollection","features":[{features}]}}'.encode()


def passwords_xlsx(passwords: list[tuple[str, str, str]]) -> bytes:
    """用户名、姓名、初始密码: to print and hand out; each must be changed at first sign-in."""
    book = Workbook()
    ws = book.active
    ws.title = "初始密码"
    ws.append(["用户名", "姓名", "初始密码", "说明"])
    for cell in ws[1]:
        cell.font = HEADER_FONT
    for username, name, password in passwords:
        ws.append([username, name, password, "首次登录须修改密码"])
    for letter, width in zip("ABCD", (18, 12, 16, 20)):
        ws.column_dimensions[letter].width = width
    return _save(book)
