"""The clock sweep's index table (SweepDue, kept by triggers: apps/cases/sweep_index.py) and the
property it exists for: no index of the case row covers a column the sweep changes, so the
sweep's updates are HOT on PostgreSQL."""

import datetime as dt
import re
from importlib import import_module

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.cases import sweep, sweep_index
from apps.cases.apps import _reinstall_sweep_triggers
from apps.cases.models import Case, Colour, SweepDue
from tests.cases.helpers import overdue, report, routed, set_clock

pytestmark = pytest.mark.django_db

SWEEP_CHANGES = {"colour", "sign_overdue", "sweep_due_at", "urge_count", "version", "updated_at"}


def due_rows() -> dict[int, dt.datetime]:
    return dict(SweepDue.objects.values_list("case_id", "due_at"))


def test_every_write_of_sweep_due_at_reaches_the_index_table(org):
    case = report(org)  # INSERT through the ORM: a fresh clock
    assert due_rows() == {case.pk: case.sweep_due_at}
    later = timezone.now() + dt.timedelta(hours=5)
    Case.objects.filter(pk=case.pk).update(sweep_due_at=later)  # a set-based UPDATE
    assert due_rows() == {case.pk: later}
    Case.objects.filter(pk=case.pk).update(description="只改了描述")  # other columns: untouched
    assert due_rows() == {case.pk: later}
    Case.objects.filter(pk=case.pk).update(sweep_due_at=None)  # nothing left to look at
    assert due_rows() == {}
    Case.objects.filter(pk=case.pk).update(sweep_due_at=later)
    other = report(org, description="另一件")
    assert set(due_rows()) == {case.pk, other.pk}
    Case.objects.filter(pk=case.pk).delete()
    assert set(due_rows()) == {other.pk}


def test_the_sweep_acts_through_the_index_table(org):
    (case,) = overdue(org)
    assert due_rows()[case.pk] == case.sweep_due_at
    result = sweep.sweep_clocks(enqueue=False)
    case.refresh_from_db()
    assert result.red == 1 and case.colour == Colour.RED
    assert due_rows() == {case.pk: case.escalate_at}  # moved on with the case's own column


def test_a_migration_that_dropped_the_triggers_gets_them_back_with_the_table_refilled(org):
    case = report(org)
    sweep_index.uninstall(connection)
    assert not sweep_index.installed(connection)
    Case.objects.filter(pk=case.pk).update(sweep_due_at=timezone.now() + dt.timedelta(hours=9))
    stale = due_rows()[case.pk]  # no trigger: the table missed that change
    _reinstall_sweep_triggers(sender=None, using="default")  # what post_migrate runs
    assert sweep_index.installed(connection)
    case.refresh_from_db()
    assert due_rows() == {case.pk: case.sweep_due_at} and case.sweep_due_at != stale


FROZEN = import_module("apps.cases.migrations.0005_sweep_due_table_hot_case_updates")


