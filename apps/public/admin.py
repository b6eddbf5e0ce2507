"""The desk's screens for citizens' feedback and Open311 clients.

- 差评复核 (ReviewItem): poor ratings (1–2 stars) for the town dispatcher; scoped like every
  case list (``cases_visible_to``), so a town sees its own town's items only.
- 市民评价 (Rating): read-only, same scoping.
- Open311 密钥: issued here (the key is shown once) or by ``manage.py open311_key NAME``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from apps.cases import tracking
from apps.cases.selectors import cases_visible_to
from apps.core.admin import ReadOnlyAdmin
from apps.public import services
from apps.public.models import Open311Key, Rating, ReviewItem, ReviewStatus


def _case_link(case) -> str:
    number = tracking.display(case.tracking_number)
    try:
        url = reverse("admin:cases_case_change", args=[case.pk])
    except NoReverseMatch:
        return number
    return format_html('<a href="{}">{}</a>', url, number)


# What the desk sees of a review item; only the dispatcher's answer (resolution) is edited.
REVIEW_FIELDS = (
    "number",
    "category",
    "stars",
    "comment",
    "town",
    "status",
    "created_at",
    "resolution",
    "resolved_by",
    "resolved_at",
)


class ScopedToCases:
    """Rows whose case the user may see (the one scoping rule, ``cases_visible_to``)."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(case__in=cases_visible_to(request.user).values("pk"))

    def get_search_results(self, request, queryset, search_term):
        # A tracking number as printed (grouped with dashes), read over the phone or carrying an
        # old check symbol such as "$" is looked up exactly, like the case list does.
        number = tracking.normalize(search_term.strip())
        if number:
            return queryset.filter(case__tracking_number=number), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(ReviewItem)
class ReviewItemAdmin(ScopedToCases, admin.ModelAdmin):
    list_display = ["number", "stars", "comment", "town", "status", "created_at", "resolved_at"]
    list_filter = ["status"]
    list_select_related = ["case", "rating", "town"]
    search_fields = ["case__tracking_number"]
    date_hierarchy = "created_at"
    fields = REVIEW_FIELDS
    readonly_fields = tuple(name for name in REVIEW_FIELDS if name != "resolution")

    @admin.display(description="流水号")
    def number(self, obj):
        return _case_link(obj.case)

    @admin.display(description="分类")
    def category(self, obj):
        return obj.case.category

    @admin.display(description="评价")
    def stars(self, obj):
        return f"{'★' * obj.rating.stars}{'☆' * (5 - obj.rating.stars)} {obj.rating.get_stars_display()}"

    @admin.display(description="市民意见")
    def comment(self, obj):
        return obj.rating.comment

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status != ReviewStatus.OPEN:
            fields.append("resolution")
        return fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # The only edit is the dispatcher's answer, which closes the item (through the service).
        if "resolution" not in form.changed_data:
            return
        try:
            services.review_resolve(item=obj, actor=request.user, resolution=obj.resolution)
        except services.PublicError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)


@admin.register(Rating)
class RatingAdmin(ScopedToCases, ReadOnlyAdmin):
    list_display = ["number", "stars", "comment", "via", "created_at"]
    list_filter = ["stars", "via"]
    list_select_related = ["case"]
    search_fields = ["case__tracking_number"]
    date_hierarchy = "created_at"
    # Every field is read-only: a citizen's rating is not edited at the desk.
    readonly_fields = ("number", "stars", "comment", "via", "created_at")
    fields = readonly_fields

    @admin.display(description="流水号")
    def number(self, obj):
        return _case_link(obj.case)


@admin.register(Open311Key)
class Open311KeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "is_active", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "prefix"]
    actions = ["deactivate"]

    def get_fields(self, request, obj=None):
        return (
            ["name"]
            if obj is None
            else ["name", "prefix", "is_active", "created_at", "last_used_at"]
        )

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["prefix", "created_at", "last_used_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: submissions keep pointing at the key

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        key, raw = services.open311_key_issue(name=obj.name)
        obj.pk, obj.prefix, obj.key_hash, obj.created_at = (
            key.pk,
            key.prefix,
            key.key_hash,
            key.created_at,
        )
        obj._state.adding = False
        obj._state.db = key._state.db
        self.message_user(
            request,
            f"新的 Open311 密钥（只显示这一次，请立即复制保存）：{raw}",
            level=messages.WARNING,
        )

    @admin.action(description="停用所选密钥")
    def deactivate(self, request, queryset):
        count = queryset.update(is_active=False)
        self.message_user(request, f"已停用 {count} 个密钥。")
