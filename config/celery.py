import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task counts its deliveries and is quarantined when it keeps killing its worker
# (acks_late + reject_on_worker_lost would otherwise redeliver a poison task forever).
app = Celery("liandong", task_cls="apps.cases.task_guard:GuardedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
