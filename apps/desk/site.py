"""The command desk (指挥台): the Django admin, branded, with the desk dashboard as its index.

``apps.desk.apps.DeskAdminConfig`` makes this the default admin site, so every app's
``@admin.register`` lands here. The index shows the dashboard (today's intake, open cases by
colour, overdue by unit, what waits for the user's desk) for everyone with a desk or a
leader's view; the numbers come from ``apps.desk.dashboard`` and are scoped to the user. The page
polls ``desk/stats.json`` every 15 s, and refreshes at once when the notifications script
(``notify/desk.js``, loaded on every admin page by ``{% notify_desk %}`` in base_site.html)
announces a case event.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path

from apps.desk import dashboard as desk
from apps.desk import onboarding
from apps.org.scope import scope_of

STATS_POLL_SECONDS = 15


class LiandongAdminSite(admin.AdminSite):
    site_header = "联动 · 基层治理指挥台"
    site_title = "联动指挥台"
    index_title = "指挥台"
    enable_nav_sidebar = False

    def get_urls(self):
        # admin_view: staff only, never cached.
        urls = [
            path("desk/stats.json", self.admin_view(self.desk_stats_view), name="desk_stats"),
            # 县区上线: county administrators only (checked in each view).
            path(
                "onboarding/",
                self.admin_view(lambda request: onboarding.onboarding_view(request, self)),
                name="onboarding",
            ),
            path(
                "onboarding/template.xlsx",
                self.admin_view(onboarding.template_view),
                name="onboarding_template",
            ),
            path(
                "onboarding/template/<slug:sheet>.csv",
                self.admin_view(onboarding.template_view),
                name="onboarding_template_csv",
            ),
            path(
                "onboarding/export.xlsx",
                self.admin_view(onboarding.export_view),
                name="onboarding_export",
            ),
        ]
        return urls + super().get_urls()

    def desk_stats_view(self, request):
        return JsonResponse(
            desk.desk_stats(request.user), json_dumps_params={"ensure_ascii": False}
        )

    def index(self, request, extra_context=None):
        scope = scope_of(request.user)
        if scope.is_empty:
            # Staff without a place in the organisation see the plain index, no numbers.
            return super().index(request, extra_context)
        stats = desk.desk_stats(request.user)
        waiting = (
            desk.waiting_for_desk(request.user)
            .select_related("category", "village", "lead_unit")
            .order_by("step_deadline")[:10]
        )
        context = {
            **self.each_context(request),
            "title": self.index_title,
            "subtitle": None,
            "app_list": self.get_app_list(request),
            "stats": stats,
            "waiting_cases": waiting,
            "poll_seconds": STATS_POLL_SECONDS,
            "can_onboard": request.user.is_superuser
            or onboarding.county_admin_region(request.user) is not None,
            **(extra_context or {}),
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/cases/desk_index.html", context)
