"""Set-based writes of whole case histories: cases and their history rows made up elsewhere
(the demo and benchmark generator, ``demo_county --history N``), not run through the steps.

The one way case rows are written in bulk: rows built as plain tuples in the table's column
order (``BulkRows``) and inserted in batches — COPY on PostgreSQL, ``executemany`` on SQLite —
with explicit ids, so a million cases take minutes. Only for a quiet database (the caller
numbers the rows after the current highest id); ``history_ids_settle`` resets the sequences.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.color import no_style
from django.db import connection, transaction

from apps.cases.models import Case, CaseEvent


class BulkRows:
    """Turns {attname: value} dicts into tuples in the table's column order, with every column
    not given set once to its model default, ready for ``executemany``."""

    def __init__(self, model, per_row_defaults: dict[str, Callable[[], object]] | None = None):
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.position = {f.attname: i for i, f in enumerate(self.fields)}
        self.per_row = per_row_defaults or {}
        template = []
        for f in self.fields:
            default = None if f.null and not f.has_default() else f.get_default()
            template.append(f.get_db_prep_save(default, connection))
        self.template = template
        self.datetime_columns = {
            f.attname for f in self.fields if f.get_internal_type() == "DateTimeField"
        }
        self.adapt_dt = connection.ops.adapt_datetimefield_value
        if connection.vendor == "sqlite":
            # What Django's adapter makes of an aware UTC datetime, without its per-value checks
            # (every datetime here is now ± timedeltas, so already in UTC).
            self.adapt_dt = lambda value: str(value.replace(tzinfo=None))
        quote = connection.ops.quote_name
        self.copy_sql = "COPY {} ({}) FROM STDIN".format(
            quote(model._meta.db_table), ", ".join(quote(f.column) for f in self.fields)
        )
        self.sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(model._meta.db_table),
            ", ".join(quote(f.column) for f in self.fields),
            ", ".join(["%s"] * len(self.fields)),
        )

    def row(self, values: dict) -> list:
        row = self.template.copy()
        position, adapt_dt, dts = self.position, self.adapt_dt, self.datetime_columns
        for name, make in self.per_row.items():
            row[position[name]] = make()
        for name, value in values.items():
            row[position[name]] = adapt_dt(value) if name in dts and value is not None else value
        return row

    def insert(self, rows: list[list]) -> None:
        if not rows:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # COPY streams the batch in one statement: several times faster than INSERTs.
                with cursor.cursor.copy(self.copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(self.sql, rows)


def history_bulk_insert(
    *, cases: BulkRows, case_rows: list[list], events: BulkRows, event_rows: list[list]
) -> None:
    """One batch of made-up cases and their history rows, in one transaction."""
    if cases.model is not Case or events.model is not CaseEvent:
        raise ValueError("history_bulk_insert writes cases and their history rows only")
    with transaction.atomic():
        cases.insert(case_rows)
        events.insert(event_rows)


def history_ids_settle() -> None:
    """After rows with explicit ids: the id sequences continue after them (PostgreSQL; SQLite
    takes the highest id by itself)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Case, CaseEvent]):
                cursor.execute(sql)
