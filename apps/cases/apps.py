from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "apps.cases"
    label = "cases"
    verbose_name = _("事件与流程")

    def ready(self) -> None:
        from apps.cases import reference  # noqa: F401 - connects its signal receivers
