"""The organisation in the admin: regions, grids (with GeoJSON import/export), platforms, units
and people, each list scoped to what the user covers (``apps.org.scope``)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.admin import AfterWrites
from apps.core.downloads import attachment
from apps.org import geo
from apps.org.models import Grid, Platform, Region, Tier, Unit
from apps.org.scope import regions_in_scope, scope_of, scoped_choices
from apps.org.services import (
    GridImportError,
    grid_fields,
    grids_export_geojson,
    grids_import_geojson,
)

MAX_GEOJSON_BYTES = 20 * 1024 * 1024


def _is_everything(request) -> bool:
    return scope_of(request.user).everything


class ScopedAdmin(admin.ModelAdmin):
    """Lists and edit pages show only rows inside the user's regions (``scope_path`` says how a
    row reaches its region); choice lists for regions are scoped the same way."""

    scope_path: str = "region"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if _is_everything(request):
            return qs
        return qs.filter(**{f"{self.scope_path}__in": regions_in_scope(request.user)})

    def _in_scope(self, request, obj) -> bool:
        if obj is None or _is_everything(request):
            return True
        region_id = obj.pk if self.scope_path == "pk" else getattr(obj, f"{self.scope_path}_id")
        return regions_in_scope(request.user).filter(pk=region_id).exists()

    # A row shown for reference (a county department above a town) is not the town's to edit.
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._in_scope(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._in_scope(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(
            db_field, request, **_scoped_queryset(db_field, request, kwargs)
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return super().formfield_for_manytomany(
            db_field, request, **_scoped_queryset(db_field, request, kwargs)
        )


def _scoped_queryset(db_field, request, kwargs: dict) -> dict:
    """A relation's choices narrowed to the user's scope (unless the caller chose them)."""
    if "queryset" not in kwargs:
        choices = scoped_choices(request.user, db_field.related_model)
        if choices is not None:
            kwargs["queryset"] = choices
    return kwargs


class RebuildsMapIndex(AfterWrites):
    """Saves and deletes in this admin change what the map index knows (grid shapes; each grid's
    village, town and county — geo.GridPlace): every process rebuilds it (geo.invalidate)."""

    def after_write(self) -> None:
        geo.invalidate()


@admin.register(Region)
class RegionAdmin(RebuildsMapIndex, ScopedAdmin):
    scope_path = "pk"
    list_display = ("code", "name", "tier", "parent")
    list_filter = ("tier",)
    search_fields = ("code", "name")
    list_select_related = ("parent",)
    autocomplete_fields = ("parent",)


class GeoJSONImportForm(forms.Form):
    file = forms.FileField(
        label=_("GeoJSON 文件"),
        help_text=_(
            "FeatureCollection；每个要素的 properties 含 code（15 位）、name、village_code（12 位）。"
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_GEOJSON_BYTES:
            raise forms.ValidationError(_("文件超过 20 MB，请按乡镇拆分后分别导入。"))
        return upload


class GridAdminForm(forms.ModelForm):
    boundary = forms.JSONField(
        label=_("边界（GeoJSON 多边形）"), widget=forms.Textarea(attrs={"rows": 6, "cols": 80})
    )

    class Meta:
        model = Grid
        fields = ("code", "name", "village", "boundary", "leader")

    def clean_boundary(self):
        from shapely.geometry import shape
        from shapely.validation import explain_validity

        value = self.cleaned_data["boundary"]
        if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
            raise forms.ValidationError(_("边界必须是 GeoJSON Polygon 或 MultiPolygon。"))
        try:
            geom = shape(value)
        except Exception as exc:
            raise forms.ValidationError(_("边界无法解析：%(e)s") % {"e": exc}) from exc
        if geom.is_empty or not geom.is_valid:
            raise forms.ValidationError(
                _("边界多边形无效：%(why)s") % {"why": explain_validity(geom)}
            )
        return value

    def clean(self):
        data = super().clean()
        village, code = data.get("village"), data.get("code")
        if village and code and not code.startswith(village.code):
            self.add_error(
                "code", _("网格编码必须以所属村/社区代码 %(code)s 开头。") % {"code": village.code}
            )
        return data


@admin.register(Grid)
class GridAdmin(RebuildsMapIndex, ScopedAdmin):
    form = GridAdminForm
    scope_path = "village"
    list_display = ("code", "name", "village", "town", "leader", "updated_at")
    list_filter = (("village__parent", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("code", "name", "village__name", "village__code")
    list_select_related = ("village__parent", "leader")
    autocomplete_fields = ("village",)
    raw_id_fields = ("leader",)
    actions = ["export_geojson"]
    change_list_template = "admin/org/grid/change_list.html"

    @admin.display(description=_("乡镇/街道"), ordering="village__parent__name")
    def town(self, grid: Grid) -> str:
        return grid.village.parent.name if grid.village.parent else ""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "village":
            kwargs["queryset"] = (
                Region.objects.filter(tier=Tier.VILLAGE)
                if _is_everything(request)
                else regions_in_scope(request.user).filter(tier=Tier.VILLAGE)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        for key, value in grid_fields(obj.boundary).items():
            setattr(obj, key, value)
        super().save_model(request, obj, form, change)  # RebuildsMapIndex rebuilds the index

    def get_urls(self):
        return [
            path(
                "import-geojson/",
                self.admin_site.admin_view(self.import_view),
                name="org_grid_import_geojson",
            ),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["can_import_geojson"] = self._may_import(request)
        return super().changelist_view(request, extra_context)

    def _may_import(self, request) -> bool:
        return request.user.has_perm("org.add_grid") and request.user.has_perm("org.change_grid")

    def import_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self._may_import(request):
            raise PermissionDenied
        errors: list[str] = []
        form = GeoJSONImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            allowed = None
            if not _is_everything(request):
                allowed = regions_in_scope(request.user).filter(tier=Tier.VILLAGE)
            try:
                result = grids_import_geojson(
                    data=form.cleaned_data["file"].read(), allowed_villages=allowed
                )
            except GridImportError as exc:
                errors = exc.errors
            else:
                self.message_user(request, _("导入成功：%(r)s") % {"r": result}, messages.SUCCESS)
                return redirect(reverse("admin:org_grid_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("导入网格边界（GeoJSON）"),
            "opts": self.model._meta,
            "form": form,
            "errors": errors,
        }
        return TemplateResponse(
            request, "admin/org/grid/import_geojson.html", context, status=400 if errors else 200
        )

    @admin.action(description=_("导出所选网格为 GeoJSON"), permissions=["view"])
    def export_geojson(self, request, queryset):
        doc = grids_export_geojson(grids=queryset)
        response = HttpResponse(
            json.dumps(doc, ensure_ascii=False), content_type="application/geo+json; charset=utf-8"
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return attachment(response, f"grids-{stamp}.geojson")


@admin.register(Platform)
class PlatformAdmin(ScopedAdmin):
    scope_path = "town"
    list_display = ("name", "code", "town", "sort_order")
    list_filter = (("town", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("name", "code", "town__name")
    list_select_related = ("town",)


@admin.register(Unit)
class UnitAdmin(ScopedAdmin):
    list_display = ("name", "code", "kind", "region", "department", "platform", "is_active")
    list_filter = ("kind", "is_active", ("region", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "code")
    list_select_related = ("region", "department", "platform__town")
    autocomplete_fields = ("region",)

    def get_queryset(self, request):
        qs = admin.ModelAdmin.get_queryset(self, request)
        if _is_everything(request):
            return qs
        # A desk sees the units in its regions and the county departments they dispatch to.
        regions = regions_in_scope(request.user)
        return qs.filter(
            Q(region__in=regions) | Q(kind="department", stationed_units__region__in=regions)
        ).distinct()
