"""The bench database for bench_dashboards.py: a million cases, their history and ratings,
written with COPY (PostgreSQL) or executemany (SQLite). Imported after django.setup()."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.cases.models import Case, CaseEvent
from apps.public.models import Rating


def say(message: str) -> None:
    print(message, flush=True)


class Writer:
    """COPY into a table on PostgreSQL, batched INSERTs elsewhere."""

    def __init__(self, model, columns: list[str]):
        self.table = model._meta.db_table
        self.columns = columns
        self.rows: list[tuple] = []
        self.count = 0

    def add(self, row: tuple) -> None:
        self.rows.append(row)  # flushed by the caller: cases before the events that point at them

    def flush(self) -> None:
        if not self.rows:
            return
        with connection.cursor() as cursor:
            if settings.DATABASE_IS_POSTGRES:
                with cursor.cursor.copy(
                    f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN"
                ) as copy:
                    for row in self.rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                cursor.executemany(
                    f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES ({marks})",
                    self.rows,
                )
        self.count += len(self.rows)
        self.rows = []


def load_cases(org: dict, n_cases: int, days: int, seed: int) -> None:
    rng = random.Random(seed)
    now = timezone.now()
    start = now - dt.timedelta(days=days)
    case_fields = [f for f in Case._meta.concrete_fields]
    case_cols = [f.column for f in case_fields]
    defaults = {}
    for f in case_fields:
        if f.has_default() and not callable(f.default):
            defaults[f.column] = f.default
    defaults.update(
        content_hash="",
        reporter_phone="",
        address="",
        reject_reason="",
        deferred_from="",
        result_text="",
        position_source="gps",
        pending_work="[]",
        description="基准事件",
    )
    event_cols = [
        "id",
        "case_id",
        "action",
        "actor_id",
        "actor_label",
        "from_status",
        "to_status",
        "from_tier",
        "to_tier",
        "unit_id",
        "note",
        "public_note",
        "data",
        "created_at",
        "notified_at",
    ]
    case_id = (Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    event_id = (CaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    rating_id = (Rating.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    cases, events = Writer(Case, case_cols), Writer(CaseEvent, event_cols)
    ratings = Writer(Rating, ["id", "case_id", "stars", "comment", "via", "created_at"])
    grids, categories = org["grids"], org["categories"]
    hot_grids = grids[: len(grids) // 10]  # a tenth of the grids get a third of the reports
    per_day = n_cases / days
    started = time.perf_counter()

    for i in range(n_cases):
        created = start + dt.timedelta(days=i / per_day, minutes=rng.uniform(0, 30))
        grid_id, village_id, town_id, lat, lng = rng.choice(
            hot_grids if rng.random() < 0.33 else grids
        )
        category = categories[int(rng.paretovariate(1.2)) % len(categories)]
        age_days = (now - created).total_seconds() / 86400
        reporter = org["workers"].get(grid_id) if rng.random() < 0.7 else None
        row = dict(defaults)
        row.update(
            id=case_id,
            tracking_number=f"B{case_id:012d}",
            public_token=f"bench-{case_id}",
            reporter_id=reporter,
            source="grid_worker" if reporter else "citizen",
            category_id=category,
            lat=lat + rng.uniform(-0.004, 0.004),
            lng=lng + rng.uniform(-0.004, 0.004),
            grid_id=grid_id,
            village_id=village_id,
            town_id=town_id,
            county_id=org["county"].pk,
            holder_id=village_id,
            created_at=created,
            updated_at=created,
        )
        history: list[tuple] = []

        def event(action, at, *, unit=None, actor=None, data=None, to_status=""):
            nonlocal event_id
            history.append(
                (
                    event_id,
                    case_id,
                    action,
                    actor,
                    "",
                    "",
                    to_status,
                    "",
                    "",
                    unit,
                    "",
                    "",
                    json.dumps(data or {}),
                    at,
                    at,
                )
            )
            event_id += 1

        event("report", created, actor=reporter, to_status="reported")
        event("route", created + dt.timedelta(seconds=2))
        fate = rng.random()
        if fate < 0.05:  # rejected or merged
            status = "rejected" if fate < 0.035 else "merged"
            event("reject" if status == "rejected" else "merge", created + dt.timedelta(hours=1))
            row.update(
                status=status,
                colour="green",
                step="close",
                reject_reason="invalid",
                closed_at=created + dt.timedelta(hours=1),
            )
        else:
            accepted = created + dt.timedelta(minutes=rng.uniform(10, 120))
            event("accept", accepted, to_status="accepted")
            row.update(accepted_at=accepted)
            moment = accepted
            if rng.random() < 0.4:  # handled by the village workstation
                unit = org["workstations"][village_id]
                tier = "village"
            else:
                tier = "town"
                event("escalate", moment + dt.timedelta(minutes=5))
                row.update(escalation_count=1, holder_id=town_id)
                unit = org["stationed"][
                    (town_id, org["departments"][category % len(org["departments"])])
                ]
            row.update(tier=tier)
            dispatched = moment + dt.timedelta(minutes=rng.uniform(10, 90))
            event("dispatch", dispatched, unit=unit)
            if rng.random() < 0.05:
                event("return", dispatched + dt.timedelta(hours=1), unit=unit)
                dispatched += dt.timedelta(hours=2)
                event("dispatch", dispatched, unit=unit)
                row.update(return_count=1)
            deadline = dispatched + dt.timedelta(hours=48)
            row.update(lead_unit_id=unit, dispatched_at=dispatched, overall_deadline=deadline)
            late = rng.random() < 0.1
            signed = dispatched + dt.timedelta(
                hours=rng.uniform(2.5, 6) if late else rng.uniform(0.1, 1.5)
            )
            handle_h = rng.lognormvariate(math.log(20), 0.9)
            handled = dispatched + dt.timedelta(hours=handle_h)
            if (now - signed).total_seconds() > 0:
                event("sign", signed, unit=unit, data={"late": late})
                row.update(signed_at=signed, sign_overdue=late)
                if rng.random() < 0.05:
                    event("extension_request", signed + dt.timedelta(hours=2), unit=unit)
                    if rng.random() < 0.6:
                        event("extension_approve", signed + dt.timedelta(hours=3), unit=unit)
                        row.update(overall_deadline=deadline + dt.timedelta(hours=24))
                    row.update(extension_count=1)
            if age_days > 12 and rng.random() < 0.004:
                event("defer", signed + dt.timedelta(hours=4))
                row.update(
                    status="deferred",
                    colour="grey",
                    step="handle",
                    deferred_review_on=(now + dt.timedelta(days=30)).date(),
                )
            elif handled < now - dt.timedelta(hours=1) and age_days > 3:
                event("handle", handled, unit=unit)
                moment = handled
                if rng.random() < 0.08:
                    event("verify_fail", moment + dt.timedelta(hours=4), unit=unit)
                    moment += dt.timedelta(hours=rng.uniform(8, 30))
                    event("handle", moment, unit=unit)
                    row.update(rework_count=1)
                verified = moment + dt.timedelta(hours=rng.uniform(1, 12))
                event("verify_pass", verified)
                closed = verified + dt.timedelta(hours=rng.uniform(0.5, 8))
                event("close", closed, to_status="closed")
                row.update(
                    status="closed",
                    colour="green",
                    step="close",
                    handled_at=moment,
                    closed_at=closed,
                )
                if rng.random() < 0.3:
                    stars = rng.choices([5, 4, 3, 2, 1], [55, 25, 10, 6, 4])[0]
                    rated = closed + dt.timedelta(hours=rng.uniform(1, 72))
                    if rated < now:
                        ratings.add((rating_id, case_id, stars, "", "token", rated))
                        rating_id += 1
            else:  # still being worked on: a live colour
                step_deadline = dispatched + dt.timedelta(hours=40)
                colour = (
                    "red"
                    if step_deadline < now
                    else ("yellow" if step_deadline < now + dt.timedelta(hours=8) else "blue")
                )
                row.update(
                    status="signed" if row.get("signed_at") else "dispatched",
                    step="handle",
                    step_deadline=step_deadline,
                    colour=colour,
                )
        for item in history:
            events.add(item)
        cases.add(tuple(row.get(c) for c in case_cols))
        case_id += 1
        if (i + 1) % 10_000 == 0:
            cases.flush()
            events.flush()
            ratings.flush()
        if (i + 1) % 100_000 == 0:
            say(
                f"  {i + 1:,} cases, {events.count + len(events.rows):,} events "
                f"({time.perf_counter() - started:.0f} s)"
            )
    cases.flush()
    events.flush()
    ratings.flush()
    if settings.DATABASE_IS_POSTGRES:
        with connection.cursor() as cursor:
            for model in (Case, CaseEvent, Rating):
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
                )
            cursor.execute("ANALYZE")
    say(
        f"loaded {cases.count:,} cases, {events.count:,} events, {ratings.count:,} ratings "
        f"in {time.perf_counter() - started:.0f} s"
    )
