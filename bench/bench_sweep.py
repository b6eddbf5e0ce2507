#!/usr/bin/env python3
"""Clock sweep benchmark: one beat sweep over 1,000,000 open cases of which 1 % are overdue.

    .venv/bin/python bench/bench_sweep.py [--cases 1000000] [--overdue 0.01] [--reuse]
        [--database sqlite:////tmp/liandong-bench/sweep.sqlite3
                    | postgres://postgres@127.0.0.1:5432/liandong_bench_sweep]

What it does:

1. (Re)creates the bench database — a separate SQLite file, or a separate PostgreSQL database
   (dropped first; it refuses the names of real ones) — migrates it and builds the small test
   organisation (tests/factories.py).
2. Inserts ``--cases`` open cases straight into the table with one set-based INSERT … SELECT
   (a fabricated data set: a mix of reported/accepted/dispatched/signed/handled cases spread
   over the grids, each with a clock like the workflow service gives it). Every 100th case is
   past its step deadline; all others are due to turn yellow some time in the next three days.
   ``--reuse`` keeps the cases of an earlier run and only resets the overdue ones.
3. Times one ``sweep_clocks()`` exactly as the beat task runs it: the overdue cases turn red
   with one automatic 督办 event each (bulk insert) and their notifications are relayed (with
   no REDIS_URL the messages go to an in-memory broker: the cost of sending is in the figure,
   that of fanning out is the worker's). Then a second sweep (nothing left to do), and the
   claim of those cases' escalations once they are also past their escalation time.

Prints the figures; the target is < 2 s for the first sweep on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument(
        "--overdue", type=float, default=0.01, help="fraction of cases past their deadline"
    )
    parser.add_argument("--database", default="sqlite:////tmp/liandong-bench/sweep.sqlite3")
    parser.add_argument("--reuse", action="store_true", help="keep the cases of an earlier run")
    return parser.parse_args()


def prepare_database(url: str, reuse: bool) -> None:
    parsed = urlparse(url)
    if parsed.scheme.startswith("postgres"):
        import psycopg

        name = parsed.path.lstrip("/")
        if not name or name in ("postgres", "test", "liandong"):
            raise SystemExit(f"refusing to use database {name!r}: give the bench its own database")
        admin = parsed._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists and not reuse:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            if not exists or not reuse:
                conn.execute(f'CREATE DATABASE "{name}"')
    else:
        path = Path(parsed.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)


def main() -> None:
    args = parse_args()
    prepare_database(args.database, args.reuse)
    os.environ["DATABASE_URL"] = args.database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LIANDONG_DATA_DIR", "/tmp/liandong-bench")
    os.environ.setdefault("LIANDONG_FAST_PASSWORD_HASHER", "1")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from apps.cases import sweep
    from apps.cases.models import Action, Case, CaseEvent, Colour

    call_command("migrate", verbosity=0)
    now = timezone.now()
    existing = Case.objects.count()
    if existing != args.cases or not args.reuse:
        started = time.perf_counter()
        insert_cases(args.cases, args.overdue, now)
        print(f"inserted {args.cases:,} open cases in {time.perf_counter() - started:.1f}s")
    else:
        reset_overdue(now)
        print(f"reusing {existing:,} cases; overdue ones reset")
    settle(connection)
    overdue = Case.objects.filter(step_deadline__lte=now).count()
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    print(f"open cases: {Case.objects.count():,}; past their deadline: {overdue:,}")
    print("plan of the due-cases probe:")
    for line in explain_due_probe(now):
        print(f"    {line}")

    cpu = CpuClock(connection)
    first = sweep.sweep_clocks()
    first_cpu = cpu.lap()
    print(
        f"sweep 1: {first.red:,} turned red (+{len(first.urge_event_ids):,} 督办 events), "
        f"{first.yellow:,} yellow, {len(first.escalate_ids):,} escalations claimed in {first.seconds:.3f}s "
        f"(CPU {first_cpu:.3f}s)"
    )
    second = sweep.sweep_clocks()
    print(
        f"sweep 2 (nothing due): {second.red + second.yellow} changes in {second.seconds:.3f}s (CPU {cpu.lap():.3f}s)"
    )

    assert CaseEvent.objects.filter(action=Action.URGE).count() == first.red
    assert Case.objects.filter(colour=Colour.RED).count() == first.red

    # The same overdue cases, later: past their escalation time too (the rest of the clocks left
    # as they were). The sweep claims them and sends one escalate_overdue task per case; the
    # escalating itself is the tasks' work, on the workers.
    past = now - dt.timedelta(minutes=1)
    Case.objects.filter(colour=Colour.RED).update(escalate_at=past, sweep_due_at=past)
    settle(connection)  # autovacuum's job between minutes: the bench just rewrote these rows twice
    cpu.lap()
    third = sweep.sweep_clocks()
    print(
        f"sweep 3 (the red cases past their escalation time): {len(third.escalate_ids):,} escalations "
        f"claimed and sent in {third.seconds:.3f}s (CPU {cpu.lap():.3f}s)"
    )
    verdict = "OK" if first.seconds < 2.0 else "SLOWER THAN THE 2 s TARGET"
    print(
        f"result: first sweep {first.seconds:.3f}s wall, {first_cpu:.3f}s CPU over {args.cases:,} open cases — "
        f"{verdict}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


class CpuClock:
    """CPU seconds used by this process plus, on PostgreSQL, by its server backend (same machine):
    on a shared, busy machine the wall clock also counts the time spent waiting for a core."""

    def __init__(self, connection) -> None:
        self.backend_pid = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend_pid = cursor.fetchone()[0]
        self.last = self.now()

    def now(self) -> float:
        total = time.process_time()
        if self.backend_pid:
            try:
                fields = (
                    Path(f"/proc/{self.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
                )
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:  # the server runs elsewhere: only this process is counted
                pass
        return total

    def lap(self) -> float:
        now = self.now()
        elapsed, self.last = now - self.last, now
        return elapsed


def insert_cases(count: int, overdue_fraction: float, now: dt.datetime) -> None:
    """One INSERT … SELECT over a generated sequence; a VALUES table supplies per-grid places and
    a few clock variants so that no per-row Python work is needed."""
    from django.db import connection, transaction

    from apps.cases.models import Case, CaseEvent, Category, Colour, Status, Step
    from apps.org.models import Grid, Region, Unit, UnitKind
    from tests.factories import build_test_org

    with transaction.atomic():
        if not Region.objects.exists():
            build_test_org()
    table = connection.ops.quote_name(Case._meta.db_table)
    events = connection.ops.quote_name(CaseEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {events}, {table} CASCADE")
        else:
            cursor.execute(f"DELETE FROM {events}")
            cursor.execute(f"DELETE FROM {table}")

    adapt = connection.ops.adapt_datetimefield_value
    places = []
    for k, grid in enumerate(Grid.objects.select_related("village__parent__parent").order_by("pk")):
        village = grid.village
        workstation = Unit.objects.get(region=village, kind=UnitKind.WORKSTATION)
        places.append(
            (
                k,
                grid.pk,
                village.pk,
                village.parent_id,
                village.parent.parent_id,
                workstation.pk,
                grid.centroid_lat,
                grid.centroid_lng,
            )
        )
    category = Category.objects.filter(parent__isnull=False).order_by("pk").first()
    statuses = [
        (0, Status.REPORTED, Step.ACCEPT, False),
        (1, Status.ACCEPTED, Step.DISPATCH, False),
        (2, Status.DISPATCHED, Step.SIGN, True),
        (3, Status.SIGNED, Step.HANDLE, True),
        (4, Status.HANDLED, Step.VERIFY, True),
    ]
    # 72 clocks turning yellow over the next three days, and one clock already overdue.
    clocks = []
    for k in range(72):
        yellow = now + dt.timedelta(hours=k + 1, minutes=7)
        clocks.append(
            (
                k,
                adapt(now - dt.timedelta(hours=1)),
                adapt(yellow),
                adapt(yellow + dt.timedelta(hours=1)),
                adapt(yellow + dt.timedelta(hours=3)),
            )
        )
    clocks.append(
        (
            72,
            adapt(now - dt.timedelta(hours=5)),
            adapt(now - dt.timedelta(hours=2)),
            adapt(now - dt.timedelta(hours=1)),
            adapt(now + dt.timedelta(hours=3)),
        )
    )
    every = max(1, round(1 / overdue_fraction)) if overdue_fraction > 0 else count + 1

    def values(rows: list[tuple]) -> tuple[str, list]:
        sql = ", ".join("(" + ", ".join(["%s"] * len(rows[0])) + ")" for _ in rows)
        return sql, [value for row in rows for value in row]

    places_sql, places_params = values(places)
    statuses_sql, statuses_params = values([(k, s, step, lead) for k, s, step, lead in statuses])
    clocks_sql, clocks_params = values(clocks)
    if connection.vendor == "postgresql":
        sequence = "seq(i) AS (SELECT generate_series(1, %s))"
        json_empty, text_i = "'[]'::jsonb", "CAST(i AS TEXT)"
        casts = {
            "ts": "::timestamptz",
            "int": "::integer",
            "bool": "::boolean",
            "float": "::double precision",
        }
    else:
        sequence = "seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < %s)"
        json_empty, text_i = "'[]'", "CAST(i AS TEXT)"
        casts = {"ts": "", "int": "", "bool": "", "float": ""}
    c = casts
    sql = f"""
        WITH RECURSIVE {sequence},
        places(k, grid_id, village_id, town_id, county_id, ws_id, lat, lng) AS (VALUES {places_sql}),
        statuses(k, status, step, has_lead) AS (VALUES {statuses_sql}),
        clocks(k, started, yellow, deadline, escalate) AS (VALUES {clocks_sql})
        INSERT INTO {table} (
            tracking_number, public_token, content_hash, source, reporter_phone, category_id, severity,
            description, address, lat, lng, position_source, position_flagged, grid_id, village_id, town_id,
            county_id, status, tier, holder_id, lead_unit_id, step, step_started_at, step_deadline, yellow_at,
            escalate_at, sweep_due_at, colour, sign_overdue, joint_response, self_resolved, reject_reason,
            deferred_from, return_count, escalation_count, rework_count, urge_count, extension_count,
            result_text, created_at, accepted_at, updated_at, version, pending_work)
        SELECT
            'B' || {text_i}, 'bench-' || {text_i}, '', 'grid_worker', '', %s, 3,
            '基准测试事件', '', p.lat{c["float"]}, p.lng{c["float"]}, 'gps', %s, p.grid_id{c["int"]},
            p.village_id{c["int"]}, p.town_id{c["int"]}, p.county_id{c["int"]}, s.status, 'village',
            p.village_id{c["int"]}, CASE WHEN s.has_lead{c["bool"]} THEN p.ws_id{c["int"]} END, s.step,
            t.started{c["ts"]}, t.deadline{c["ts"]}, t.yellow{c["ts"]}, t.escalate{c["ts"]}, t.yellow{c["ts"]},
            %s, %s, %s, %s, '', '', 0, 0, 0, 0, 0, '', t.started{c["ts"]}, t.started{c["ts"]},
            t.started{c["ts"]}, 0, {json_empty}
        FROM seq
        JOIN places p ON p.k = i %% %s
        JOIN statuses s ON s.k = i %% 5
        JOIN clocks t ON t.k = CASE WHEN i %% %s = 0 THEN 72 ELSE i %% 72 END
    """
    params = [
        count,
        *places_params,
        *statuses_params,
        *clocks_params,
        category.pk,
        False,
        Colour.BLUE,
        False,
        False,
        False,
        len(places),
        every,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def reset_overdue(now: dt.datetime) -> None:
    """After an earlier run: the overdue cases blue again with their original clocks, no 督办."""
    from django.db import connection

    from apps.cases.models import Case, CaseEvent, Colour

    events = connection.ops.quote_name(CaseEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {events}")
    Case.objects.filter(step_deadline__lte=now).update(
        colour=Colour.BLUE,
        urge_count=0,
        sign_overdue=False,
        sweep_due_at=now - dt.timedelta(hours=2),
        escalate_at=now + dt.timedelta(hours=3),
    )


def settle(connection) -> None:
    """Statistics, visibility map and a checkpoint, so the sweep is timed on a settled database
    and not while the server is still digesting the bulk load (autovacuum, hint bits, WAL)."""
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        autocommit = connection.connection.autocommit
        connection.connection.autocommit = True  # VACUUM cannot run inside a transaction
        with connection.connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")
        connection.connection.autocommit = autocommit
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def explain_due_probe(now: dt.datetime) -> list[str]:
    from django.db import connection

    from apps.cases.models import Case

    table = connection.ops.quote_name(Case._meta.db_table)
    prefix = "EXPLAIN QUERY PLAN" if connection.vendor == "sqlite" else "EXPLAIN"
    with connection.cursor() as cursor:
        cursor.execute(
            f"{prefix} SELECT {table}.id FROM cases_sweepdue JOIN {table} ON {table}.id = cases_sweepdue.case_id "
            "WHERE cases_sweepdue.due_at <= %s AND step_deadline <= %s ORDER BY cases_sweepdue.due_at LIMIT 5000",
            [connection.ops.adapt_datetimefield_value(now)] * 2,
        )
        return [" ".join(str(col) for col in row) for row in cursor.fetchall()]


if __name__ == "__main__":
    main()
