"""The admin app config that swaps in the command-desk admin site.

Listed in INSTALLED_APPS instead of ``django.contrib.admin``: ``django.contrib.admin.site`` (and
so every ``@admin.register`` in every app) then is the ``LiandongAdminSite``. This module must
not import models: it is loaded while the app registry is still being populated.
"""

from django.contrib.admin.apps import AdminConfig


class DeskAdminConfig(AdminConfig):
    default_site = "apps.cases.admin_site.LiandongAdminSite"
