"""The organisation: tiers (区县 → 乡镇/街道 → 村/社区), grids, departments and their stationed
units, the four platforms, and the people who work in them.

Every region carries its 12-digit statistical division code (统计用区划代码); a grid adds a
3-digit sequence (15 digits). Scoping is done by foreign keys that are denormalised onto cases
(county, town, village, grid), so "everything in my town" is one indexed filter.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Tier(models.TextChoices):
    """The administrative tier a region, a desk or a case sits at."""

    COUNTY = "county", _("区县")
    TOWN = "town", _("乡镇/街道")
    VILLAGE = "village", _("村/社区")


# The tier above each tier; the county has none. (Keyed by value: model fields hold strings.)
TIER_ABOVE: dict[str, str | None] = {
    Tier.VILLAGE: Tier.TOWN,
    Tier.TOWN: Tier.COUNTY,
    Tier.COUNTY: None,
}

division_code_validator = RegexValidator(r"^\d{12}$", _("区划代码必须是 12 位数字。"))
grid_code_validator = RegexValidator(
    r"^\d{15}$", _("网格编码必须是 15 位数字（村代码 + 3 位序号）。")
)


class Region(models.Model):
    """A county, town/street or village/community, with the command desk of that tier.

    The desk (指挥中心 at county, 综合信息指挥室 at town, 工作站 at village) is not a separate
    row: the dispatchers whose profile points at this region *are* its desk.
    """

    code = models.CharField(
        _("区划代码"), max_length=12, unique=True, validators=[division_code_validator]
    )
    name = models.CharField(_("名称"), max_length=100)
    tier = models.CharField(_("层级"), max_length=10, choices=Tier.choices, db_index=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        expected_parent_tier = TIER_ABOVE[self.tier]
        if expected_parent_tier is None and self.parent_id:
            raise ValidationError({"parent": _("区县没有上级区划。")})
        if expected_parent_tier is not None:
            if self.parent is None:
                raise ValidationError({"parent": _("乡镇和村必须有上级区划。")})
            if self.parent.tier != expected_parent_tier:
                raise ValidationError({"parent": _("上级区划的层级不对。")})
            prefixes: dict[str, int] = {Tier.TOWN: 6, Tier.VILLAGE: 9}
            prefix = prefixes[self.tier]
            if self.code[:prefix] != self.parent.code[:prefix]:
                raise ValidationError(
                    {"code": _("区划代码必须以上级区划代码的前 %(n)d 位开头。") % {"n": prefix}}
                )

    def ancestors_and_self(self) -> list[Region]:
        chain: list[Region] = []
        node: Region | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain

    def ancestor_at(self, tier: str) -> Region | None:
        for node in self.ancestors_and_self():
            if node.tier == tier:
                return node
        return None


class Grid(models.Model):
    """A grid (网格): a boundary polygon inside one village, with its grid workers and leader."""

    code = models.CharField(
        _("网格编码"), max_length=15, unique=True, validators=[grid_code_validator]
    )
    name = models.CharField(_("名称"), max_length=100)
    village = models.ForeignKey(
        Region,
        verbose_name=_("所属村/社区"),
        on_delete=models.PROTECT,
        related_name="grids",
        limit_choices_to={"tier": Tier.VILLAGE},
    )
    # GeoJSON geometry (Polygon or MultiPolygon, WGS84 lon/lat). The spatial index in
    # apps.org.geo is built from these rows; the bounding box columns keep DB-side
    # pre-filtering (e.g. "grids near this point") index-friendly without PostGIS.
    boundary = models.JSONField(_("边界"))
    min_lng = models.FloatField(default=0)
    min_lat = models.FloatField(default=0)
    max_lng = models.FloatField(default=0)
    max_lat = models.FloatField(default=0)
    centroid_lng = models.FloatField(default=0)
    centroid_lat = models.FloatField(default=0)
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("网格长"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_grids",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("网格")
        verbose_name_plural = _("网格")
        ordering = ["code"]
        indexes = [
            models.Index(fields=["min_lng", "max_lng", "min_lat", "max_lat"], name="grid_bbox_idx")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Platform(models.Model):
    """One of a town's platforms (四平台). Data, not code: Zhejiang renamed them in 2022."""

    town = models.ForeignKey(
        Region,
        verbose_name=_("乡镇/街道"),
        on_delete=models.CASCADE,
        related_name="platforms",
        limit_choices_to={"tier": Tier.TOWN},
    )
    code = models.SlugField(_("代码"), max_length=40)
    name = models.CharField(_("名称"), max_length=60)
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("平台")
        verbose_name_plural = _("平台（四平台）")
        ordering = ["town__code", "sort_order"]
        constraints = [
            models.UniqueConstraint(fields=["town", "code"], name="platform_unique_code_per_town")
        ]

    def __str__(self) -> str:
        return f"{self.town.name}·{self.name}"


class UnitKind(models.TextChoices):
    DEPARTMENT = "department", _("县级部门")
    STATIONED = "stationed", _("派驻机构")
    TOWN_OFFICE = "town_office", _("乡镇站所")
    WORKSTATION = "workstation", _("村/社区工作站")


