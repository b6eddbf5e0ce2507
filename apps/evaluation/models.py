"""Evaluation (考核): daily rollups of the indicators, the dirty-day queue that keeps them equal
to the raw cases, and the configurable weights of the three-level evaluation.

The rollups are derived data: ``apps.evaluation.rollups`` rebuilds a day's rows from the raw
cases, history events and ratings whenever anything that feeds that day changes, so deleting the
whole table and rebuilding it gives the same numbers (``manage.py evaluation_rebuild``).
"""

from __future__ import annotations

from typing import Any

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from apps.evaluation.indicators import HANDLE_BINS_HOURS, INDICATORS, ROLLUP_METRICS


class Level(models.TextChoices):
    """What a rollup row is about: a place (by where the case is), a unit, or a person."""

    COUNTY = "county", _("区县")
    TOWN = "town", _("乡镇/街道")
    VILLAGE = "village", _("村/社区")
    GRID = "grid", _("网格")
    UNIT = "unit", _("处置单位")
    PERSON = "person", _("人员")


# Rows with category_id 0 hold the sum over every category, so the common "all categories"
# question reads one row per key and day instead of one per category.
ALL_CATEGORIES = 0


def _rollup_attrs(name: str, period_field: str, verbose: Promise, doc: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": doc,
        period_field: models.DateField(_("日期") if period_field == "day" else _("月份")),
        "level": models.CharField(_("层级"), max_length=8, choices=Level.choices),
        # The id of the region, grid, unit or user the row is about (which table depends on level).
        "key": models.BigIntegerField(_("对象编号")),
        "category_id": models.BigIntegerField(_("分类编号（0 = 全部分类）")),
        "__str__": lambda self: (
            f"{getattr(self, period_field)} {self.level}#{self.key} c{self.category_id}"
        ),
        "Meta": type(
            "Meta",
            (),
            {
                "verbose_name": verbose,
                "verbose_name_plural": verbose,
                "constraints": [
                    models.UniqueConstraint(
                        fields=["level", "key", period_field, "category_id"],
                        name=f"{name}_unique_cell",
                    ),
                ],
                "indexes": [
                    models.Index(
                        fields=["level", "category_id", period_field], name=f"{name}_level_cat_idx"
                    )
                ],
            },
        ),
    }
    # The metric columns come from the one list in indicators.py, so the definitions, the
    # computation and the table can never disagree about which counters exist.
    for metric in ROLLUP_METRICS:
        attrs[metric] = models.BigIntegerField(default=0)
    return attrs


# Built with type() from the one metric list, so there is no class statement for the type
# checker (and the Django plugin) to read: the two models are typed Any.
DailyRollup: Any = type(
    "DailyRollup",
    (models.Model,),
    _rollup_attrs(
        "rollup",
        "day",
        _("日汇总"),
        "Counters for one local day (Asia/Shanghai) × level × key × leaf category (0: all).",
    ),
)

MonthlyRollup: Any = type(
    "MonthlyRollup",
    (models.Model,),
    _rollup_attrs(
        "mrollup",
        "month",
        _("月汇总"),
        "The sum of a complete past month's DailyRollup rows (``month`` is its first day). Derived "
        "from the daily rows, never from raw data, and only read while the month is not dirty.",
    ),
)


class DirtyMonth(models.Model):
    """A past month whose MonthlyRollup rows must be re-summed from its daily rows. Written in
    the same transaction as the day rows that changed, so a crash cannot leave it unnoticed."""

    month = models.DateField(primary_key=True)
    marked_at = models.DateTimeField()

    class Meta:
        verbose_name = _("待重算月份")
        verbose_name_plural = _("待重算月份")


class DirtyDay(models.Model):
    """A day whose rollup rows no longer match the raw data and must be recomputed."""

    day = models.DateField(primary_key=True)
    # Bumped on every re-marking: the refresher only clears a mark it has fully recomputed.
    marked_at = models.DateTimeField()

    class Meta:
        verbose_name = _("待重算日期")
        verbose_name_plural = _("待重算日期")


class RollupCursor(models.Model):
    """How far the refresher has read an append-only source (history events, ratings)."""

    name = models.CharField(max_length=20, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("汇总进度")
        verbose_name_plural = _("汇总进度")


class EvaluateeKind(models.TextChoices):
    """Who is scored, and by whom (三级考核)."""

    TOWN = "town", _("乡镇/街道（区县考核）")
    DEPARTMENT = "department", _("县级部门（区县考核）")
    VILLAGE = "village", _("村/社区（乡镇考核）")
    STATIONED = "stationed", _("派驻机构与乡镇站所（乡镇考核）")
    GRID_WORKER = "grid_worker", _("网格员（村/社区考核）")


class EvaluationWeight(models.Model):
    """One indicator's weight in the composite score of one kind of evaluatee."""

    kind = models.CharField(_("考核对象"), max_length=20, choices=EvaluateeKind.choices)
    indicator = models.CharField(
        _("指标"),
        max_length=40,
        choices=[(code, ind.label) for code, ind in INDICATORS.items() if ind.scorable],
    )
    weight = models.FloatField(_("权重"), validators=[MinValueValidator(0.0)])

    class Meta:
        verbose_name = _("考核权重")
        verbose_name_plural = _("考核权重")
        ordering = ["kind", "-weight", "indicator"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "indicator"], name="weight_unique_indicator_per_kind"
            ),
            models.CheckConstraint(condition=models.Q(weight__gte=0), name="weight_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.get_indicator_display()} × {self.weight:g}"


__all__ = [
    "DailyRollup",
    "MonthlyRollup",
    "DirtyMonth",
    "DirtyDay",
    "RollupCursor",
    "EvaluationWeight",
    "EvaluateeKind",
    "Level",
    "HANDLE_BINS_HOURS",
]
