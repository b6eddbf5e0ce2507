"""Forms behind the case page's action buttons. Each one only collects what the workflow
service needs; the service decides whether the step is legal and says why not."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from apps.cases import tracking
from apps.cases.models import Case, RejectReason
from apps.cases.selectors import cases_visible_to
from apps.org.models import Unit


def unit_label(unit: Unit) -> str:
    where = unit.region.name if unit.region_id else ""
    platform = f" · {unit.platform.name}" if unit.platform_id else ""
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


class NoteForm(forms.Form):
    """accept, urge, close, resume: an optional note."""

    note = _note()

    def service_kwargs(self) -> dict:
        return {"note": self.cleaned_data["note"]}


class ReasonForm(forms.Form):
    """escalate, reopen: a reason is required."""

    reason = _note(required=True, label="理由")

    def service_kwargs(self) -> dict:
        return {"reason": self.cleaned_data["reason"]}


class RejectForm(forms.Form):
    reason = forms.ChoiceField(
        label="不予立案原因", choices=[("", "— 请选择 —"), *RejectReason.choices]
    )
    note = _note(required=True, label="说明")

    def service_kwargs(self) -> dict:
        return {"reason": self.cleaned_data["reason"], "note": self.cleaned_data["note"]}


class DispatchForm(forms.Form):
    lead_unit = UnitChoiceField(
        label="牵头单位", queryset=Unit.objects.none(), empty_label="— 请选择牵头单位 —"
    )
    assisting_units = UnitMultipleChoiceField(
        label="协办单位",
        queryset=Unit.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    deadline_hours = forms.FloatField(
        label="办理时限（小时）",
        required=False,
        min_value=0.5,
        max_value=24 * 365,
        help_text="留空则按时限表。",
        widget=forms.NumberInput(attrs={"step": "0.5", "placeholder": "按时限表"}),
    )
    note = _note(label="派遣说明")

    def __init__(self, *args, units=None, suggested: Unit | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        units = units if units is not None else Unit.objects.none()
        self.fields["lead_unit"].queryset = units
        self.fields["assisting_units"].queryset = units
        if suggested is not None and not self.is_bound:
            self.initial.setdefault("lead_unit", suggested.pk)

    def clean(self):
        data = super().clean()
        lead = data.get("lead_unit")
        if lead is not None and lead in (data.get("assisting_units") or []):
            self.add_error("assisting_units", "牵头单位不必再选为协办单位。")
        return data

    def service_kwargs(self) -> dict:
        return {
            "lead_unit": self.cleaned_data["lead_unit"],
            "assisting_units": list(self.cleaned_data["assisting_units"]),
            "deadline_hours": self.cleaned_data["deadline_hours"],
            "note": self.cleaned_data["note"],
        }


class ExtensionDecisionForm(forms.Form):
    decision = forms.ChoiceField(label="审批", choices=[("approve", "批准延期"), ("deny", "驳回")])
    note = _note(label="审批意见")

    def service_kwargs(self) -> dict:
        return {
            "approve": self.cleaned_data["decision"] == "approve",
            "note": self.cleaned_data["note"],
        }


class MergeForm(forms.Form):
    into = forms.CharField(label="合并到（流水号）", max_length=32)
    note = _note()

    def __init__(self, *args, user=None, case: Case | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.case = case

    def clean_into(self) -> Case:
        typed = self.cleaned_data["into"].strip()
        number = tracking.normalize(typed)
        if number is None:
            raise forms.ValidationError(
                "“%(n)s”不是有效的流水号（13 位，可带短横线），请核对。", params={"n": typed}
            )
        # Only cases the user may see can be named: a guessed number outside the desk's
        # scope reads exactly like a number that does not exist.
        target = cases_visible_to(self.user).filter(tracking_number=number).first()
        if target is None:
            raise forms.ValidationError(
                "在您的辖区内找不到流水号为“%(n)s”的事件。", params={"n": typed}
            )
        if self.case is not None and target.pk == self.case.pk:
            raise forms.ValidationError("不能合并到自身。")
        return target

    def service_kwargs(self) -> dict:
        return {"into": self.cleaned_data["into"], "note": self.cleaned_data["note"]}


class DeferForm(forms.Form):
    review_on = forms.DateField(label="复查日期", widget=forms.DateInput(attrs={"type": "date"}))
    reason = _note(required=True, label="挂账理由")

    def clean_review_on(self):
        value = self.cleaned_data["review_on"]
        if value <= timezone.localdate():
            raise forms.ValidationError("复查日期必须在今天之后。")
        return value

    def service_kwargs(self) -> dict:
        return {"review_on": self.cleaned_data["review_on"], "reason": self.cleaned_data["reason"]}


class BulkDispatchForm(forms.Form):
    lead_unit = UnitChoiceField(
        label="派遣到（牵头单位）", queryset=Unit.objects.none(), empty_label="— 请选择 —"
    )
    deadline_hours = forms.FloatField(
        label="办理时限（小时）", required=False, min_value=0.5, max_value=24 * 365
    )
    note = _note(label="派遣说明")

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lead_unit"].queryset = units if units is not None else Unit.objects.none()
