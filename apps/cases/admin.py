"""The command desk's case screens and the case configuration, in the Django admin.

Rules every screen here follows:

- **Scope.** Every queryset starts from ``cases_visible_to(user)`` (cases, history, photos,
  extension requests); pickers and filters offer only what the user's desk covers. An id
  outside the scope reads exactly like an id that does not exist.
- **No editing of cases or history.** Case fields are read-only; a case changes only through
  the action buttons on its page (and the bulk actions), each of which calls the workflow
  service (``apps.cases.services``), which checks ``rules.allowed_actions`` and says why not.
  Buttons are offered only for what ``allowed_actions`` allows; a POST needs the
  ``cases.change_case`` permission (leaders only read).
- **100,000 cases.** The list joins what it shows (``list_select_related``), prefetches one
  page of photos, never counts the unfiltered table, and filters by indexed columns.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from apps.cases import admin_forms, clock, desk, rules, services, steps, tracking
from apps.cases.admin_export import ExportMixin
from apps.cases.admin_filters import (
    CategoryFilter,
    CreatedRangeFilter,
    GridFilter,
    OverdueFilter,
    StateFilter,
    TownFilter,
    UnitFilter,
    VillageFilter,
)
from apps.cases.desk import label
from apps.cases.models import (
    Case,
    CaseEvent,
    CasePhoto,
    Category,
    Colour,
    ExtensionRequest,
    ExtensionStatus,
    PhotoKind,
    RoutingRule,
    Status,
    TimeLimit,
    WorkCalendarDay,
)
from apps.cases.photos import photo_url
from apps.cases.selectors import cases_visible_to
from apps.org.models import Grid, Tier, Unit, UnitKind
from apps.org.scope import regions_in_scope, units_in_scope

MAP_MAX_POINTS = 1000
MAP_MAX_GRIDS = 300
ACT_PERMISSION = "cases.change_case"


# --- photos -------------------------------------------------------------------------------


def photo_src(photo: CasePhoto, variant: str = "thumb") -> str:
    """The URL of a photo's web or thumbnail copy. The photo view behind it (the intake's
    ``api-photo``) serves it only to someone who may see the case; originals are never served."""
    return photo_url(photo, variant)


def can_act(user) -> bool:
    """May take workflow steps from the admin at all (leaders and viewers may not)."""
    return user.is_active and user.has_perm(ACT_PERMISSION)


# --- the steps on a case's page -------------------------------------------------------------
# The page offers the steps of ``apps.cases.steps`` that have a place on the desk (``Step.desk``),
# each with a form built from its inputs (``admin_forms.step_form``), and takes them through
# the workflow service (``Step.take``).


def _desk_step(action: str) -> steps.Step | None:
    step = steps.step(action)
    return step if step is not None and step.desk is not None else None


def _take_step(step: steps.Step, case: Case, user, form: admin_forms.StepForm) -> str:
    """Run one step through the workflow service; returns what to tell the user."""
    values = form.service_kwargs()
    step.take(case, user, values)
    return step.done_message(values)


# --- the case list --------------------------------------------------------------------------


class CappedCountPaginator(Paginator):
    """Counts at most ``COUNT_CAP`` rows. A desk never pages past 200 pages, and an exact count
    of a broad text search over a county's history would read every matching row; beyond the
    cap the list says "10,000+" and asks for a narrower filter."""

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        counted = self.object_list.order_by().values("pk")[: self.COUNT_CAP + 1].count()
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
class CaseAdmin(ExportMixin, admin.ModelAdmin):
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
        "colour",
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
    def action_checkbox(self, case: Case) -> str:
        # The same markup as Django's, without a template render per row (50 of those cost
        # more than the page's queries).
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="选择 {}">',
            admin.helpers.ACTION_CHECKBOX_NAME,
            case.pk,
            tracking.display(case.tracking_number),
        )

    @admin.display(description="预警", ordering="colour")
    def colour_badge(self, case: Case) -> str:
        full = label(Colour, case.colour)
        return format_html(
            '<span class="ld-dot ld-c-{}" title="{}"></span>{}',
            case.colour,
            full,
            full.split("：")[0],
        )

    @admin.display(description="状态", ordering="status")
    def status_label(self, case: Case) -> str:
        tier = {Tier.VILLAGE: "村", Tier.TOWN: "镇", Tier.COUNTY: "区"}.get(case.tier, "")
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

    @admin.display(description="时限", ordering="step_deadline")
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
                "tiles": _tiles_url(),
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
            request.POST if "apply" in request.POST else None, units=units
        )
        if "apply" in request.POST and form.is_valid():
            done, failed = [], []
            for case in queryset.select_related("category"):
                try:
                    services.case_dispatch(
                        case=case,
                        actor=request.user,
                        lead_unit=form.cleaned_data["lead_unit"],
                        deadline_hours=form.cleaned_data["deadline_hours"],
                        note=form.cleaned_data["note"],
                    )
                    done.append(tracking.display(case.tracking_number))
                except services.WorkflowError as error:
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
        overdue = queryset.filter(desk.overdue_q()).select_related("category")
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
        ("预警", lambda c: c.get_colour_display()),
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
        ("环节时限", lambda c: c.step_deadline),
        ("剩余/超时", lambda c: desk.time_left(c)["text"]),
        ("结案时间", lambda c: c.closed_at),
        ("纬度", lambda c: c.lat),
        ("经度", lambda c: c.lng),
    ]

    def get_export_queryset(self, queryset):
        return queryset.select_related("category__parent", "town", "village", "grid", "lead_unit")

    # --- the case page --------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/act/<slug:action>/",
                wrap(self.action_view),
                name="%s_%s_act" % info,
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        case = self.get_object(request, unquote(object_id))
        if case is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, case):
            raise PermissionDenied
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied  # fields are read-only; steps post to the action URLs
        return self.render_case_page(request, case)

    def history_view(self, request, object_id, extra_context=None):
        # The case's history is its timeline (CaseEvent), shown on its page.
        case = self.get_object(request, unquote(object_id))
        if case is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return redirect(reverse("admin:cases_case_change", args=[case.pk]) + "#timeline")

    def action_view(self, request, object_id, action):
        case = self.get_object(request, unquote(object_id))
        if case is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        page = reverse("admin:cases_case_change", args=[case.pk])
        if request.method != "POST":
            return HttpResponseRedirect(page)
        if not self.has_act_permission(request):
            raise PermissionDenied
        step = _desk_step(action)
        if step is None:
            raise Http404("no such action")
        form = self._action_form(request, case, step, data=request.POST)
        if not form.is_valid():
            messages.error(request, f"“{step.label}”未执行：请按提示修改后再提交。")
            return self.render_case_page(request, case, bound={action: form}, status=400)
        try:
            message = _take_step(step, case, request.user, form)
        except services.WorkflowError as error:
            messages.error(request, f"“{step.label}”未执行：{error.message}")
            return HttpResponseRedirect(page)
        case.refresh_from_db()
        messages.success(
            request,
            f"{tracking.display(case.tracking_number)} {message}（当前状态：{case.get_status_display()}）。",
        )
        return HttpResponseRedirect(page)

    def _action_form(
        self, request, case: Case, step: steps.Step, data=None
    ) -> admin_forms.StepForm:
        form_class = admin_forms.step_form(step)
        options: dict[str, Any] = {"user": request.user, "case": case}
        if form_class.needs_units():
            options["units"] = desk.dispatchable_units(case).order_by("kind", "name")
            options["suggested"] = case.suggested_unit
        if form_class.names_a_case() and case.probable_duplicate_of_id:
            options["initial"] = {
                spec.name: tracking.display(case.probable_duplicate_of.tracking_number)
                for spec in step.inputs
                if spec.kind == steps.Kind.CASE
            }
        return form_class(data, prefix=step.name, **options)

    def render_case_page(
        self, request, case: Case, *, bound: dict[str, forms.Form] | None = None, status: int = 200
    ) -> TemplateResponse:
        user = request.user
        case = (
            Case.objects.select_related(
                "category__parent",
                "grid",
                "village",
                "town",
                "county",
                "holder",
                "lead_unit__region",
                "suggested_unit",
                "reporter",
                "merged_into",
                "probable_duplicate_of",
            )
            .prefetch_related("assisting_units")
            .get(pk=case.pk)
        )
        allowed = rules.allowed_actions(case, user) if can_act(user) else set()
        action_forms = []
        for step in steps.DESK_STEPS:
            name = step.name
            if name in allowed:
                form = (bound or {}).get(name) or self._action_form(request, case, step)
                action_forms.append(
                    {
                        "spec": step,
                        "form": form,
                        "url": reverse("admin:cases_case_act", args=[case.pk, name]),
                        "open": name in (bound or {}),
                    }
                )
        events = list(
            case.events.select_related("unit")
            .prefetch_related("photos")
            .order_by("created_at", "pk")
        )
        unit_ids = {
            uid
            for e in events
            for uid in (e.data or {}).get("assisting", [])
            if isinstance(uid, int)
        }
        unit_names = (
            dict(Unit.objects.filter(pk__in=unit_ids).values_list("pk", "name")) if unit_ids else {}
        )
        timeline = [_timeline_entry(e, unit_names) for e in events]
        photos = list(case.photos.order_by("created_at", "pk"))
        before = [p for p in photos if p.kind in (PhotoKind.REPORT, PhotoKind.BEFORE)]
        after = [p for p in photos if p.kind in (PhotoKind.AFTER, PhotoKind.VERIFY)]
        visible_dup = None
        if case.probable_duplicate_of_id:
            visible_dup = (
                cases_visible_to(user)
                .filter(pk=case.probable_duplicate_of_id)
                .select_related("category")
                .first()
            )
        nearby = desk.nearby_open_cases(case, user)
        pending_extension = (
            case.extension_requests.filter(status=ExtensionStatus.PENDING)
            .select_related("unit", "requested_by")
            .first()
        )
        map_data = {
            "case": {
                "lat": case.lat,
                "lng": case.lng,
                "c": case.colour,
                "n": tracking.display(case.tracking_number),
            },
            "grid": case.grid.boundary,
            "nearby": [
                {
                    "lat": other.lat,
                    "lng": other.lng,
                    "c": other.colour,
                    "n": tracking.display(other.tracking_number),
                    "url": reverse("admin:cases_case_change", args=[other.pk]),
                }
                for other, _distance in nearby
            ],
            "tiles": _tiles_url(),
        }
        context = {
            **self.admin_site.each_context(request),
            "title": f"事件 {tracking.display(case.tracking_number)}",
            "subtitle": None,
            "opts": self.opts,
            "original": case,
            "case": case,
            "has_view_permission": True,
            "can_act": can_act(user),
            "action_forms": action_forms,
            "timeline": timeline,
            "before_photos": [(p, photo_src(p, "thumb"), photo_src(p, "web")) for p in before],
            "after_photos": [(p, photo_src(p, "thumb"), photo_src(p, "web")) for p in after],
            "probable_duplicate": visible_dup,
            "nearby": nearby,
            "merge_allowed": "merge" in allowed,
            "pending_extension": pending_extension,
            "time_left": desk.time_left(case),
            "map_json": map_data,
            "assisting_units": list(case.assisting_units.all()),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/cases/case/desk_case.html", context, status=status)


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


def _tiles_url() -> str:
    from django.conf import settings

    return getattr(settings, "MAP_TILES_URL", "") or ""


def _timeline_entry(event: CaseEvent, unit_names: dict[int, str]) -> dict[str, Any]:
    data = event.data or {}
    details = []
    if event.unit_id:
        details.append(("单位", event.unit.name))
    assisting = [
        unit_names.get(uid, f"#{uid}") for uid in data.get("assisting", []) if isinstance(uid, int)
    ]
    if assisting:
        details.append(("协办", "、".join(assisting)))
    if data.get("deadline_hours"):
        details.append(("办理时限", f"{data['deadline_hours']:g} 小时"))
    if data.get("hours"):
        details.append(("延期", f"{data['hours']:g} 小时"))
    for key, heading in (
        ("into", "合并到"),
        ("merged", "合并了"),
        ("probable_duplicate_of", "疑似重复"),
        ("via", "随主事件"),
        ("trigger", "触发"),
    ):
        if data.get(key):
            details.append(
                (
                    heading,
                    {
                        "overdue": "超时自动上报",
                        "returns": "多次退单",
                        "capacity": "超出本级能力",
                    }.get(data[key], data[key]),
                )
            )
    status_labels = dict(Status.choices)
    tier_labels = dict(Tier.choices)
    return {
        "event": event,
        "action": event.get_action_display(),
        "kind": event.action,
        "from_status": status_labels.get(event.from_status, ""),
        "to_status": status_labels.get(event.to_status, ""),
        "tier_change": (tier_labels.get(event.from_tier), tier_labels.get(event.to_tier))
        if event.from_tier and event.to_tier and event.from_tier != event.to_tier
        else None,
        "details": details,
        "photos": [(p, photo_src(p, "thumb"), photo_src(p, "web")) for p in event.photos.all()],
    }


# --- history, photos, extension requests (read-only, scoped) -------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class CaseLinkMixin:
    @admin.display(description="事件", ordering="case__tracking_number")
    def case_link(self, obj) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:cases_case_change", args=[obj.case_id]),
            tracking.display(obj.case.tracking_number),
        )


@admin.register(CaseEvent)
class CaseEventAdmin(CaseLinkMixin, ExportMixin, ReadOnlyAdmin):
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

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(case__in=cases_visible_to(request.user).values("pk"))
        )

    def get_export_queryset(self, queryset):
        return queryset.select_related("case", "unit")

    @admin.display(description="备注")
    def short_note(self, event: CaseEvent) -> str:
        text = event.note or event.public_note
        return text if len(text) <= 40 else text[:40] + "…"


@admin.register(CasePhoto)
class CasePhotoAdmin(CaseLinkMixin, ReadOnlyAdmin):
    list_display = ("preview", "case_link", "kind", "width", "height", "created_at")
    list_select_related = ("case",)
    list_filter = ("kind",)
    search_fields = ("case__tracking_number",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    ordering = ("-created_at",)
    fields = ("case", "kind", "width", "height", "is_public", "created_at", "large_preview")
    readonly_fields = ("large_preview",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(case__in=cases_visible_to(request.user).values("pk"))
        )

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
class ExtensionRequestAdmin(CaseLinkMixin, ExportMixin, ReadOnlyAdmin):
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

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(case__in=cases_visible_to(request.user).values("pk"))
        )

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


# --- configuration: categories, routing, time limits, work calendar ----------------------------


class TimeLimitInline(admin.TabularInline):
    model = TimeLimit
    extra = 0
    fields = ("severity", "step", "hours")


class ChildCategoryInline(admin.TabularInline):
    model = Category
    fk_name = "parent"
    extra = 0
    fields = ("code", "name", "name_en", "time_basis", "is_active", "sort_order")
    show_change_link = True
    verbose_name = "小类"
    verbose_name_plural = "小类"


class CategoryParentFilter(admin.SimpleListFilter):
    title = "大类"
    parameter_name = "parent"

    def lookups(self, request, model_admin):
        return [
            ("top", "只看大类"),
            *[(str(c.pk), c.name) for c in Category.objects.filter(parent__isnull=True)],
        ]

    def queryset(self, request, queryset):
        if self.value() == "top":
            return queryset.filter(parent__isnull=True)
        if self.value() and self.value().isdigit():
            return queryset.filter(parent_id=int(self.value()))
        return queryset


@admin.register(Category)
class CategoryAdmin(ExportMixin, admin.ModelAdmin):
    """The two-level category tree: main categories with their sub-categories inline."""

    list_display = ("tree_name", "code", "time_basis", "is_active", "sort_order", "case_link")
    list_select_related = ("parent",)
    list_filter = (CategoryParentFilter, "is_active", "time_basis")
    search_fields = ("name", "code", "name_en")
    ordering = ("sort_order", "code")
    actions = ["export_selected_csv", "export_selected_xlsx"]
    export_filename = "categories"
    export_columns = [
        ("代码", lambda c: c.code),
        ("名称", lambda c: c.name),
        ("大类", lambda c: c.parent.name if c.parent_id else ""),
        ("英文名称", lambda c: c.name_en),
        ("时限计算方式", lambda c: c.get_time_basis_display()),
        ("启用", lambda c: c.is_active),
    ]

    def get_inlines(self, request, obj):
        if obj is None or obj.parent_id is None:
            return [ChildCategoryInline]
        return [TimeLimitInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a category with history must stay; switch it off instead

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            kwargs["queryset"] = Category.objects.filter(parent__isnull=True)
            kwargs["help_text"] = "留空表示这是一个大类；事件只能归入小类。"
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="名称", ordering="sort_order")
    def tree_name(self, category: Category) -> str:
        if category.parent_id:
            return format_html(
                '<span class="ld-sub">{} /</span> {}', category.parent.name, category.name
            )
        return format_html("<b>{}</b>", category.name)

    @admin.display(description="事件")
    def case_link(self, category: Category) -> str:
        url = reverse("admin:cases_case_changelist") + f"?cat={category.pk}"
        return format_html('<a href="{}">查看事件</a>', url)


class RoutingRuleForm(forms.ModelForm):
    class Meta:
        model = RoutingRule
        fields = ("category", "tier", "department", "platform_code", "assisting_departments")
        widgets = {"assisting_departments": forms.CheckboxSelectMultiple}
        help_texts = {
            "platform_code": "仅乡镇层级：没有对口派驻机构时，交给该乡镇此代码平台的第一个单位。",
            "assisting_departments": "仅用于重大/较大事件的闪电集结：这些部门及其派驻事发乡镇的单位同时协办。",
        }

    def clean(self):
        data = super().clean()
        tier = data.get("tier")
        if tier == Tier.VILLAGE:
            raise ValidationError({"tier": "村级由本村工作站处置，不需要分派规则。"})
        platform_code = data.get("platform_code")
        if platform_code and tier == Tier.COUNTY:
            self.add_error("platform_code", "平台代码只用于乡镇层级；区县层级请指定责任部门。")
        if platform_code and tier == Tier.TOWN:
            from apps.org.models import Platform

            if not Platform.objects.filter(code=platform_code).exists():
                self.add_error("platform_code", f"没有任何乡镇设有代码为“{platform_code}”的平台。")
        department = data.get("department")
        if department is not None and department in (data.get("assisting_departments") or []):
            self.add_error("assisting_departments", "责任部门不必再列为协办部门。")
        return data


@admin.register(RoutingRule)
class RoutingRuleAdmin(ExportMixin, admin.ModelAdmin):
    """The routing table: category × tier → responsible department or platform."""

    form = RoutingRuleForm
    list_display = ("category", "tier", "department", "platform_code", "assisting")
    list_select_related = ("category__parent", "department")
    list_filter = ("tier", ("category", admin.RelatedOnlyFieldListFilter))
    search_fields = ("category__name", "department__name", "platform_code")
    ordering = ("category__code", "tier")
    actions = ["export_selected_csv", "export_selected_xlsx"]
    export_filename = "routing"
    export_columns = [
        ("分类", lambda r: str(r.category)),
        ("层级", lambda r: r.get_tier_display()),
        ("责任部门", lambda r: r.department.name if r.department_id else ""),
        ("平台代码", lambda r: r.platform_code),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("assisting_departments")

    @admin.display(description="联合处置协办部门")
    def assisting(self, rule: RoutingRule) -> str:
        return "、".join(u.name for u in rule.assisting_departments.all())

    def _county_departments(self, request):
        qs = units_in_scope(request.user).filter(kind=UnitKind.DEPARTMENT, is_active=True)
        return Unit.objects.filter(pk__in=qs.values("pk")).order_by("name")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "department":
            kwargs["queryset"] = self._county_departments(request)
        if db_field.name == "category":
            kwargs["queryset"] = Category.objects.select_related("parent").order_by(
                "parent__sort_order", "sort_order"
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "assisting_departments":
            kwargs["queryset"] = self._county_departments(request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(TimeLimit)
class TimeLimitAdmin(ExportMixin, admin.ModelAdmin):
    """The time-limit table: category × severity × step → hours on the category's time basis."""

    list_display = ("category", "severity_label", "step", "hours", "basis")
    list_select_related = ("category__parent",)
    list_filter = ("step", "severity", ("category", admin.RelatedOnlyFieldListFilter))
    search_fields = ("category__name", "category__code")
    ordering = ("category__code", "step", "severity")
    actions = ["export_selected_csv", "export_selected_xlsx"]
    export_filename = "time-limits"
    export_columns = [
        ("分类", lambda t: str(t.category)),
        ("等级", lambda t: t.get_severity_display() or "全部"),
        ("环节", lambda t: t.get_step_display()),
        ("时限（小时）", lambda t: t.hours),
        ("计算方式", lambda t: t.category.get_time_basis_display()),
    ]

    @admin.display(description="等级", ordering="severity")
    def severity_label(self, row: TimeLimit) -> str:
        return row.get_severity_display() if row.severity else "全部等级"

    @admin.display(description="计算方式")
    def basis(self, row: TimeLimit) -> str:
        return row.category.get_time_basis_display()

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class TimeLimitForm(form):
            def clean(self):
                data = super().clean()
                hours = data.get("hours")
                if hours is not None and hours <= 0:
                    self.add_error("hours", "时限必须大于 0 小时。")
                if hours is not None and hours > 24 * 365:
                    self.add_error("hours", "时限不能超过一年（8760 小时）。")
                return data

        return TimeLimitForm

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "category":
            kwargs["queryset"] = Category.objects.select_related("parent").order_by(
                "parent__sort_order", "sort_order"
            )
            kwargs["help_text"] = "为大类设置的时限适用于其下没有单独设置的小类。"
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class WorkCalendarDayForm(forms.ModelForm):
    class Meta:
        model = WorkCalendarDay
        fields = ("date", "is_workday", "note")

    def clean(self):
        data = super().clean()
        day, is_workday = data.get("date"), data.get("is_workday")
        if day is None or is_workday is None:
            return data
        weekend = day.weekday() >= 5
        if weekend and not is_workday:
            self.add_error("is_workday", f"{day} 是周末，本来就休息，不需要登记。")
        if not weekend and is_workday:
            self.add_error("is_workday", f"{day} 是工作日，本来就上班，不需要登记。")
        if not data.get("note"):
            self.add_error("note", "请写明节日名称或调休说明（如“国庆节”“国庆调休上班”）。")
        return data


@admin.register(WorkCalendarDay)
class WorkCalendarDayAdmin(ExportMixin, admin.ModelAdmin):
    """Holidays on weekdays and make-up working days on weekends. Saving tells every process
    to reload the calendar (``clock.calendar_changed``), so new deadlines use it at once."""

    form = WorkCalendarDayForm
    list_display = ("date", "weekday", "is_workday", "note")
    list_filter = ("is_workday",)
    search_fields = ("note",)
    date_hierarchy = "date"
    ordering = ("-date",)
    actions = ["delete_selected", "export_selected_csv", "export_selected_xlsx"]
    export_filename = "work-calendar"
    export_columns = [
        ("日期", lambda d: d.date.isoformat()),
        ("是否上班", lambda d: d.is_workday),
        ("说明", lambda d: d.note),
    ]

    @admin.display(description="星期")
    def weekday(self, day: WorkCalendarDay) -> str:
        return "一二三四五六日"[day.date.weekday()].join(("周", ""))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        clock.calendar_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        clock.calendar_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        clock.calendar_changed()
