from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """The basement: what every other app may use and which uses none of them."""

    name = "apps.core"
    label = "core"
    verbose_name = _("基础")

    def ready(self) -> None:
        from apps.core import checks  # noqa: F401  (registers the settings checks)
