from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "apps.cases"
    label = "cases"
    verbose_name = _("事件与流程")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from apps.cases import reference  # noqa: F401 - connects its signal receivers

        post_migrate.connect(_reinstall_sweep_triggers, sender=self)


def _reinstall_sweep_triggers(sender, using="default", **kwargs) -> None:
    """SQLite rebuilds a table to alter it and drops its triggers with it: after any migrate,
    put the sweep index's triggers back if they are missing or their SQL is not the SQL frozen
    in the migration (apps/cases/sweep_index.py)."""
    from django.db import connections

    from apps.cases import sweep_index

    connection = connections[using]
    tables = set(connection.introspection.table_names())
    if {"cases_case", "cases_sweepdue"} <= tables:
        sweep_index.install(connection)
