"""The case list of the command desk: columns, filters, the map of the list, bulk dispatch and
urging, export. The case page itself is ``case_page.CasePageMixin``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db.models import Prefetch, prefetch_related_objects
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from apps.cases import rules, services, tracking
from apps.cases.models import Case, CasePhoto, Colour, Status
from apps.cases.selectors import DeadlineRefused, cases_visible_to, overdue_q
from apps.core.maps import map_config
from apps.desk import dashboard as desk
from apps.desk import forms as admin_forms
from apps.desk.admin.base import can_act, photo_src
from apps.desk.admin.case_page import CasePageMixin
from apps.desk.dashboard import label
from apps.desk.export import ExportMixin
from apps.desk.filters import (
    CategoryFilter,
    ColourFilter,
    CreatedRangeFilter,
    GridFilter,
    OverdueFilter,
    StateFilter,
    TownFilter,
    UnitFilter,
    VillageFilter,
)
from apps.org.models import Grid, Tier
from apps.org.scope import regions_in_scope

MAP_MAX_POINTS = 1000
MAP_MAX_GRIDS = 300


# --- the case list --------------------------------------------------------------------------


TIER_SHORT: dict[str, str] = {Tier.VILLAGE: "村", Tier.TOWN: "镇", Tier.COUNTY: "区"}


class CappedCountPaginator(Paginator):
    """Counts at most ``COUNT_CAP`` rows. A desk never pages past 200 pages, and an exact count
    of a broad text search over a county's history would read every matching row; beyond the
    cap the list says "10,000+" and asks for a narrower filter."""

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        # The desk's changelist pages a QuerySet (the stubs allow any sliceable).
        unordered = self.object_list.order_by()  # type: ignore[attr-defined]
        counted = unordered.values("pk")[: self.COUNT_CAP + 1].count()
        self.capped = counted > self.COUNT_CAP
        return min(counted, self.COUNT_CAP)


class DeskChangeList(ChangeList):
    """Adds one query for the page's photos (for thumbnails) after the page is fetched."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        prefetch_related_objects(
            self.result_list,
            Prefetch(
                "photos",
                queryset=CasePhoto.objects.order_by("created_at", "pk"),
                to_attr="desk_photos",
            ),
        )


