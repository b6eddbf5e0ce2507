import os

from celery import Celery, signals

from config import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# kombu's Redis transport with the restore-after-disconnect crash fixed (config/broker.py),
# for every process that talks to the broker: workers, beat and the web processes that enqueue.
broker.install()

# Every task counts its deliveries and is quarantined when it keeps killing its worker
# (acks_late + reject_on_worker_lost would otherwise redeliver a poison task forever).
app = Celery("liandong", task_cls="apps.cases.task_guard:GuardedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def redact_worker_logs(**kwargs) -> None:
    """The worker replaces the root logger's handlers with its own (worker_hijack_root_logger):
    these signals fire after that, so its handlers get the secret filter too (config/log_redaction.py)."""
    from config.log_redaction import install

    install()


@signals.task_prerun.connect
def drop_broken_database_connections(sender=None, **kwargs) -> None:
    """What Django does at the start of every request, at the start of every task: close a
    connection that failed (PostgreSQL restarted) or outlived CONN_MAX_AGE, and check a kept
    one before its first query (CONN_HEALTH_CHECKS). A worker child keeps its connection across
    tasks (CELERY_DB_REUSE_MAX); without this, every task after a database restart would fail on
    the dead one until it is recycled, 200 tasks later."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run inline, inside the caller's own request or transaction
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        # A connection that is not kept (SQLite: CONN_MAX_AGE 0) is only dropped once it failed.
        if connection.settings_dict["CONN_MAX_AGE"] != 0 or connection.errors_occurred:
            connection.close_if_unusable_or_obsolete()
