from django.contrib import admin

from apps.evaluation.models import EvaluationWeight


@admin.register(EvaluationWeight)
class EvaluationWeightAdmin(admin.ModelAdmin):
    """The weights of the composite score (三级考核). A kind with no rows uses the defaults in
    apps/evaluation/indicators.py; weights are relative (they need not add up to 100)."""

    list_display = ("kind", "indicator", "weight")
    list_editable = ("weight",)
    list_filter = ("kind",)
    ordering = ("kind", "-weight")
