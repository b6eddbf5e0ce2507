"""``python manage.py export_grids [-o FILE] [--town CODE] [--village CODE]`` — grids as GeoJSON."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand

from apps.org.models import Grid
from apps.org.services import grids_export_geojson


class Command(BaseCommand):
    help = "Export grid boundaries as a GeoJSON FeatureCollection (the format import_grids reads)."

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", help="file to write (default: standard output)")
        parser.add_argument("--town", help="only this town's grids (12-digit code)")
        parser.add_argument("--village", help="only this village's grids (12-digit code)")

    def handle(self, *args, **options):
        grids = Grid.objects.all()
        if options["town"]:
            grids = grids.filter(village__parent__code=options["town"])
        if options["village"]:
            grids = grids.filter(village__code=options["village"])
        doc = grids_export_geojson(grids=grids)
        text = json.dumps(doc, ensure_ascii=False)
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"已导出 {len(doc['features'])} 个网格到 {options['output']}")
        else:
            self.stdout.write(text)
