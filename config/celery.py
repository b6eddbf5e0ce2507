import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

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
