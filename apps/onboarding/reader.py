"""Reading a county workbook: an Excel file (.xlsx), or the same sheets as CSV files in a zip
(one ``区划.csv``, ``人员.csv``… per sheet; a single ``区划.csv`` also works).

The reader refuses a file before it looks inside when it is too large, refuses a sheet as soon
as it has more rows than allowed (it streams the rows; it never loads a whole sheet), and
checks every sheet name and header against ``apps.onboarding.spec``. It knows nothing about the
database: it hands the service rows of text, each with its sheet and row number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO

from django.conf import settings
from django.utils.translation import gettext as _

from apps.onboarding.spec import EXPLANATION_TITLE, SHEET_BY_KEY, SHEET_BY_TITLE, SHEETS, Sheet

MB = 1024 * 1024


def max_file_bytes() -> int:
    return int(getattr(settings, "ONBOARDING_MAX_FILE_BYTES", 50 * MB))


def max_rows() -> int:
    return int(getattr(settings, "ONBOARDING_MAX_ROWS", 200_000))


# What a zip (an .xlsx is one) may unpack to: a 50 MB file of repeated bytes can hold gigabytes.
MAX_UNPACKED_BYTES = 600 * MB


class FileRefused(Exception):
    """The file as a whole was refused (nothing was read into the database); ``errors`` says
    why, in Chinese."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("；".join(errors))


@dataclass
class Row:
    sheet: Sheet
    number: int  # the row number as the spreadsheet shows it (the header is row 1)
    values: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.values.get(key, "")

    @property
    def where(self) -> str:
        return _("“%(sheet)s”第 %(row)d 行") % {"sheet": self.sheet.title, "row": self.number}


@dataclass
class Workbook:
    rows: dict[str, list[Row]] = field(default_factory=dict)  # by sheet key, in file order

    def sheet(self, key: str) -> list[Row]:
        return self.rows.get(key, [])