class Unit(models.Model):
    """A handling unit (处置单位): a county department (条), a unit stationed at a town by a
    department (派驻机构), a town's own office, or a village workstation.

    ``region`` is where the unit sits (county for departments, the town for stationed units and
    town offices, the village for a workstation); ``department`` is the line (条) a stationed
    unit reports to; ``platform`` groups a town's units into its four platforms.
    """

    name = models.CharField(_("名称"), max_length=100)
    code = models.SlugField(_("代码"), max_length=60, unique=True)
    kind = models.CharField(_("类型"), max_length=20, choices=UnitKind.choices)
    region = models.ForeignKey(
        Region, verbose_name=_("所在区划"), on_delete=models.PROTECT, related_name="units"
    )
    department = models.ForeignKey(
        "self",
        verbose_name=_("所属部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stationed_units",
        limit_choices_to={"kind": UnitKind.DEPARTMENT},
    )
    platform = models.ForeignKey(
        Platform,
        verbose_name=_("所属平台"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="units",
    )
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("处置单位")
        verbose_name_plural = _("处置单位")
        ordering = ["region__code", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == UnitKind.DEPARTMENT and self.region_id and self.region.tier != Tier.COUNTY:
            raise ValidationError({"region": _("县级部门必须设在区县。")})
        if (
            self.kind in (UnitKind.STATIONED, UnitKind.TOWN_OFFICE)
            and self.region_id
            and self.region.tier != Tier.TOWN
        ):
            raise ValidationError({"region": _("派驻机构和乡镇站所必须设在乡镇/街道。")})
        if (
            self.kind == UnitKind.WORKSTATION
            and self.region_id
            and self.region.tier != Tier.VILLAGE
        ):
            raise ValidationError({"region": _("工作站必须设在村/社区。")})
        if self.platform is not None and self.platform.town_id != self.region_id:
            raise ValidationError({"platform": _("平台必须属于单位所在的乡镇。")})

    @property
    def tier(self) -> str:
        return self.region.tier


class Role(models.TextChoices):
    """The roles of DOMAIN.md §2. Each has a permission group of the same name (see migrations)."""

    GRID_WORKER = "grid_worker", _("网格员")
    GRID_LEADER = "grid_leader", _("网格长")
    VILLAGE_HANDLER = "village_handler", _("村/社区工作站人员")
    TOWN_DISPATCHER = "town_dispatcher", _("乡镇指挥室调度员")
    DEPARTMENT_HANDLER = "department_handler", _("部门处置人员")
    COUNTY_DISPATCHER = "county_dispatcher", _("区县指挥中心调度员")
    LEADER = "leader", _("领导（只读）")


# The tier of the region a role's profile must point at (department handlers point at a unit).
ROLE_REGION_TIER: dict[str, str] = {
    Role.GRID_WORKER: Tier.VILLAGE,
    Role.GRID_LEADER: Tier.VILLAGE,
    Role.VILLAGE_HANDLER: Tier.VILLAGE,
    Role.TOWN_DISPATCHER: Tier.TOWN,
    Role.COUNTY_DISPATCHER: Tier.COUNTY,
}
DISPATCHER_ROLES = {Role.VILLAGE_HANDLER, Role.TOWN_DISPATCHER, Role.COUNTY_DISPATCHER}
# Roles that may use the Django admin (the command desk).
STAFF_ROLES = {Role.TOWN_DISPATCHER, Role.COUNTY_DISPATCHER, Role.LEADER, Role.VILLAGE_HANDLER}


class Profile(models.Model):
    """Who a user is in the organisation: one role, and the region, unit or grids it covers."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    role = models.CharField(_("角色"), max_length=30, choices=Role.choices, db_index=True)
    display_name = models.CharField(_("姓名"), max_length=60)
    phone = models.CharField(_("手机号"), max_length=20, blank=True)
    region = models.ForeignKey(
        Region,
        verbose_name=_("所属区划"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
    )
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("所属单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
    )
    grids = models.ManyToManyField(
        Grid, verbose_name=_("负责网格"), blank=True, related_name="workers"
    )

    class Meta:
        verbose_name = _("人员")
        verbose_name_plural = _("人员与角色")

    def __str__(self) -> str:
        return f"{self.display_name}（{self.get_role_display()}）"

    def clean(self) -> None:
        if self.role == Role.DEPARTMENT_HANDLER:
            if not self.unit_id:
                raise ValidationError({"unit": _("部门处置人员必须指定所属单位。")})
            return
        needed = ROLE_REGION_TIER.get(self.role)
        if self.role == Role.LEADER:
            if not self.region_id:
                raise ValidationError({"region": _("领导必须指定所辖区划。")})
            return
        if needed and (self.region is None or self.region.tier != needed):
            raise ValidationError(
                {"region": _("该角色必须属于一个%(tier)s。") % {"tier": Tier(needed).label}}
            )
