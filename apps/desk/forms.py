"""Forms behind the case page's action buttons, each built from its step's inputs
(``apps.cases.steps``). Each one only collects what the workflow service needs; the service
decides whether the step is legal and says why not."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, TypedDict

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from apps.cases import steps, tracking
from apps.cases.models import Case
from apps.cases.selectors import DeadlineRefused, cases_visible_to, deadline_preview
from apps.org.models import Unit
from apps.org.scope import AnyUser


def unit_label(unit: Unit) -> str:
    where = unit.region.name if unit.region_id else ""
    platform = f" · {unit.platform.name}" if unit.platform is not None else ""
    return f"{unit.name}（{where}{platform}）"


class UnitChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Unit) -> str:
        return unit_label(obj)


class UnitMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Unit) -> str:
        return unit_label(obj)


def _note(required: bool = False, label: str = "备注") -> forms.CharField:
    return forms.CharField(
        label=label, required=required, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class CaseNumberField(forms.CharField):
    """Another case, typed as its tracking number; only cases the user may see can be named."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Both set by StepForm before the form is cleaned.
        self.user: AnyUser | None = None
        self.case: Case | None = None

    def clean(self, value) -> Case:
        typed = super().clean(value).strip()
        number = tracking.normalize(typed)
        if number is None:
            raise forms.ValidationError(
                "“%(n)s”不是有效的流水号（13 位，可带短横线），请核对。", params={"n": typed}
            )
        if self.user is None:
            raise ImproperlyConfigured("a case number field needs the user who names the case")
        # A guessed number outside the desk's scope reads exactly like one that does not exist.
        target = cases_visible_to(self.user).filter(tracking_number=number).first()
        if target is None:
            raise forms.ValidationError(
                "在您的辖区内找不到流水号为“%(n)s”的事件。", params={"n": typed}
            )
        if self.case is not None and target.pk == self.case.pk:
            raise forms.ValidationError("不能合并到自身。")
        return target


class ReviewDateField(forms.DateField):
    """A review date: a day after today."""

    def clean(self, value):
        value = super().clean(value)
        if value is not None and value <= timezone.localdate():
            raise forms.ValidationError("复查日期必须在今天之后。")
        return value


class DeadlineUntilField(forms.DateTimeField):
    """The moment a 办理时限 ends, from the browser's own date-time picker; the form turns it
    into hours on the case's work calendar (``selectors.deadline_preview``)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, *, hours_field: str, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
        super().__init__(**kwargs)
        self.hours_field = hours_field
        self.widget.attrs["data-deadline-until"] = hours_field


class _Common(TypedDict):
    label: str
    required: bool


def _desk_field(spec: steps.Input) -> forms.Field:
    """The desk's form field for a step's input."""
    common: _Common = {"label": spec.label, "required": spec.required}
    if spec.kind == steps.Kind.TEXT:
        return forms.CharField(**common, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    if spec.kind == steps.Kind.CHOICE:
        prompt = [("", spec.placeholder)] if spec.placeholder else []
        return forms.ChoiceField(**common, choices=[*prompt, *spec.choices])
    if spec.kind == steps.Kind.HOURS:
        attrs = {"step": "0.5", **({"placeholder": spec.placeholder} if spec.placeholder else {})}
        return forms.FloatField(
            **common,
            min_value=spec.min_value,
            max_value=spec.max_value,
            help_text=spec.help_text,
            widget=forms.NumberInput(attrs=attrs),
        )
    if spec.kind == steps.Kind.UNIT:
        return UnitChoiceField(
            **common, queryset=Unit.objects.none(), empty_label=spec.placeholder or "---------"
        )
    if spec.kind == steps.Kind.UNITS:
        return UnitMultipleChoiceField(
            **common, queryset=Unit.objects.none(), widget=forms.CheckboxSelectMultiple
        )
    if spec.kind == steps.Kind.CASE:
        return CaseNumberField(**common, max_length=32)
    if spec.kind == steps.Kind.DATE:
        return ReviewDateField(**common, widget=forms.DateInput(attrs={"type": "date"}))
    raise ImproperlyConfigured(f"the desk has no input of kind {spec.kind} ({spec.name})")


class StepForm(forms.Form):
    """The desk's form for one workflow step, built from the step's inputs (``step_form``).

    ``units`` are the units the desk may pick (for a step with a unit input) and ``suggested``
    the one to preselect; ``user`` and ``case`` bound the cases a case input may name."""

    step: steps.Step

    def __init__(
        self, *args, user=None, case: Case | None = None, units=None, suggested=None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, forms.ModelChoiceField):  # one unit or several
                field.queryset = units if units is not None else Unit.objects.none()
                if (
                    suggested is not None
                    and not self.is_bound
                    and not isinstance(field, forms.ModelMultipleChoiceField)
                ):
                    self.initial.setdefault(name, suggested.pk)
            if isinstance(field, CaseNumberField):
                field.user, field.case = user, case
            if isinstance(field, DeadlineUntilField) and case is not None:
                # The live preview (deadline_picker.js) asks the case page's preview URL.
                field.widget = copy.copy(field.widget)
                field.widget.attrs = {
                    **field.widget.attrs,
                    "data-preview-url": reverse(
                        "admin:cases_case_deadline_preview", args=[case.pk]
                    ),
                }
        self.case = case

    def clean(self):
        data = super().clean()
        for name, field in self.fields.items():
            if isinstance(field, DeadlineUntilField) and data.get(name) is not None:
                self._hours_from_until(data, name, field)
        kinds = {spec.kind: spec.name for spec in self.step.inputs}
        if steps.Kind.UNIT in kinds and steps.Kind.UNITS in kinds:
            lead = data.get(kinds[steps.Kind.UNIT])
            if lead is not None and lead in (data.get(kinds[steps.Kind.UNITS]) or []):
                self.add_error(kinds[steps.Kind.UNITS], "牵头单位不必再选为协办单位。")
        return data

    def _hours_from_until(self, data: dict, name: str, field: DeadlineUntilField) -> None:
        """A picked moment replaces the hours: converted on the case's calendar, refused with
        the reason when it is past, too soon or too far."""
        if self.case is None:
            raise ImproperlyConfigured("a deadline picker needs the case it is for")
        spec = next(s for s in self.step.inputs if s.name == field.hours_field)
        try:
            preview = deadline_preview(
                self.case,
                until=data[name],
                min_hours=spec.min_value or 0.5,
                max_hours=spec.max_value or 24 * 365,
            )
        except DeadlineRefused as refused:
            self.add_error(name, refused.message)
            return
        self.errors.pop(field.hours_field, None)
        data[field.hours_field] = preview.hours

    def service_kwargs(self) -> dict:
        """The service function's arguments, by its keywords."""
        values = {}
        for spec in self.step.inputs:
            value = self.cleaned_data[spec.name]
            if spec.kind == steps.Kind.UNITS:
                value = list(value)
            values[spec.keyword] = spec.desk_value(value) if spec.desk_value else value
        return values

    @classmethod
    def needs_units(cls) -> bool:
        return any(spec.kind == steps.Kind.UNIT for spec in cls.step.inputs)

    @classmethod
    def names_a_case(cls) -> bool:
        return any(spec.kind == steps.Kind.CASE for spec in cls.step.inputs)