def cell_text(value: object) -> str:
    """A cell as text: numbers without a trailing .0 (codes typed as numbers), dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value).strip()


def size_check(size: int) -> None:
    limit = max_file_bytes()
    if size >= limit:
        raise FileRefused(
            [
                _(
                    "文件有 %(size).1f MB，达到或超过了 %(limit)d MB 的上限；请按区域分成几个文件导入。"
                )
                % {"size": size / MB, "limit": limit // MB}
            ]
        )


def zip_check(archive: zipfile.ZipFile) -> None:
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise FileRefused(
            [_("压缩文件解压后超过 %(n)d MB，拒绝读取。") % {"n": MAX_UNPACKED_BYTES // MB}]
        )


def member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's name: Windows zip tools write Chinese names in GBK without saying so."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _rows_of(sheet: Sheet, raw_rows: Iterable[Iterable[object]], errors: list[str]) -> list[Row]:
    """Header check, then the data rows (empty rows skipped), refusing past the row cap."""
    limit = max_rows()
    iterator: Iterator[Iterable[object]] = iter(raw_rows)
    header_cells = next(iterator, None)
    if header_cells is None:
        errors.append(_("工作表“%(s)s”是空的：第 1 行必须是表头。") % {"s": sheet.title})
        return []
    headers = [cell_text(c) for c in header_cells]
    while headers and not headers[-1]:
        headers.pop()
    known = {c.header: c for c in sheet.columns}
    unknown = [h for h in headers if h and h not in known]
    missing = [c.header for c in sheet.columns if c.required and c.header not in headers]
    repeated = sorted({h for h in headers if h and headers.count(h) > 1})
    problems = []
    if missing:
        problems.append(_("缺少列：%(c)s") % {"c": "、".join(missing)})
    if unknown:
        problems.append(_("不认识的列：%(c)s") % {"c": "、".join(unknown)})
    if repeated:
        problems.append(_("列重复：%(c)s") % {"c": "、".join(repeated)})
    if problems:
        errors.append(
            _("工作表“%(s)s”的表头不对（%(p)s）。应有的列：%(h)s。")
            % {"s": sheet.title, "p": "；".join(problems), "h": "、".join(sheet.headers)}
        )
        return []
    keys = [known[h].key if h in known else None for h in headers]
    rows: list[Row] = []
    for number, cells in enumerate(iterator, start=2):
        if number - 1 > limit:
            errors.append(
                _("工作表“%(s)s”超过 %(n)d 行的上限；请分成几个文件导入。")
                % {"s": sheet.title, "n": limit}
            )
            return []
        values = {}
        for key, value in zip(keys, cells):
            if key is not None:
                values[key] = cell_text(value)
        if any(values.values()):
            rows.append(Row(sheet, number, values))
    return rows


def _read_xlsx(data: IO[bytes]) -> Workbook:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with zipfile.ZipFile(data) as archive:
            zip_check(archive)
    except zipfile.BadZipFile as exc:
        raise FileRefused([_("文件不是有效的 Excel 工作簿（.xlsx）。")]) from exc
    data.seek(0)
    try:
        book = openpyxl.load_workbook(data, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise FileRefused([_("文件不是有效的 Excel 工作簿（.xlsx）：%(e)s") % {"e": exc}]) from exc
    try:
        names = list(book.sheetnames)
        errors = _sheet_names_check(names)
        if errors:
            raise FileRefused(errors)
        workbook = Workbook()
        limit = max_rows()
        for name in names:
            if name == EXPLANATION_TITLE:
                continue
            sheet = SHEET_BY_TITLE[name]
            worksheet = book[name]
            # The sheet's declared size is known without reading it: a sheet that says it has a
            # million rows is refused at once (a file that lies is caught while streaming).
            declared = getattr(worksheet, "max_row", None)
            if isinstance(declared, int) and declared - 1 > limit:
                errors.append(
                    _("工作表“%(s)s”有 %(m)d 行，超过 %(n)d 行的上限；请分成几个文件导入。")
                    % {"s": name, "m": declared - 1, "n": limit}
                )
                continue
            # The declared size also bounds openpyxl's reading: forget it, so rows past a size
            # that lies are read (and counted) rather than silently left out.
            worksheet.reset_dimensions()
            workbook.rows[sheet.key] = _rows_of(
                sheet, worksheet.iter_rows(values_only=True), errors
            )
        if errors:
            raise FileRefused(errors)
        return workbook
    finally:
        book.close()


def _sheet_names_check(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in SHEET_BY_TITLE and n != EXPLANATION_TITLE]
    if unknown:
        return [
            _("不认识的工作表：%(u)s。工作表名必须是：%(k)s（“%(e)s”可有可无）。")
            % {
                "u": "、".join(f"“{n}”" for n in unknown),
                "k": "、".join(s.title for s in SHEETS),
                "e": EXPLANATION_TITLE,
            }
        ]
    if not any(n in SHEET_BY_TITLE for n in names):
        return [_("工作簿里没有可导入的工作表。")]
    return []


def _decode_csv(raw: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileRefused([_("“%(n)s”既不是 UTF-8 也不是 GBK 编码的文本。") % {"n": name}])


def _csv_sheet(name: str) -> Sheet | None:
    stem = PurePosixPath(name).stem
    return SHEET_BY_TITLE.get(stem) or SHEET_BY_KEY.get(stem.lower())


def _csv_rows(sheet: Sheet, stream: IO[bytes], name: str, errors: list[str]) -> list[Row]:
    raw = stream.read(max_file_bytes() + 1)
    text = _decode_csv(raw, name)
    return _rows_of(sheet, csv.reader(io.StringIO(text, newline="")), errors)


def _read_csv_zip(data: IO[bytes]) -> Workbook:
    try:
        archive = zipfile.ZipFile(data)
    except zipfile.BadZipFile as exc:
        raise FileRefused([_("文件不是有效的 zip 压缩包。")]) from exc
    with archive:
        zip_check(archive)
        members = [
            (member_name(info), info)
            for info in archive.infolist()
            if not info.is_dir() and not member_name(info).startswith(("__MACOSX/", "."))
        ]
        csvs = [(n, i) for n, i in members if n.lower().endswith(".csv")]
        others = [n for n, _i in members if not n.lower().endswith(".csv")]
        if others or not csvs:
            raise FileRefused(
                [
                    _(
                        "压缩包里只能放 CSV 文件，每个工作表一个（如 区划.csv、人员.csv）；发现：%(o)s。"
                    )
                    % {"o": "、".join(others) or _("没有 CSV 文件")}
                ]
            )
        errors = _sheet_names_check(
            [
                sheet.title if (sheet := _csv_sheet(n)) is not None else PurePosixPath(n).stem
                for n, _i in csvs
            ]
        )
        if errors:
            raise FileRefused(errors)
        workbook = Workbook()
        for name, info in csvs:
            sheet = _csv_sheet(name)
            assert sheet is not None  # checked above
            if sheet.key in workbook.rows:
                errors.append(_("工作表“%(s)s”出现了两次。") % {"s": sheet.title})
                continue
            with archive.open(info) as stream:
                workbook.rows[sheet.key] = _csv_rows(sheet, stream, name, errors)
        if errors:
            raise FileRefused(errors)
        return workbook


def workbook_read(*, data: IO[bytes], name: str, size: int) -> Workbook:
    """Read an uploaded or given file: ``.xlsx``, a ``.zip`` of CSVs, or one ``<sheet>.csv``.
    Raises FileRefused with every problem found."""
    size_check(size)
    suffix = PurePosixPath(name.lower()).suffix
    if suffix == ".xlsx":
        return _read_xlsx(data)
    if suffix == ".zip":
        return _read_csv_zip(data)
    if suffix == ".csv":
        sheet = _csv_sheet(name)
        if sheet is None:
            raise FileRefused(
                [
                    _("CSV 文件名必须是工作表名，如 区划.csv、人员.csv（可用：%(k)s）。")
                    % {"k": "、".join(s.title for s in SHEETS)}
                ]
            )
        errors: list[str] = []
        rows = _csv_rows(sheet, data, name, errors)
        if errors:
            raise FileRefused(errors)
        return Workbook({sheet.key: rows})
    raise FileRefused([_("只能导入 .xlsx 工作簿、CSV 文件或装有 CSV 的 .zip 压缩包。")])
