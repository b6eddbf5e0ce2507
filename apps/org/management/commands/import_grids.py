"""``python manage.py import_grids FILE.geojson`` — create or update grid boundaries, all or nothing."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.org.services import GridImportError, grids_import_geojson


class Command(BaseCommand):
    help = "Import grid boundaries from a GeoJSON FeatureCollection (properties: code, name, village_code)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="a .geojson file, or - for standard input")

    def handle(self, *args, **options):
        path = options["path"]
        try:
            data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"无法读取 {path}：{exc.strerror}") from exc
        try:
            result = grids_import_geojson(data=data)
        except GridImportError as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError(
                f"导入被拒绝，共 {len(exc.errors)} 个问题；没有写入任何网格。"
            ) from exc
        self.stdout.write(self.style.SUCCESS(str(result)))
