"""What the desk's admin classes share: who may take steps, photo links and the link back to a
case (read-only lists: ``apps.core.admin.ReadOnlyAdmin``)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from apps.cases import tracking
from apps.cases.models import CasePhoto
from apps.cases.photos import photo_url

ACT_PERMISSION = "cases.change_case"


# --- photos -------------------------------------------------------------------------------


def photo_src(photo: CasePhoto, variant: str = "thumb") -> str:
    """The URL of a photo's web or thumbnail copy. The photo view behind it (the intake's
    ``api-photo``) serves it only to someone who may see the case; originals are never served."""
    return photo_url(photo, variant)


def can_act(user) -> bool:
    """May take workflow steps from the admin at all (leaders and viewers may not)."""
    return user.is_active and user.has_perm(ACT_PERMISSION)


class CaseLinkMixin:
    @admin.display(description="事件", ordering="case__tracking_number")
    def case_link(self, obj) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:cases_case_change", args=[obj.case_id]),
            tracking.display(obj.case.tracking_number),
        )
