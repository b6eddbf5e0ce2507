"""The places register on the desk: place kinds (county-wide, the county configures them), the
places of the user's scope (``places_visible_to``) with each place's page — its cases, its
history, the steps the user may take — and the import page.

Places are not edited in forms here: every change goes through ``apps.places.services`` (the
buttons on a place's page, the confirm action, the import), which checks who may act and keeps
the history.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.cases import tracking
from apps.cases.models import Case
from apps.cases.selectors import cases_visible_to
from apps.org.models import Unit, UnitKind
from apps.places import services
from apps.places.models import Place, PlaceKind, PlaceStatus
from apps.places.selectors import places_visible_to

ACTION_LABELS = {"confirm": "确认（在册）", "reject": "退回", "close": "注销"}
FIELD_LABELS = {
    "kind_id": "类型",
    "name": "名称",
    "address": "地址",
    "lat": "纬度",
    "lng": "经度",
    "polygon": "范围",
    "grid_id": "网格",
    "risk": "风险等级",
    "supervising_unit_id": "监管单位",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "external_ref": "外部编号",
    "attributes": "属性",
    "status": "状态",
}


@admin.register(PlaceKind)
class PlaceKindAdmin(admin.ModelAdmin):
    """Kinds are county-wide data: the county dispatcher declares them, every desk reads them."""

    list_display = (
        "name",
        "code",
        "geometry_type",
        "inspection_days",
        "supervising_department",
        "sensitive",
        "is_active",
    )
    list_filter = ("geometry_type", "sensitive", "is_active")
    search_fields = ("name", "code")
    list_select_related = ("supervising_department",)
    ordering = ("sort_order", "code")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a kind with places must stay; switch it off instead

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "supervising_department":
            kwargs["queryset"] = Unit.objects.filter(kind=UnitKind.DEPARTMENT, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PlaceImportForm(forms.Form):
    kind = forms.ModelChoiceField(
        label="场所类型", queryset=PlaceKind.objects.filter(is_active=True)
    )
    file = forms.FileField(label="文件（CSV 或 GeoJSON）")


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "status", "risk", "grid", "town", "updated_at")
    list_select_related = ("kind", "grid", "town")
    list_filter = (
        "status",
        "risk",
        ("kind", admin.RelatedOnlyFieldListFilter),
        ("town", admin.RelatedOnlyFieldListFilter),
        "source",
    )
    search_fields = ("code", "name", "address", "external_ref")
    search_help_text = "按场所编码、名称、地址或外部编号搜索"
    list_per_page = 50
    show_full_result_count = False
    ordering = ("code",)
    actions = ["confirm_selected"]
    change_list_template = "admin/places/place/change_list.html"
    change_form_template = "admin/places/place/change_form.html"
    readonly_fields = (
        "code",
        "kind",
        "name",
        "address",
        "lat",
        "lng",
        "polygon",
        "grid",
        "village",
        "town",
        "risk",
        "supervising_unit",
        "contact_name",
        "contact_phone",
        "attributes",
        "status",
        "verified_by",
        "verified_at",
        "source",
        "external_ref",
        "created_by",
        "created_at",
        "updated_at",
        "version",
    )
    fields = readonly_fields

    # Read-only screens: changes go through the services (buttons, actions, import).
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _may_act(self, request) -> bool:
        return request.user.is_active and request.user.has_perm("places.change_place")

    def _may_import(self, request) -> bool:
        return request.user.is_active and request.user.has_perm("places.add_place")

    def get_queryset(self, request):
        return places_visible_to(request.user, super().get_queryset(request))

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._may_act(request):
            actions.pop("confirm_selected", None)
        return actions

    @admin.action(description="确认所选的待确认场所", permissions=["view"])
    def confirm_selected(self, request, queryset):
        if not self._may_act(request):
            raise PermissionDenied
        done, refused = 0, []
        for place in queryset.filter(status=PlaceStatus.PENDING):
            try:
                services.place_confirm(actor=request.user, place=place)
                done += 1
            except services.PlaceError as exc:
                refused.append(f"{place.name}：{exc.message}")
        if done:
            self.message_user(request, f"已确认 {done} 个场所。", messages.SUCCESS)
        for message in refused[:10]:
            self.message_user(request, message, messages.WARNING)
        if not done and not refused:
            self.message_user(request, "所选场所中没有待确认的。", messages.INFO)

    def get_urls(self):
        return [
            path(
                "import/", self.admin_site.admin_view(self.import_view), name="places_place_import"
            ),
            path(
                "<int:pk>/act/<slug:action>/",
                self.admin_site.admin_view(self.act_view),
                name="places_place_act",
            ),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self._may_import(request)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        place = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if place is not None:
            cases = list(
                cases_visible_to(request.user, Case.objects.filter(place=place))
                .select_related("category")
                .order_by("-created_at")[:100]
            )
            for case in cases:
                case.number = tracking.display(case.tracking_number)
            events = list(place.events.order_by("at", "pk"))
            for event in events:
                event.change_list = [
                    (FIELD_LABELS.get(name, name), change)
                    for name, change in (event.changes or {}).items()
                ]
            actions = []
            if self._may_act(request):
                if place.status == PlaceStatus.PENDING and services.may_decide(request.user, place):
                    actions += ["confirm", "reject"]
                if place.status in (PlaceStatus.ACTIVE, PlaceStatus.PENDING) and services.may_close(
                    request.user, place
                ):
                    actions.append("close")
            extra.update(
                place_cases=cases,
                place_events=events,
                place_actions=[(a, ACTION_LABELS[a]) for a in actions],
            )
        return super().change_view(request, object_id, form_url, extra)

    def act_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponseBase:
        if request.method != "POST" or action not in ACTION_LABELS:
            raise Http404
        if not self._may_act(request):
            raise PermissionDenied
        place = self.get_queryset(request).filter(pk=pk).first()
        if place is None:
            raise Http404
        reason = str(request.POST.get("reason", ""))[:500]
        try:
            if action == "confirm":
                services.place_confirm(actor=request.user, place=place)
            elif action == "reject":
                services.place_reject(actor=request.user, place=place, reason=reason)
            else:
                services.place_close(actor=request.user, place=place, reason=reason)
        except services.PlaceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, f"已{ACTION_LABELS[action]}：{place.name}", messages.SUCCESS)
        return redirect(reverse("admin:places_place_change", args=[place.pk]))

    def import_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self._may_import(request):
            raise PermissionDenied
        errors: list[str] = []
        total = 0
        form = PlaceImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = services.places_import(
                    actor=request.user,
                    kind=form.cleaned_data["kind"],
                    data=upload.read(),
                    filename=upload.name or "",
                )
            except services.PlaceImportError as exc:
                errors, total = exc.errors, exc.total
            except services.PlaceError as exc:
                errors, total = [exc.message], 1
            else:
                self.message_user(request, f"导入成功：{result}", messages.SUCCESS)
                return redirect(reverse("admin:places_place_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "导入场所（CSV / GeoJSON）",
            "opts": self.model._meta,
            "form": form,
            "errors": errors,
            "total": total,
        }
        return TemplateResponse(
            request, "admin/places/place/import.html", context, status=400 if errors else 200
        )