@cache
def step_form(step: steps.Step) -> type[StepForm]:
    """The desk's form class for ``step``: a field for each of its inputs, in their order."""
    fields: dict[str, forms.Field] = {}
    for spec in step.inputs:
        fields[spec.name] = _desk_field(spec)
        if spec.kind == steps.Kind.HOURS and spec.until_picker:
            fields[f"{spec.name}_until"] = DeadlineUntilField(
                label="或选择截止时间",
                required=False,
                hours_field=spec.name,
                help_text="按本事件的计时方式（工作时间或自然时间）折算为小时。",
            )
    name = "".join(part.title() for part in step.name.split("_")) + "Form"
    return type(name, (StepForm,), {"step": step, "__module__": __name__, **fields})


class BulkDispatchForm(forms.Form):
    lead_unit = UnitChoiceField(
        label="派遣到（牵头单位）", queryset=Unit.objects.none(), empty_label="— 请选择 —"
    )
    deadline_hours = forms.FloatField(
        label="办理时限（小时）", required=False, min_value=0.5, max_value=24 * 365
    )
    deadline_hours_until = DeadlineUntilField(
        label="或选择截止时间",
        required=False,
        hours_field="deadline_hours",
        help_text="每件事件按自己的计时方式（工作时间或自然时间）折算为小时；下方显示第一件的结果。",
    )
    note = _note(label="派遣说明")

    def __init__(self, *args, units=None, first_case=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lead_unit"].queryset = units if units is not None else Unit.objects.none()
        if first_case is not None:
            field = self.fields["deadline_hours_until"]
            field.widget = copy.copy(field.widget)
            field.widget.attrs = {
                **field.widget.attrs,
                "data-preview-url": reverse(
                    "admin:cases_case_deadline_preview", args=[first_case.pk]
                ),
            }

    def clean_deadline_hours_until(self):
        until = self.cleaned_data.get("deadline_hours_until")
        if until is not None and until <= timezone.now():
            raise forms.ValidationError("截止时间必须晚于现在，请重新选择。")
        return until

    def hours_for(self, case: Case) -> float | None:
        """The hours for ``case``: typed, or the picked moment on the case's own calendar
        (``DeadlineRefused`` when that moment does not work for this case)."""
        until = self.cleaned_data.get("deadline_hours_until")
        if until is None:
            return self.cleaned_data.get("deadline_hours")
        return deadline_preview(case, until=until).hours
