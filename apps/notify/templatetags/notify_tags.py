"""``{% notify_desk %}``: the live desk counters (待本级处理 / 已超时) for admin pages.

Renders nothing for people without a desk; for a desk it renders the current counts (so the
page is right without a socket) and the scripts that keep them live (notify/live.js, desk.js).
"""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

from apps.notify import selectors

register = template.Library()


@register.inclusion_tag("notify/desk_counts.html", takes_context=True)
def notify_desk(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    region_id = selectors.desk_region_id(user) if user is not None else None
    if user is None or region_id is None:
        return {"show": False}
    try:
        case_list = reverse("admin:cases_case_changelist")
    except NoReverseMatch:
        case_list = ""
    return {
        "show": True,
        "counts": selectors.desk_counts(region_id),
        "case_list": case_list,
        "unread": selectors.unread_count(user),
    }
