from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "apps.org"
    label = "org"
    verbose_name = _("组织与地图")

    def ready(self) -> None:
        # Connects its signal receivers in every process (web, worker, beat, scripts), so a
        # change made anywhere tells the web processes to drop their copy of the caller.
        from apps.org import credentials  # noqa: F401
