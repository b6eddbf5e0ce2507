"""A case's own page on the desk: its facts, map, photos, timeline and the step buttons that
``rules.allowed_actions`` allows, each posting to ``<case>/act/<step>/`` (``actions.py`` runs
the step through the workflow service)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from apps.cases import rules, services, steps, tracking
from apps.cases.models import Case, CaseEvent, ExtensionStatus, PhotoKind, Status
from apps.cases.selectors import DeadlineRefused, cases_visible_to, deadline_preview
from apps.core.maps import map_config
from apps.desk import dashboard as desk
from apps.desk import forms as admin_forms
from apps.desk.actions import _desk_step, _take_step
from apps.desk.admin.base import can_act, photo_src
from apps.org.models import Tier, Unit

if TYPE_CHECKING:
    from django.contrib import admin

    # For the type checker the mixin is the ModelAdmin it is mixed into.
    _AdminBase = admin.ModelAdmin[Case]
else:
    _AdminBase = object


class CasePageMixin(_AdminBase):
    """The case page, its step URLs and its history link, for ``CaseAdmin``."""

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
            path(
                "<path:object_id>/deadline-preview/",
                wrap(self.deadline_preview_view),
                name="%s_%s_deadline_preview" % info,
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

    def deadline_preview_view(self, request, object_id):
        """The dispatch form's live line under its deadline: ``?until=<datetime-local>`` or
        ``?hours=<n>`` → what that is on this case's calendar (``selectors.deadline_preview``,
        the same conversion the form does when it is posted). 400 with the reason in Chinese."""
        case = self.get_object(request, unquote(object_id))
        if case is None:
            raise Http404("no such case")
        if not self.has_act_permission(request):
            raise PermissionDenied
        spec = next(
            (i for s in steps.DESK_STEPS for i in s.inputs if i.until_picker),
            None,
        )
        limits = {
            "min_hours": (spec.min_value if spec else None) or 0.5,
            "max_hours": (spec.max_value if spec else None) or 24 * 365,
        }
        until_text, hours_text = request.GET.get("until", ""), request.GET.get("hours", "")
        try:
            if until_text:
                field = admin_forms.DeadlineUntilField(hours_field="", required=True)
                try:
                    until = field.clean(until_text)
                except forms.ValidationError:
                    raise DeadlineRefused("截止时间的格式不对，请用日期时间选择器选择。") from None
                preview = deadline_preview(case, until=until, **limits)
            else:
                try:
                    hours = float(hours_text)
                except ValueError:
                    raise DeadlineRefused("请填写办理时限（小时）或选择截止时间。") from None
                preview = deadline_preview(case, hours=hours, **limits)
        except DeadlineRefused as refused:
            return JsonResponse({"ok": False, "error": refused.message}, status=400)
        local = timezone.localtime(preview.deadline)
        return JsonResponse(
            {
                "ok": True,
                "hours": round(preview.hours, 2),
                "deadline": local.isoformat(timespec="minutes"),
                "deadline_input": local.strftime("%Y-%m-%dT%H:%M"),
                "text": preview.text,
            }
        )

    def _action_form(
        self, request, case: Case, step: steps.Step, data=None
    ) -> admin_forms.StepForm:
        form_class = admin_forms.step_form(step)
        options: dict[str, Any] = {"user": request.user, "case": case}
        if form_class.needs_units():
            options["units"] = desk.dispatchable_units(case).order_by("kind", "name")
            options["suggested"] = case.suggested_unit
        if form_class.names_a_case() and case.probable_duplicate_of is not None:
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
            "basemap": map_config(),
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


def _timeline_entry(event: CaseEvent, unit_names: dict[int, str]) -> dict[str, Any]:
    data = event.data or {}
    details = []
    if event.unit is not None:
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
