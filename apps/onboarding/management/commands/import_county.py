"""``python manage.py import_county FILE [--dry-run] [--grids BOUNDARIES]`` — move a county in
from its workbook, all or nothing; ``--template OUT.xlsx`` writes the empty template.

FILE is an .xlsx workbook, a .zip of CSV files (one per sheet) or one ``<sheet>.csv``.
BOUNDARIES (optional) is a .geojson or a zipped ESRI Shapefile with the grids' boundaries.
Initial passwords that were generated are written to an Excel file (``--passwords``, by
default beside FILE), readable by its owner only, and never printed.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.onboarding import writer
from apps.onboarding.boundaries import boundaries_read
from apps.onboarding.reader import FileRefused, workbook_read
from apps.onboarding.services import ImportReport, Outcome, county_import
from apps.org.models import Region, Tier


class Command(BaseCommand):
    help = "Import a county's organisation from the county workbook (dry run with --dry-run)."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="县区导入表：.xlsx，或 CSV（.csv / .zip）")
        parser.add_argument("--dry-run", action="store_true", help="试导入：逐行显示结果，不写入")
        parser.add_argument("--grids", help="网格边界文件：.geojson，或 Shapefile 的 .zip")
        parser.add_argument("--county", help="区县代码（文件的“区划”表没有区县一行时）")
        parser.add_argument("--passwords", help="初始密码表写到哪里（默认：FILE 旁边）")
        parser.add_argument("--template", metavar="OUT.xlsx", help="写出空白导入模板后退出")

    def handle(self, *args, **options):
        if options["template"]:
            Path(options["template"]).write_bytes(writer.template_xlsx())
            self.stdout.write(self.style.SUCCESS(f"已写出导入模板：{options['template']}"))
            return
        if not options["path"]:
            raise CommandError("请给出要导入的文件，或用 --template OUT.xlsx 写出模板。")
        path = Path(options["path"])
        try:
            with path.open("rb") as data:
                workbook = workbook_read(data=data, name=path.name, size=path.stat().st_size)
            boundaries = None
            if options["grids"]:
                grids_path = Path(options["grids"])
                from apps.onboarding.reader import size_check

                size_check(grids_path.stat().st_size)
                boundaries = boundaries_read(data=grids_path.read_bytes(), name=grids_path.name)
        except OSError as exc:
            raise CommandError(f"无法读取文件：{exc.strerror}（{exc.filename}）") from exc
        except FileRefused as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError("文件被拒绝，没有写入任何数据。") from exc
        county = None
        if options["county"]:
            county = Region.objects.filter(code=options["county"], tier=Tier.COUNTY).first()
            if county is None:
                raise CommandError(f"系统中没有代码为 {options['county']} 的区县。")
        report = county_import(
            workbook=workbook,
            boundaries=boundaries,
            allowed_county=county,
            dry_run=options["dry_run"],
        )
        self._print(report, verbose=options["verbosity"] >= 2)
        if report.refused:
            raise CommandError(report.summary())
        if report.passwords:
            out = Path(options["passwords"] or path.with_name(f"{path.stem}-初始密码.xlsx"))
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(
                    writer.passwords_xlsx(
                        [(p.username, p.display_name, p.password) for p in report.passwords]
                    )
                )
            self.stdout.write(
                f"新账号 {len(report.passwords)} 个的初始密码已写入 {out}（仅本人可读）；"
                "请打印后分发，首次登录须修改密码，分发后删除该文件。"
            )
        self.stdout.write(self.style.SUCCESS(report.summary()))

    def _print(self, report: ImportReport, *, verbose: bool) -> None:
        for error in report.errors:
            self.stderr.write(error)
        for row in report.rows:
            if verbose or row.outcome in (Outcome.REFUSE, Outcome.CHANGE):
                line = f"{row.sheet} 第 {row.row} 行 {row.key}：{row.outcome_label}　{row.detail}"
                (self.stderr if row.outcome == Outcome.REFUSE else self.stdout).write(line)