def triggers_in_the_database() -> dict[str, str]:
    """Every trigger on cases_case (and on PostgreSQL every cases_sweepdue function), read
    straight from the catalogue."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname, pg_get_triggerdef(oid, true) FROM pg_trigger "
                "WHERE tgrelid = 'cases_case'::regclass AND NOT tgisinternal"
            )
            found = {name: " ".join(sql.split()) for name, sql in cursor.fetchall()}
            cursor.execute(
                "SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'cases\\_sweepdue%%'"
            )
            return found | {f"{name}()": body for name, body in cursor.fetchall()}
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'cases_case'"
        )
        return dict(cursor.fetchall())


def test_after_migrate_the_triggers_are_exactly_the_sql_frozen_in_the_migration():
    if connection.vendor == "postgresql":
        creates = re.findall(r"^CREATE TRIGGER .*?;", FROZEN.PG_TRIGGERS, re.M | re.S)
        frozen = {create.split()[2]: " ".join(create.split()).rstrip(";") for create in creates} | {
            f"{name}()": body
            for name, body in re.findall(
                r"FUNCTION (\w+)\(\) RETURNS trigger LANGUAGE plpgsql AS \$\$(.*?)\$\$;",
                FROZEN.PG_FUNCTIONS,
                re.S,
            )
        }
        assert len(frozen) == len(FROZEN.PG_NAMES) + len(FROZEN.PG_FUNCTION_NAMES)
    else:
        frozen = dict(zip(FROZEN.SQLITE_NAMES, FROZEN.SQLITE_TRIGGERS))
        assert all(sql.split()[2] == name for name, sql in frozen.items())
    assert triggers_in_the_database() == frozen
    assert sweep_index.installed(connection)


def test_a_trigger_whose_sql_differs_from_the_migrations_is_replaced_after_migrate(org):
    case = report(org)
    with connection.cursor() as cursor:  # the same name, other SQL: a name check cannot tell
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE OR REPLACE FUNCTION cases_sweepdue_on_update() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$"
            )
        else:
            cursor.execute("DROP TRIGGER cases_sweepdue_set")
            cursor.execute(
                "CREATE TRIGGER cases_sweepdue_set AFTER UPDATE OF sweep_due_at ON cases_case "
                "BEGIN SELECT 1; END"
            )
    assert not sweep_index.installed(connection)
    Case.objects.filter(pk=case.pk).update(sweep_due_at=timezone.now() + dt.timedelta(hours=9))
    _reinstall_sweep_triggers(sender=None, using="default")  # what post_migrate runs
    assert sweep_index.installed(connection)
    case.refresh_from_db()
    assert due_rows() == {case.pk: case.sweep_due_at}  # the table filled again


def test_no_index_of_the_case_table_covers_a_column_the_sweep_changes():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Case._meta.db_table)
    covered = {
        column
        for info in constraints.values()
        if info["index"] or info["unique"]
        for column in info["columns"] or []
    }
    assert covered, "no indexes found: the introspection failed"
    assert not covered & SWEEP_CHANGES
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass",
                [Case._meta.db_table],
            )
            definitions = " ".join(row[0] for row in cursor.fetchall())
        # Partial-index predicates count for HOT as much as key columns do.
        assert not any(column in definitions for column in SWEEP_CHANGES)


@pytest.mark.django_db(transaction=True)
def test_turning_red_is_a_hot_update_on_postgresql(org_tx):
    if connection.vendor != "postgresql":
        pytest.skip("HOT updates are PostgreSQL's")
    if settings.DB_PGBOUNCER:
        # The counters read below are one server backend's; through PgBouncer in transaction
        # mode each statement may run on another backend. The direct run of the suite checks it.
        pytest.skip("per-backend statistics cannot be read through PgBouncer's transaction pooling")
    cases = overdue(org_tx, 3)
    # Committed, then vacuumed: the row versions the set-up left behind are gone, as they are
    # on a live table by the time a case falls due (inside one open transaction they would
    # still fill the page, and the sweep's new versions would have to go elsewhere).
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {Case._meta.db_table}")

    def hot_and_all() -> tuple[int, int]:
        # This backend's counts: those already flushed to the shared statistics plus those
        # still pending (flushing happens between transactions, whenever PostgreSQL likes).
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_stat_get_tuples_hot_updated(t) + pg_stat_get_xact_tuples_hot_updated(t), "
                "pg_stat_get_tuples_updated(t) + pg_stat_get_xact_tuples_updated(t) "
                "FROM (SELECT %s::regclass AS t) AS c",
                [Case._meta.db_table],
            )
            return cursor.fetchone()

    hot_before, all_before = hot_and_all()
    assert sweep.sweep_clocks(enqueue=False).red == len(cases)
    hot_after, all_after = hot_and_all()
    assert all_after - all_before == len(cases)
    assert hot_after - hot_before == len(cases)


def test_a_phase_walks_past_windows_full_of_cases_that_another_phase_takes(org):
    # Four cases fell due first (yellow, 3 h ago); two fell due later (overdue, yellow 2 h ago).
    yellow = [
        set_clock(
            routed(report(org, description=f"黄{i}")),
            yellow_ago=3,
            deadline_ago=-5,
            escalate_ago=-9,
        )
        for i in range(4)
    ]
    red = [
        set_clock(
            routed(report(org, description=f"红{i}")), yellow_ago=2, deadline_ago=1, escalate_ago=-5
        )
        for i in range(2)
    ]
    # Windows of two: the red phase reads two windows of yellow-due cases before the overdue ones.
    result = sweep.sweep_clocks(enqueue=False, batch=2)
    assert (result.red, result.yellow, result.repaired) == (2, 4, 0) and result.complete
    assert set(Case.objects.filter(colour=Colour.RED).values_list("pk", flat=True)) == {
        c.pk for c in red
    }
    assert set(Case.objects.filter(colour=Colour.YELLOW).values_list("pk", flat=True)) == {
        c.pk for c in yellow
    }
    assert sweep.sweep_clocks(enqueue=False, batch=2).red == 0
