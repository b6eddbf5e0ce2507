"""The command desk's two app configs.

``DeskConfig`` is the desk itself (its admin classes, templates, static files and template
tags). ``DeskAdminConfig`` is listed in INSTALLED_APPS instead of ``django.contrib.admin``:
``django.contrib.admin.site`` (and so every ``@admin.register`` in every app) then is the
``LiandongAdminSite``. This module must not import models: it is loaded while the app registry
is still being populated.
"""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class DeskConfig(AppConfig):
    name = "apps.desk"
    label = "desk"
    verbose_name = "指挥台"


class DeskAdminConfig(admin_apps.AdminConfig):
    # Named in INSTALLED_APPS by its full path; "apps.desk" alone means DeskConfig.
    default = False
    default_site = "apps.desk.site.LiandongAdminSite"
