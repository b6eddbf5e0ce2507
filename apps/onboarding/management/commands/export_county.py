"""``python manage.py export_county OUT.xlsx [--county CODE]`` — a county in the import format.

The export imports unchanged into an empty database, and re-importing it changes nothing.
Passwords are not exported. A grid boundary too long for an Excel cell (32,767 characters) goes
into ``OUT-网格边界.geojson`` beside the workbook; import both (``import_county OUT.xlsx
--grids OUT-网格边界.geojson``).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.onboarding import writer
from apps.onboarding.selectors import county_rows
from apps.org.models import Region, Tier


class Command(BaseCommand):
    help = "Export a county's organisation as the county workbook (the import format)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="写到哪个 .xlsx 文件")
        parser.add_argument("--county", help="区县代码（系统中只有一个区县时可省略）")

    def handle(self, *args, **options):
        counties = Region.objects.filter(tier=Tier.COUNTY)
        if options["county"]:
            counties = counties.filter(code=options["county"])
        found = list(counties[:2])
        if len(found) != 1:
            raise CommandError(
                "找不到该区县。" if options["county"] else "系统中有多个区县，请用 --county 指定。"
            )
        out = Path(options["path"])
        data, overflow = writer.county_xlsx(county_rows(found[0]))
        out.write_bytes(data)
        if overflow:
            side = out.with_name(f"{out.stem}-网格边界.geojson")
            side.write_bytes(writer.overflow_geojson(overflow))
            self.stdout.write(
                f"{len(overflow)} 个网格的边界超过 Excel 单元格长度，写在 {side}；导入时加 --grids {side}。"
            )
        self.stdout.write(self.style.SUCCESS(f"已导出 {found[0].name}（{found[0].code}）到 {out}"))
