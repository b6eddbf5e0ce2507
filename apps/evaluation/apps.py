from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EvaluationConfig(AppConfig):
    name = "apps.evaluation"
    label = "evaluation"
    verbose_name = _("考核与分析")

    def ready(self) -> None:
        from django.conf import settings

        # Today's figures are at most a minute old: the refresher re-reads new history events
        # and recomputes the days they touch (see apps/evaluation/services.py). It runs on the
        # sweeps queue with the other periodic jobs (settings.CELERY_TASK_ROUTES).
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "evaluation-refresh-rollups",
            {
                "task": "apps.evaluation.tasks.refresh_rollups",
                "schedule": 60.0,
                "options": {"expires": settings.BEAT_EXPIRES_S},
            },
        )
