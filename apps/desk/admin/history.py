"""History, photos and extension requests on the desk: read-only lists, scoped to the cases the
user may see. Extension requests are decided with the actions, through the workflow service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from apps.cases import services, tracking
from apps.cases.models import CaseEvent, CasePhoto, ExtensionRequest, ExtensionStatus
from apps.cases.selectors import cases_visible_to
from apps.core.admin import ReadOnlyAdmin
from apps.desk.admin.base import CaseLinkMixin, can_act, photo_src
from apps.desk.export import ExportMixin

# --- history, photos, extension requests (read-only, scoped) -------------------------------------


class OfVisibleCases:
    """Rows of the cases the user may see (the one scoping rule, ``cases_visible_to``)."""

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(case__in=cases_visible_to(request.user).values("pk"))
        )


@admin.register(CaseEvent)
class CaseEventAdmin(OfVisibleCases, CaseLinkMixin, ExportMixin, ReadOnlyAdmin):
    """The history of every case in scope. Append-only: nobody edits or deletes it here."""

    list_display = (
        "created_at",
        "case_link",
        "action",
        "actor_label",
        "unit",
        "to_status",
        "short_note",
    )
    list_select_related = ("case", "unit")
    list_filter = ("action",)
    search_fields = ("case__tracking_number",)
    search_help_text = "按流水号搜索"
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    ordering = ("-created_at", "-pk")
    actions = ["export_selected_csv", "export_selected_xlsx"]
    export_filename = "case-history"
    fields = (
        "case",
        "action",
        "actor_label",
        "from_status",
        "to_status",
        "from_tier",
        "to_tier",
        "unit",
        "note",
        "public_note",
        "data",
        "created_at",
    )
    export_columns = [
        ("时间", lambda e: e.created_at),
        ("流水号", lambda e: tracking.display(e.case.tracking_number)),
        ("动作", lambda e: e.get_action_display()),
        ("操作方", lambda e: e.actor_label),
        ("单位", lambda e: e.unit.name if e.unit_id else ""),
        ("原状态", lambda e: e.get_from_status_display()),
        ("新状态", lambda e: e.get_to_status_display()),
        ("内部备注", lambda e: e.note),
        ("公开说明", lambda e: e.public_note),
    ]

    def get_export_queryset(self, queryset):
        return queryset.select_related("case", "unit")

    @admin.display(description="备注")
    def short_note(self, event: CaseEvent) -> str:
        text = event.note or event.public_note
        return text if len(text) <= 40 else text[:40] + "…"


@admin.register(CasePhoto)
class CasePhotoAdmin(OfVisibleCases, CaseLinkMixin, ReadOnlyAdmin):
    list_display = ("preview", "case_link", "kind", "width", "height", "created_at")
    list_select_related = ("case",)
    list_filter = ("kind",)
    search_fields = ("case__tracking_number",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    ordering = ("-created_at",)
    fields = ("case", "kind", "width", "height", "is_public", "created_at", "large_preview")
    readonly_fields = ("large_preview",)

    @admin.display(description="照片")
    def preview(self, photo: CasePhoto) -> str:
        return format_html(
            '<img class="ld-thumb" src="{}" alt="" loading="lazy" width="48" height="36">',
            photo_src(photo, "thumb"),
        )

    @admin.display(description="照片")
    def large_preview(self, photo: CasePhoto) -> str:
        return format_html('<img src="{}" alt="" style="max-width:640px">', photo_src(photo, "web"))


@admin.register(ExtensionRequest)
class ExtensionRequestAdmin(OfVisibleCases, CaseLinkMixin, ExportMixin, ReadOnlyAdmin):
    """延期申请 in scope; decisions are taken with the actions, through the workflow service."""

    list_display = ("created_at", "case_link", "unit", "hours", "reason", "status", "decided_at")
    list_select_related = ("case", "unit")
    list_filter = ("status",)
    search_fields = ("case__tracking_number",)
    ordering = ("-created_at",)
    actions = ["approve_selected", "deny_selected", "export_selected_csv", "export_selected_xlsx"]
    export_filename = "extension-requests"
    export_columns = [
        ("申请时间", lambda r: r.created_at),
        ("流水号", lambda r: tracking.display(r.case.tracking_number)),
        ("单位", lambda r: r.unit.name),
        ("延长（小时）", lambda r: r.hours),
        ("理由", lambda r: r.reason),
        ("状态", lambda r: r.get_status_display()),
        ("审批时间", lambda r: r.decided_at),
    ]

    def get_export_queryset(self, queryset):
        return queryset.select_related("case", "unit")

    def has_act_permission(self, request) -> bool:
        return can_act(request.user)

    def _decide(self, request, queryset, approve: bool) -> None:
        done, failed = 0, []
        for item in queryset.filter(status=ExtensionStatus.PENDING).select_related("case"):
            try:
                services.extension_decide(request=item, actor=request.user, approve=approve)
                done += 1
            except services.WorkflowError as error:
                failed.append(f"{tracking.display(item.case.tracking_number)}：{error.message}")
        if done:
            self.message_user(
                request, f"已{'批准' if approve else '驳回'} {done} 件延期申请。", messages.SUCCESS
            )
        if failed:
            self.message_user(request, "；".join(failed[:10]), messages.WARNING)
        if not done and not failed:
            self.message_user(request, "所选申请都已审批过。", messages.INFO)

    @admin.action(description="批准所选延期申请", permissions=["act"])
    def approve_selected(self, request, queryset):
        self._decide(request, queryset, True)

    @admin.action(description="驳回所选延期申请", permissions=["act"])
    def deny_selected(self, request, queryset):
        self._decide(request, queryset, False)