@admin.register(Case)
class CaseAdmin(CasePageMixin, ExportMixin, admin.ModelAdmin):
    list_display = (
        "thumbnail",
        "number",
        "colour_badge",
        "status_label",
        "category_label",
        "place",
        "lead_unit",
        "severity_label",
        "time_left",
        "reported_at",
    )
    list_display_links = ("number",)
    list_select_related = ("category", "village", "town", "grid", "lead_unit")
    list_filter = (
        StateFilter,
        "status",
        ColourFilter,
        OverdueFilter,
        CategoryFilter,
        TownFilter,
        VillageFilter,
        GridFilter,
        UnitFilter,
        "severity",
        CreatedRangeFilter,
    )
    search_fields = ("tracking_number", "description", "address")
    search_help_text = "按流水号（精确）、描述或地址搜索"
    list_per_page = 50
    list_max_show_all = 500
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # Newest first by id: ids follow report time, and "ORDER BY id" rides on whichever
    # (town/colour/status…) index the filters use, so a page of 50 never sorts the town.
    ordering = ("-pk",)
    change_list_template = "admin/cases/case/change_list.html"
    actions = ["dispatch_selected", "urge_overdue", "export_selected_csv", "export_selected_xlsx"]
    export_filename = "cases"

    # --- permissions: read-only fields, workflow actions only ---------------------------

    def has_add_permission(self, request) -> bool:
        return False  # cases come from reports (field app, citizens, hotline, Open311)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # nobody edits a case's fields; steps go through the action buttons

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_act_permission(self, request) -> bool:
        return can_act(request.user)

    # --- scoping ---------------------------------------------------------------------------

    def get_queryset(self, request):
        return cases_visible_to(request.user, super().get_queryset(request))

    def get_search_results(self, request, queryset, search_term):
        # A tracking number (as printed, grouped, or read over the phone) is looked up exactly
        # on its unique index instead of scanning every description.
        number = tracking.normalize(search_term.strip())
        if number:
            return queryset.filter(tracking_number=number), False
        return super().get_search_results(request, queryset, search_term)

    def get_changelist(self, request, **kwargs):
        return DeskChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return CappedCountPaginator(queryset, per_page, orphans, allow_empty_first_page)

    # --- columns -----------------------------------------------------------------------------

    @admin.display(description="流水号", ordering="tracking_number")
    def number(self, case: Case) -> str:
        return tracking.display(case.tracking_number)

    @admin.display(description="照片")
    def thumbnail(self, case: Case) -> str:
        photos = getattr(case, "desk_photos", None)
        if not photos:
            return mark_safe('<span class="ld-nophoto" title="无照片">—</span>')
        more = (
            format_html('<span class="ld-photo-count">+{}</span>', len(photos) - 1)
            if len(photos) > 1
            else ""
        )
        return format_html(
            '<img class="ld-thumb" src="{}" alt="" loading="lazy" width="48" height="36">{}',
            photo_src(photos[0], "thumb"),
            more,
        )

    @admin.display(description="")
    def action_checkbox(self, case: Case) -> SafeString:
        # The same markup as Django's, without a template render per row (50 of those cost
        # more than the page's queries).
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="选择 {}">',
            helpers.ACTION_CHECKBOX_NAME,
            case.pk,
            tracking.display(case.tracking_number),
        )

    @admin.display(description="预警", ordering="colour")
    def colour_badge(self, case: Case) -> str:
        # The colour the case shows now, from the same clock as the 时限 column
        # (selectors.case_clock), not the sweep's column, which lags by up to a minute.
        colour = desk.time_left(case)["colour"]
        full = label(Colour, colour)
        return format_html(
            '<span class="ld-dot ld-c-{}" title="{}"></span>{}',
            colour,
            full,
            full.split("：")[0],
        )

    @admin.display(description="状态", ordering="status")
    def status_label(self, case: Case) -> str:
        tier = TIER_SHORT.get(case.tier, "")
        return format_html(
            '<span class="ld-status ld-s-{}">{}</span> <span class="ld-tier" title="所在层级">{}</span>',
            case.status,
            label(Status, case.status),
            tier,
        )

    @admin.display(description="分类", ordering="category__name")
    def category_label(self, case: Case) -> str:
        return case.category.name

    @admin.display(description="乡镇 / 村 / 网格")
    def place(self, case: Case) -> str:
        return format_html(
            '{} · {}<br><span class="ld-sub">{}</span>',
            case.town.name,
            case.village.name,
            case.grid.name,
        )

    @admin.display(description="等级", ordering="severity")
    def severity_label(self, case: Case) -> str:
        roman = {1: "Ⅰ", 2: "Ⅱ", 3: "Ⅲ"}.get(case.severity, str(case.severity))
        return format_html('<span class="ld-sev ld-sev-{}">{}</span>', case.severity, roman)

    @admin.display(description="上报时间", ordering="pk")
    def reported_at(self, case: Case):
        return case.created_at

    @admin.display(description="本环节时限", ordering="step_deadline")
    def time_left(self, case: Case) -> str:
        left = desk.time_left(case)
        return format_html(
            '<span class="ld-time {}" title="{}">{}</span>',
            left["css"],
            left["title"],
            left["text"],
        )

    # --- list page: map points, export links ---------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": "事件", **(extra_context or {})}
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if isinstance(context, dict) and "cl" in context:
            cl = context["cl"]
            points = list(
                cl.queryset.values_list("pk", "tracking_number", "lat", "lng", "colour")[
                    :MAP_MAX_POINTS
                ]
            )
            context["map_points"] = [
                {"id": pk, "n": tracking.display(number), "lat": lat, "lng": lng, "c": colour}
                for pk, number, lat, lng, colour in points
            ]
            context["map_truncated"] = len(points) >= MAP_MAX_POINTS
            context["map_config"] = {
                "basemap": map_config(),
                "caseUrl": reverse("admin:cases_case_change", args=[0]),
                "grids": _grid_outlines(request.user),
            }
            context["export_query"] = request.GET.urlencode()
        return response

    # --- bulk actions -------------------------------------------------------------------------

    @admin.action(description="派遣所选事件（同一牵头单位）", permissions=["act"])
    def dispatch_selected(self, request, queryset):
        units = (
            desk.desk_units(request.user)
            .select_related("platform")
            .order_by("region__code", "name")
        )
        form = admin_forms.BulkDispatchForm(
            request.POST if "apply" in request.POST else None,
            units=units,
            first_case=queryset.select_related("category").first(),
        )
        if "apply" in request.POST and form.is_valid():
            done, failed = [], []
            for case in queryset.select_related("category"):
                try:
                    services.case_dispatch(
                        case=case,
                        actor=request.user,
                        lead_unit=form.cleaned_data["lead_unit"],
                        deadline_hours=form.hours_for(case),
                        note=form.cleaned_data["note"],
                    )
                    done.append(tracking.display(case.tracking_number))
                except (services.WorkflowError, DeadlineRefused) as error:
                    failed.append(f"{tracking.display(case.tracking_number)}：{error.message}")
            if done:
                self.message_user(
                    request,
                    f"已派遣 {len(done)} 件至 {form.cleaned_data['lead_unit'].name}。",
                    messages.SUCCESS,
                )
            if failed:
                self.message_user(
                    request,
                    f"{len(failed)} 件未派遣——"
                    + "；".join(failed[:10])
                    + ("……" if len(failed) > 10 else ""),
                    messages.WARNING,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "派遣所选事件",
            "opts": self.opts,
            "form": form,
            "cases": queryset.select_related("category", "village")[:200],
            "count": queryset.count(),
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action": "dispatch_selected",
            "changelist_query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/cases/case/bulk_dispatch.html", context)

    @admin.action(description="督办所选中已超时的事件", permissions=["act"])
    def urge_overdue(self, request, queryset):
        overdue = queryset.filter(overdue_q()).select_related("category")
        done, refused = 0, 0
        for case in overdue:
            if "urge" not in rules.allowed_actions(case, request.user):
                refused += 1
                continue
            try:
                services.case_urge(case=case, actor=request.user, note="批量督办：已超时")
                done += 1
            except services.WorkflowError:
                refused += 1
        if done:
            self.message_user(request, f"已督办 {done} 件超时事件。", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"{refused} 件超时事件不在本级督办范围内（由其他层级持有或状态不允许）。",
                messages.WARNING,
            )
        if not done and not refused:
            self.message_user(request, "所选事件中没有已超时的事件。", messages.INFO)

    # --- export columns -------------------------------------------------------------------------

    export_columns = [
        ("流水号", lambda c: tracking.display(c.tracking_number)),
        ("状态", lambda c: c.get_status_display()),
        ("预警", lambda c: desk.time_left(c)["colour_label"]),
        ("所在层级", lambda c: c.get_tier_display()),
        ("大类", lambda c: c.category.parent.name if c.category.parent_id else ""),
        ("小类", lambda c: c.category.name),
        ("等级", lambda c: c.get_severity_display()),
        ("乡镇/街道", lambda c: c.town.name),
        ("村/社区", lambda c: c.village.name),
        ("网格", lambda c: c.grid.name),
        ("牵头单位", lambda c: c.lead_unit.name if c.lead_unit_id else ""),
        ("地址", lambda c: c.address),
        ("描述", lambda c: c.description),
        ("来源", lambda c: c.get_source_display()),
        ("上报时间", lambda c: c.created_at),
        ("本环节时限", lambda c: c.step_deadline),
        ("剩余/超时", lambda c: desk.time_left(c)["text"]),
        ("结案时间", lambda c: c.closed_at),
        ("纬度", lambda c: c.lat),
        ("经度", lambda c: c.lng),
    ]

    def get_export_queryset(self, queryset):
        return queryset.select_related("category__parent", "town", "village", "grid", "lead_unit")


def _grid_outlines(user) -> list[dict]:
    """Boundaries of the grids in the user's scope, as context on the list map — only when
    there are few enough to draw (a town, a village); a county's map shows just the cases."""
    villages = regions_in_scope(user).filter(tier=Tier.VILLAGE)
    boundaries = list(
        Grid.objects.filter(village__in=villages).values_list("boundary", flat=True)[
            : MAP_MAX_GRIDS + 1
        ]
    )
    return boundaries if len(boundaries) <= MAP_MAX_GRIDS else []
