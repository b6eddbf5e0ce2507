"""群众短信: the delivery log, read by the desks, scoped like every case list."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.public.admin import ScopedToCases, _case_link
from apps.sms import services
from apps.sms.models import SmsMessage, SmsStatus, mask_phone


@admin.register(SmsMessage)
class SmsMessageAdmin(ScopedToCases, admin.ModelAdmin):
    list_display = ["number", "kind", "to", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["case"]
    search_fields = ["case__tracking_number"]
    date_hierarchy = "created_at"
    fields = [
        "number",
        "kind",
        "to",
        "text",
        "status",
        "backend",
        "provider_id",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    ]
    readonly_fields = fields
    actions = ["retry"]

    @admin.display(description="流水号")
    def number(self, obj: SmsMessage) -> str:
        return _case_link(obj.case)

    @admin.display(description="手机号")
    def to(self, obj: SmsMessage) -> str:
        return mask_phone(obj.phone)

    @admin.action(description="重新发送所选的失败短信", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[SmsMessage]) -> None:
        retried = sum(
            services.sms_retry(message=m) for m in queryset.filter(status=SmsStatus.FAILED)
        )
        self.message_user(
            request,
            f"已重新排队 {retried} 条短信，将在一分钟内发送。"
            if retried
            else "所选短信中没有发送失败的。",
            messages.SUCCESS if retried else messages.WARNING,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The rows themselves are read-only; "change" only opens the retry action.
        return obj is None and super().has_change_permission(request, obj)
