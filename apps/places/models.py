"""The places register (场所): what stands in the grids — buildings, 三小/六小 premises, 群租,
construction sites, chemical enterprises, key areas, 微型消防站 — each of a kind that is data,
not code.

A ``PlaceKind`` declares the geometry its places have (a point or a polygon), the attributes
each place of the kind carries (validated by ``apps.places.attributes``), how often a place of
the kind is inspected by default, the department that supervises it and whether it is
``sensitive``. A ``Place`` is found on the map (grid, village, town, county denormalised like a
case's, so "my town's places" is one indexed filter), carries a 20-digit code (the grid's 15
digits and a 5-digit sequence, ``GridSequence``), and every change of it is one append-only
``PlaceEvent``. There is no register of persons: a place has a contact, nothing more.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.org.models import Grid, Region, Unit

place_code_validator = RegexValidator(
    r"^\d{20}$", _("场所编码必须是 20 位数字（网格编码 15 位 + 5 位序号）。")
)


class GeometryType(models.TextChoices):
    POINT = "point", _("点")
    POLYGON = "polygon", _("面")


class AttributeType(models.TextChoices):
    INT = "int", _("整数")
    TEXT = "text", _("文本")
    CHOICE = "choice", _("选项")
    BOOL = "bool", _("是/否")
    DATE = "date", _("日期")


class RiskLevel(models.TextChoices):
    """风险等级: A is the highest; patrols come more often to an A place."""

    A = "A", _("A（高）")
    B = "B", _("B（中）")
    C = "C", _("C（低）")


class PlaceStatus(models.TextChoices):
    PENDING = "pending", _("待确认")
    ACTIVE = "active", _("在册")
    CLOSED = "closed", _("已注销")
    REJECTED = "rejected", _("未通过确认")


class PlaceSource(models.TextChoices):
    FIELD = "field", _("网格员采集")
    IMPORT = "import", _("批量导入")
    API = "api", _("接口")
    DESK = "desk", _("指挥台录入")


class PlaceKind(models.Model):
    """A kind of place (场所类型). ``attribute_schema`` is a list of
    ``{"key", "label", "type": int|text|choice|bool|date, "required", "choices"}``."""

    code = models.SlugField(_("代码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=60)
    geometry_type = models.CharField(
        _("几何类型"), max_length=10, choices=GeometryType.choices, default=GeometryType.POINT
    )
    attribute_schema = models.JSONField(_("属性定义"), default=list, blank=True)
    inspection_days = models.PositiveIntegerField(
        _("默认巡查周期（天）"),
        default=30,
        help_text=_("按风险等级调整：A 级为一半，C 级为两倍（见 apps/places/models.py）。"),
    )
    supervising_department = models.ForeignKey(
        Unit,
        verbose_name=_("主管部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supervised_place_kinds",
    )
    sensitive = models.BooleanField(
        _("敏感"), default=False, help_text=_("敏感场所的地址和联系人只在指挥台和主管部门可见。")
    )
    is_active = models.BooleanField(_("启用"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("场所类型")
        verbose_name_plural = _("场所类型")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from apps.places.attributes import schema_problems

        problems = schema_problems(self.attribute_schema)
        if problems:
            raise ValidationError({"attribute_schema": problems})

    def inspection_days_for(self, risk: str) -> int:
        """The inspection interval of a place of this kind at ``risk``: A twice as often, C half
        as often (what a patrol plan reads to find a place's next due date)."""
        factors: dict[str, float] = {RiskLevel.A: 0.5, RiskLevel.B: 1.0, RiskLevel.C: 2.0}
        factor = factors.get(risk, 1.0)
        return max(1, round(self.inspection_days * factor))


class Place(models.Model):
    code = models.CharField(
        _("场所编码"), max_length=20, unique=True, validators=[place_code_validator]
    )
    kind = models.ForeignKey(
        PlaceKind, verbose_name=_("类型"), on_delete=models.PROTECT, related_name="places"
    )
    name = models.CharField(_("名称"), max_length=100)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    # A point kind: the point. A polygon kind: a point inside the polygon (its centroid, or a
    # representative point when the centroid falls outside), which places it on the map.
    lat = models.FloatField(_("纬度"))
    lng = models.FloatField(_("经度"))
    polygon = models.JSONField(_("范围（GeoJSON）"), null=True, blank=True)
    grid = models.ForeignKey(
        Grid, verbose_name=_("网格"), on_delete=models.PROTECT, related_name="places"
    )
    village = models.ForeignKey(
        Region,
        verbose_name=_("村/社区"),
        on_delete=models.PROTECT,
        related_name="village_places",
        db_index=False,
    )
    town = models.ForeignKey(
        Region,
        verbose_name=_("乡镇/街道"),
        on_delete=models.PROTECT,
        related_name="town_places",
        db_index=False,
    )
    county = models.ForeignKey(
        Region,
        verbose_name=_("区县"),
        on_delete=models.PROTECT,
        related_name="county_places",
        db_index=False,
    )
    risk = models.CharField(
        _("风险等级"), max_length=1, choices=RiskLevel.choices, default=RiskLevel.C
    )
    supervising_unit = models.ForeignKey(
        Unit,
        verbose_name=_("监管单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supervised_places",
        db_index=False,
    )
    # Contact of the place (a shop's keeper, a site's safety officer): never on a public page,
    # masked outside the desk, never written to a log.
    contact_name = models.CharField(_("联系人"), max_length=40, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    attributes = models.JSONField(_("属性"), default=dict, blank=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=PlaceStatus.choices, default=PlaceStatus.PENDING
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("确认人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    verified_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    source = models.CharField(
        _("来源"), max_length=10, choices=PlaceSource.choices, default=PlaceSource.FIELD
    )
    # A department's own reference (licence number, site permit): re-imports match on it.
    external_ref = models.CharField(_("外部编号"), max_length=60, blank=True)
    client_uuid = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("采集人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("采集时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    # Optimistic concurrency: every change is ``UPDATE … WHERE id = ? AND version = ?``.
    version = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("场所")
        verbose_name_plural = _("场所")
        ordering = ["code"]
        indexes = [
            models.Index(fields=["grid", "status"], name="place_grid_status_idx"),
            models.Index(fields=["village", "status"], name="place_village_status_idx"),
            models.Index(fields=["town", "status"], name="place_town_status_idx"),
            models.Index(fields=["county", "kind"], name="place_county_kind_idx"),
            models.Index(fields=["lat", "lng"], name="place_position_idx"),
            models.Index(
                fields=["supervising_unit"],
                name="place_supervisor_idx",
                condition=Q(supervising_unit__isnull=False),
            ),
            models.Index(
                fields=["kind", "external_ref"],
                name="place_external_ref_idx",
                condition=~Q(external_ref=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def inspection_days(self) -> int:
        return self.kind.inspection_days_for(self.risk)


class GridSequence(models.Model):
    """The last sequence number handed out for place codes in one grid. Codes are allocated by
    one conditional ``UPDATE … SET last = last + n`` (row-locked until the commit on PostgreSQL,
    the database write lock on SQLite), so concurrent adds in one grid get distinct codes."""

    grid = models.OneToOneField(Grid, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("场所编码序号")
        verbose_name_plural = _("场所编码序号")


class PlaceAction(models.TextChoices):
    ADD = "add", _("采集")
    UPDATE = "update", _("更新")
    CONFIRM = "confirm", _("确认")
    REJECT = "reject", _("退回")
    CLOSE = "close", _("注销")
    IMPORT = "import", _("导入")


class PlaceEvent(models.Model):
    """Append-only history of a place: who, when, what, and the changed fields as
    ``{field: [before, after]}`` (a contact's phone masked)."""

    place = models.ForeignKey(Place, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("动作"), max_length=10, choices=PlaceAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    changes = models.JSONField(_("变更内容"), default=dict, blank=True)
    note = models.CharField(_("说明"), max_length=500, blank=True)
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("场所记录")
        verbose_name_plural = _("场所记录")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["place", "at"], name="placeevent_place_idx")]

    def __str__(self) -> str:
        return f"{self.place_id} {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValidationError("PlaceEvent rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("PlaceEvent rows are append-only.")
