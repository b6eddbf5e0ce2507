"""``manage.py work_calendar_load --year 2027 [--dry-run]``: a year's holidays and 调休 days."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.cases.work_calendar import CalendarDataMissing, work_calendar_load


class Command(BaseCommand):
    help = "从 chinesecalendar 载入一年的法定节假日与调休上班日（工作日历）；重复运行不会重复写入。"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--year", type=int, default=None, help="年份，默认为明年（12 月）或今年"
        )
        parser.add_argument("--dry-run", action="store_true", help="只显示将要做的改动，不写入")

    def handle(self, *args: Any, **options: Any) -> None:
        today = timezone.localdate()
        year = options["year"] or (today.year + 1 if today.month == 12 else today.year)
        if not 2000 <= year <= 2100:
            raise CommandError(f"年份 {year} 不在 2000–2100 之间。")
        try:
            result = work_calendar_load(year=year, dry_run=options["dry_run"])
        except CalendarDataMissing as exc:
            raise CommandError(str(exc)) from exc
        verb = "将" if options["dry_run"] else "已"
        self.stdout.write(
            f"{year} 年工作日历：{verb}新增 {len(result.created)} 天，{verb}更正 {len(result.updated)} 天，"
            f"{result.unchanged} 天无变化。"
        )
        for day in result.updated:
            self.stdout.write(f"  更正 {day}")
        if result.kept:
            self.stdout.write(
                f"保留本地录入的 {len(result.kept)} 天（chinesecalendar 中没有）："
                + "、".join(str(d) for d in result.kept)
            )
