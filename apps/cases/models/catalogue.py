"""The catalogue a case is filed and timed by: categories, routing rules, time limits and the work calendar."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.org.models import Tier, Unit


class TimeBasis(models.TextChoices):
    WORKING_HOURS = "working_hours", _("工作小时")
    WORKING_DAYS = "working_days", _("工作日")
    NATURAL_HOURS = "natural_hours", _("自然小时")


class Severity(models.IntegerChoices):
    MAJOR = 1, _("Ⅰ级（重大）")
    SERIOUS = 2, _("Ⅱ级（较大）")
    ORDINARY = 3, _("Ⅲ级（一般）")


class Category(models.Model):
    """Two-level category tree (大类/小类). Cases are filed under a leaf (小类)."""

    code = models.SlugField(_("代码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=60)
    name_en = models.CharField(_("英文名称"), max_length=80, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("大类"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    time_basis = models.CharField(
        _("时限计算方式"), max_length=20, choices=TimeBasis.choices, default=TimeBasis.WORKING_HOURS
    )
    is_active = models.BooleanField(_("启用"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("事件分类")
        verbose_name_plural = _("事件分类")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return f"{self.parent.name}/{self.name}" if self.parent is not None else self.name

    def clean(self) -> None:
        if self.parent is not None and self.parent.parent_id:
            raise ValidationError({"parent": _("分类只有两级：大类下面只能是小类。")})


class RoutingRule(models.Model):
    """Routing table (category × tier → responsible unit).

    At the county tier the rule names a county department. At the town tier it names the
    department whose stationed unit at the case's town takes the case, or else a platform code:
    the first unit of that town's platform with this code. At the village tier the village
    workstation handles, so no rule is needed.
    """

    category = models.ForeignKey(
        Category, verbose_name=_("分类"), on_delete=models.CASCADE, related_name="routing_rules"
    )
    tier = models.CharField(_("层级"), max_length=10, choices=Tier.choices)
    department = models.ForeignKey(
        Unit,
        verbose_name=_("责任部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="routing_rules",
        limit_choices_to={"kind": "department"},
    )
    platform_code = models.SlugField(_("平台代码"), max_length=40, blank=True)
    # For a major (Ⅰ/Ⅱ) case the county opens a joint response (闪电集结): the department above
    # leads and these departments assist (with their stationed units in the case's town).
    assisting_departments = models.ManyToManyField(
        Unit,
        verbose_name=_("联合处置协办部门"),
        blank=True,
        related_name="assisting_rules",
        limit_choices_to={"kind": "department"},
    )

    class Meta:
        verbose_name = _("分派规则")
        verbose_name_plural = _("分派规则")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "tier"], name="routing_one_rule_per_category_tier"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category} @ {self.get_tier_display()}"

    def clean(self) -> None:
        if self.tier == Tier.COUNTY and not self.department_id:
            raise ValidationError({"department": _("区县层级的规则必须指定责任部门。")})
        if self.tier == Tier.TOWN and not (self.department_id or self.platform_code):
            raise ValidationError(_("乡镇层级的规则必须指定责任部门或平台代码。"))


class Step(models.TextChoices):
    ACCEPT = "accept", _("受理")
    DISPATCH = "dispatch", _("派遣")
    SIGN = "sign", _("签收")
    HANDLE = "handle", _("处置")
    VERIFY = "verify", _("核查")
    CLOSE = "close", _("结案")
    OVERALL = "overall", _("总时限")


class TimeLimit(models.Model):
    """Time-limit table (category × severity → limit for each step). A null severity applies to
    every severity without a row of its own. Hours are counted on the category's time basis."""

    category = models.ForeignKey(
        Category, verbose_name=_("分类"), on_delete=models.CASCADE, related_name="time_limits"
    )
    severity = models.PositiveSmallIntegerField(
        _("等级"), choices=Severity.choices, null=True, blank=True
    )
    step = models.CharField(_("环节"), max_length=10, choices=Step.choices)
    hours = models.FloatField(_("时限（小时；工作日按 8 小时/天）"))

    class Meta:
        verbose_name = _("时限")
        verbose_name_plural = _("时限表")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "severity", "step"], name="timelimit_unique"
            ),
            models.CheckConstraint(condition=Q(hours__gt=0), name="timelimit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.get_step_display()} {self.hours}h"


class WorkCalendarDay(models.Model):
    """An exception to the default week: a public holiday on a weekday, or a make-up working day
    (调休) on a weekend. Days without a row follow Monday–Friday."""

    date = models.DateField(_("日期"), unique=True)
    is_workday = models.BooleanField(_("是否上班"))
    note = models.CharField(_("说明"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("工作日历")
        verbose_name_plural = _("工作日历（节假日与调休）")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {'上班' if self.is_workday else '休息'} {self.note}"
