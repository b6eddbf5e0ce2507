"""The database triggers that keep ``cases_sweepdue`` (models.SweepDue) equal to the set of
cases whose ``sweep_due_at`` is set.

Why a trigger-kept table rather than an index on ``cases_case.sweep_due_at``: see SweepDue
and Case.Meta — the sweep's updates of the case row stay HOT only while no index of that row
covers a column they change. Triggers, so that every writer of ``sweep_due_at`` (the workflow
service, the sweep's set-based UPDATEs, the demo loader's COPY, a hand edit) keeps the table
right without knowing about it.

PostgreSQL: statement-level triggers with transition tables — one set-based statement for an
UPDATE of ten thousand rows, instead of ten thousand trigger calls. SQLite: row triggers.

**Where the SQL lives.** The trigger SQL is frozen, as literals, in the migration that made
it (``TRIGGERS_MIGRATION``, now cases.0005): a migration keeps doing what it did when it was
written. To change it, add a new migration: copy the constants with the new SQL into it, give
it a RunPython that drops the old triggers and functions and creates the new ones, and point
``TRIGGERS_MIGRATION`` at it. Never edit the SQL of a migration that has run.

After every ``migrate`` (post_migrate) ``install`` compares the database's triggers — their full
SQL, not only their names — with that migration's SQL and puts them back if they differ or are
missing: SQLite rebuilds a table to alter it, which drops its triggers, so a later migration of
``Case`` must not leave the sweep blind. When the triggers had to be (re)created, the table is
filled again from ``cases_case``.
"""

from __future__ import annotations

import re
from importlib import import_module

TRIGGERS_MIGRATION = "0005_sweep_due_table_hot_case_updates"

_frozen = import_module(f"apps.cases.migrations.{TRIGGERS_MIGRATION}")
PG_FUNCTIONS: str = _frozen.PG_FUNCTIONS
PG_TRIGGERS: str = _frozen.PG_TRIGGERS
SQLITE_TRIGGERS: list[str] = _frozen.SQLITE_TRIGGERS
RESYNC: list[str] = _frozen.RESYNC
# Every trigger and function of the sweep index has a name with these prefixes, so triggers a
# later migration renamed or dropped are found as well.
TRIGGER_PREFIX = "cases_sweepdue_"
FUNCTION_PREFIX = "cases_sweepdue_on_"


def _name(create: str) -> str:
    match = re.search(r"CREATE (?:OR REPLACE )?(?:TRIGGER|FUNCTION) (\w+)", create)
    if match is None:
        raise ValueError(f"not a CREATE TRIGGER/FUNCTION statement: {create[:80]}")
    return match.group(1)


def _one_line(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";")


def expected(vendor: str) -> dict[str, str]:
    """The frozen definitions by name, as the database's catalogue shows them: SQLite keeps
    each CREATE TRIGGER statement as it was given; PostgreSQL each trigger as
    ``pg_get_triggerdef`` prints it (one line) and each function's body (``prosrc``)."""
    if vendor == "postgresql":
        triggers = {
            _name(create): _one_line(create)
            for create in re.findall(r"^CREATE TRIGGER .*?;", PG_TRIGGERS, re.M | re.S)
        }
        functions = {
            f"{name}()": body
            for name, body in re.findall(
                r"CREATE OR REPLACE FUNCTION (\w+)\(\).*?AS \$\$(.*?)\$\$;", PG_FUNCTIONS, re.S
            )
        }
        return triggers | functions
    return {_name(create): create for create in SQLITE_TRIGGERS}


def in_database(connection) -> dict[str, str]:
    """The sweep index's triggers (and on PostgreSQL its functions) as the database has them."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname, pg_get_triggerdef(oid, true) FROM pg_trigger "
                "WHERE tgrelid = 'cases_case'::regclass AND NOT tgisinternal AND tgname LIKE %s",
                [TRIGGER_PREFIX + "%"],
            )
            found = {name: _one_line(sql) for name, sql in cursor.fetchall()}
            cursor.execute(
                "SELECT proname, prosrc FROM pg_proc "
                "WHERE proname LIKE %s AND pg_function_is_visible(oid)",
                [FUNCTION_PREFIX + "%"],
            )
            return found | {f"{name}()": body for name, body in cursor.fetchall()}
        cursor.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'trigger' AND tbl_name = 'cases_case' AND name LIKE %s",
            [TRIGGER_PREFIX + "%"],
        )
        return dict(cursor.fetchall())


def installed(connection) -> bool:
    """Whether the database has exactly the frozen triggers: same names, same SQL."""
    return in_database(connection) == expected(connection.vendor)


def install(connection, *, force: bool = False) -> bool:
    """Create the triggers (``force``: replace them) unless the database has them exactly,
    then fill the table again. Returns whether it did."""
    if connection.vendor not in ("postgresql", "sqlite") or (not force and installed(connection)):
        return False
    uninstall(connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTIONS)
            cursor.execute(PG_TRIGGERS)
        else:
            for sql in SQLITE_TRIGGERS:
                cursor.execute(sql)
        for sql in RESYNC:
            cursor.execute(sql)
    return True


def uninstall(connection) -> None:
    """Drop every trigger and function of the sweep index (whatever their SQL)."""
    present = in_database(connection)
    with connection.cursor() as cursor:
        for name in present:
            if connection.vendor == "postgresql":
                if not name.endswith("()"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON cases_case")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        if connection.vendor == "postgresql":
            for name in present:
                if name.endswith("()"):
                    cursor.execute(f"DROP FUNCTION IF EXISTS {name}")
