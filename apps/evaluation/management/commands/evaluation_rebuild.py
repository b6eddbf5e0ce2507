"""Rebuild the evaluation rollups from the raw cases, history and ratings.

    python manage.py evaluation_rebuild                      # everything
    python manage.py evaluation_rebuild --from 2025-01-01 --to 2025-03-31

Needed after a bulk import that bypassed the workflow service (the beat task only sees new
history events); harmless at any time: the rows are derived data.
"""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from apps.evaluation.services import rollups_rebuild


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from None


class Command(BaseCommand):
    help = "Rebuild the evaluation rollups (DailyRollup / MonthlyRollup) from the raw data."

    def add_arguments(self, parser):
        parser.add_argument(
            "--from", dest="first", help="first day, YYYY-MM-DD (default: the first case)"
        )
        parser.add_argument("--to", dest="last", help="last day, YYYY-MM-DD (default: today)")

    def handle(self, *args, first=None, last=None, **options):
        first_day, last_day = _date(first), _date(last)
        if first_day and last_day and first_day > last_day:
            raise CommandError("--from is after --to")
        started = time.monotonic()
        rows = rollups_rebuild(first_day=first_day, last_day=last_day)
        self.stdout.write(f"{rows} rollup rows written in {time.monotonic() - started:.1f} s")
