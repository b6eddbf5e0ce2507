"""The database triggers that keep ``cases_sweepdue`` (models.SweepDue) equal to the set of
cases whose ``sweep_due_at`` is set.

Why a trigger-kept table rather than an index on ``cases_case.sweep_due_at``: see SweepDue
and Case.Meta — the sweep's updates of the case row stay HOT only while no index of that row
covers a column they change. Triggers, so that every writer of ``sweep_due_at`` (the workflow
service, the sweep's set-based UPDATEs, the demo loader's COPY, a hand edit) keeps the table
right without knowing about it.

PostgreSQL: statement-level triggers with transition tables — one set-based statement for an
UPDATE of ten thousand rows, instead of ten thousand trigger calls. SQLite: row triggers.

``install`` runs from migration 0005 and after every ``migrate`` (post_migrate): SQLite
rebuilds a table to alter it, which drops its triggers, so a later migration of ``Case`` must
not leave the sweep blind. When the triggers had to be (re)created, the table is filled again
from ``cases_case``.
"""

from __future__ import annotations

PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION cases_sweepdue_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cases_sweepdue (case_id, due_at)
    SELECT id, sweep_due_at FROM sweep_new WHERE sweep_due_at IS NOT NULL
    ON CONFLICT (case_id) DO UPDATE SET due_at = EXCLUDED.due_at;
    RETURN NULL;
END $$;

-- Only the new rows are read: transition tables carry no statistics, and a join of the old
-- and new ones becomes a nested loop (ten thousand × ten thousand for a sweep batch). The
-- upsert skips rows whose moment did not change; the delete probes the primary key.
CREATE OR REPLACE FUNCTION cases_sweepdue_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cases_sweepdue (case_id, due_at)
    SELECT id, sweep_due_at FROM sweep_new WHERE sweep_due_at IS NOT NULL
    ON CONFLICT (case_id) DO UPDATE SET due_at = EXCLUDED.due_at
        WHERE cases_sweepdue.due_at IS DISTINCT FROM EXCLUDED.due_at;
    DELETE FROM cases_sweepdue WHERE case_id IN (SELECT id FROM sweep_new WHERE sweep_due_at IS NULL);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION cases_sweepdue_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM cases_sweepdue WHERE case_id IN (SELECT id FROM sweep_old);
    RETURN NULL;
END $$;
"""

PG_TRIGGERS = """
DROP TRIGGER IF EXISTS cases_sweepdue_insert ON cases_case;
DROP TRIGGER IF EXISTS cases_sweepdue_update ON cases_case;
DROP TRIGGER IF EXISTS cases_sweepdue_delete ON cases_case;
CREATE TRIGGER cases_sweepdue_insert AFTER INSERT ON cases_case
    REFERENCING NEW TABLE AS sweep_new FOR EACH STATEMENT EXECUTE FUNCTION cases_sweepdue_on_insert();
CREATE TRIGGER cases_sweepdue_update AFTER UPDATE ON cases_case
    REFERENCING NEW TABLE AS sweep_new FOR EACH STATEMENT EXECUTE FUNCTION cases_sweepdue_on_update();
CREATE TRIGGER cases_sweepdue_delete AFTER DELETE ON cases_case
    REFERENCING OLD TABLE AS sweep_old FOR EACH STATEMENT EXECUTE FUNCTION cases_sweepdue_on_delete();
"""

SQLITE_TRIGGERS = [
    """CREATE TRIGGER cases_sweepdue_insert AFTER INSERT ON cases_case WHEN NEW.sweep_due_at IS NOT NULL
       BEGIN
           INSERT INTO cases_sweepdue (case_id, due_at) VALUES (NEW.id, NEW.sweep_due_at)
           ON CONFLICT (case_id) DO UPDATE SET due_at = excluded.due_at;
       END""",
    """CREATE TRIGGER cases_sweepdue_set AFTER UPDATE OF sweep_due_at ON cases_case
       WHEN NEW.sweep_due_at IS NOT NULL AND OLD.sweep_due_at IS NOT NEW.sweep_due_at
       BEGIN
           INSERT INTO cases_sweepdue (case_id, due_at) VALUES (NEW.id, NEW.sweep_due_at)
           ON CONFLICT (case_id) DO UPDATE SET due_at = excluded.due_at;
       END""",
    """CREATE TRIGGER cases_sweepdue_clear AFTER UPDATE OF sweep_due_at ON cases_case
       WHEN NEW.sweep_due_at IS NULL AND OLD.sweep_due_at IS NOT NULL
       BEGIN
           DELETE FROM cases_sweepdue WHERE case_id = NEW.id;
       END""",
    """CREATE TRIGGER cases_sweepdue_delete AFTER DELETE ON cases_case
       BEGIN
           DELETE FROM cases_sweepdue WHERE case_id = OLD.id;
       END""",
]
SQLITE_NAMES = [
    "cases_sweepdue_insert",
    "cases_sweepdue_set",
    "cases_sweepdue_clear",
    "cases_sweepdue_delete",
]
PG_NAMES = ["cases_sweepdue_insert", "cases_sweepdue_update", "cases_sweepdue_delete"]

RESYNC = [
    "DELETE FROM cases_sweepdue",
    # ON CONFLICT: a case written meanwhile by a live process has already put its row back.
    "INSERT INTO cases_sweepdue (case_id, due_at) SELECT id, sweep_due_at FROM cases_case WHERE sweep_due_at IS NOT NULL "
    "ON CONFLICT (case_id) DO UPDATE SET due_at = excluded.due_at",
]


def installed(connection) -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'cases_case'::regclass AND tgname = ANY(%s)",
                [PG_NAMES],
            )
            return cursor.fetchone()[0] == len(PG_NAMES)
        cursor.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN "
            f"({', '.join(['%s'] * len(SQLITE_NAMES))})",
            SQLITE_NAMES,
        )
        return cursor.fetchone()[0] == len(SQLITE_NAMES)


def install(connection, *, force: bool = False) -> bool:
    """Create the triggers (``force``: replace them) if any is missing, then fill the table
    again. Returns whether it did."""
    if connection.vendor not in ("postgresql", "sqlite") or (not force and installed(connection)):
        return False
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTIONS)
            cursor.execute(PG_TRIGGERS)
        else:
            for name in SQLITE_NAMES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            for sql in SQLITE_TRIGGERS:
                cursor.execute(sql)
        for sql in RESYNC:
            cursor.execute(sql)
    return True


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for name in PG_NAMES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON cases_case")
            for fn in (
                "cases_sweepdue_on_insert",
                "cases_sweepdue_on_update",
                "cases_sweepdue_on_delete",
            ):
                cursor.execute(f"DROP FUNCTION IF EXISTS {fn}()")
        else:
            for name in SQLITE_NAMES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
