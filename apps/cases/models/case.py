"""The case: its statuses and colours, where it came from, and the sweep's due index."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.cases.models.catalogue import Category, Severity, Step
from apps.org.models import Grid, Region, Role, Tier, Unit


class Status(models.TextChoices):
    REPORTED = "reported", _("待受理")
    ACCEPTED = "accepted", _("已立案待派遣")
    DISPATCHED = "dispatched", _("已派遣待签收")
    SIGNED = "signed", _("处置中")
    HANDLED = "handled", _("已处置待核查")
    VERIFIED = "verified", _("核查通过待结案")
    CLOSED = "closed", _("已结案")
    REJECTED = "rejected", _("不予立案")
    MERGED = "merged", _("已合并")
    DEFERRED = "deferred", _("挂账缓办")


FINAL_STATUSES = {Status.CLOSED, Status.REJECTED, Status.MERGED}
OPEN_STATUSES = [s for s in Status.values if s not in FINAL_STATUSES]
# Statuses in which a case waits for its desk (accept/reject, dispatch, close).
DESK_WAITING_STATUSES = [Status.REPORTED, Status.ACCEPTED, Status.VERIFIED]
# Open and running: a deferred (挂账) case has no clock, so it is never overdue and the clock
# sweep leaves it alone.
RUNNING_STATUSES = [s for s in OPEN_STATUSES if s != Status.DEFERRED]

# Who holds the desk at each tier (the workflow, the desk and the notifications read it).
DESK_ROLE_FOR_TIER: dict[str, Role] = {
    Tier.VILLAGE: Role.VILLAGE_HANDLER,
    Tier.TOWN: Role.TOWN_DISPATCHER,
    Tier.COUNTY: Role.COUNTY_DISPATCHER,
}


class Colour(models.TextChoices):
    """分色预警. Stored (and kept current by the workflow service and the sweep) so that lists
    and the colour board filter by an index instead of computing clocks per row."""

    GREEN = "green", _("绿：已办结")
    BLUE = "blue", _("蓝：办理中")
    YELLOW = "yellow", _("黄：即将超时")
    RED = "red", _("红：已超时")
    GREY = "grey", _("灰：挂账")


class Source(models.TextChoices):
    GRID_WORKER = "grid_worker", _("网格员上报")
    CITIZEN = "citizen", _("市民随手拍")
    HOTLINE = "hotline", _("热线")
    OPEN311 = "open311", _("Open311")
    WARNING = "warning", _("预警系统")


class PositionSource(models.TextChoices):
    DEVICE_GPS = "gps", _("设备定位")
    PIN = "pin", _("手动选点")
    EXIF = "exif", _("照片 EXIF")
    ADDRESS = "address", _("输入地址")


class RejectReason(models.TextChoices):
    INVALID = "invalid", _("无效信息")
    DUPLICATE = "duplicate", _("重复上报")
    NOT_PUBLIC = "not_public", _("非公共事务")


def new_public_token() -> str:
    import secrets

    return secrets.token_urlsafe(24)  # 192 bits


class Case(models.Model):
    """One problem found in the field, from report to closure (and rating)."""

    tracking_number = models.CharField(_("流水号"), max_length=16, unique=True)
    public_token = models.CharField(
        max_length=64, unique=True, default=new_public_token, editable=False
    )
    client_uuid = models.UUIDField(
        _("客户端编号"), null=True, blank=True, unique=True, editable=False
    )
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    source = models.CharField(
        _("来源"), max_length=20, choices=Source.choices, default=Source.GRID_WORKER
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("上报人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reported_cases",
        db_index=False,
    )
    reporter_phone = models.CharField(_("群众联系电话"), max_length=20, blank=True)

    category = models.ForeignKey(
        Category,
        verbose_name=_("分类"),
        on_delete=models.PROTECT,
        related_name="cases",
        db_index=False,
    )
    severity = models.PositiveSmallIntegerField(
        _("等级"), choices=Severity.choices, default=Severity.ORDINARY
    )
    description = models.TextField(_("描述"), max_length=2000)
    address = models.CharField(_("地址"), max_length=200, blank=True)

    lat = models.FloatField(_("纬度"))
    lng = models.FloatField(_("经度"))
    accuracy_m = models.FloatField(_("定位精度（米）"), null=True, blank=True)
    position_source = models.CharField(_("定位来源"), max_length=10, choices=PositionSource.choices)
    position_time = models.DateTimeField(_("定位时间"), null=True, blank=True)
    position_flagged = models.BooleanField(_("定位存疑"), default=False)

    grid = models.ForeignKey(
        Grid, verbose_name=_("网格"), on_delete=models.PROTECT, related_name="cases"
    )
    village = models.ForeignKey(
        Region,
        verbose_name=_("村/社区"),
        on_delete=models.PROTECT,
        related_name="village_cases",
        db_index=False,
    )
    town = models.ForeignKey(
        Region,
        verbose_name=_("乡镇/街道"),
        on_delete=models.PROTECT,
        related_name="town_cases",
        db_index=False,
    )
    county = models.ForeignKey(
        Region,
        verbose_name=_("区县"),
        on_delete=models.PROTECT,
        related_name="county_cases",
        db_index=False,
    )

    status = models.CharField(
        _("状态"), max_length=12, choices=Status.choices, default=Status.REPORTED
    )
    # The tier whose desk currently owns the case, and that desk's region. Exactly one owner
    # at any time while the case is open (the lead unit works *for* this desk).
    tier = models.CharField(
        _("所在层级"), max_length=10, choices=Tier.choices, default=Tier.VILLAGE
    )
    holder = models.ForeignKey(
        Region,
        verbose_name=_("责任层级"),
        on_delete=models.PROTECT,
        related_name="held_cases",
        db_index=False,
    )
    lead_unit = models.ForeignKey(
        Unit,
        verbose_name=_("牵头单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lead_cases",
        db_index=False,
    )
    assisting_units = models.ManyToManyField(
        Unit, verbose_name=_("协办单位"), blank=True, related_name="assisting_cases"
    )
    suggested_unit = models.ForeignKey(
        Unit,
        verbose_name=_("建议单位"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    # Clocks. ``step`` is what the owner must do next; ``step_deadline`` is when; ``yellow_at``
    # is 80 % of that step's limit; ``escalate_at`` is when the sweep escalates a case that
    # made no progress; ``sweep_due_at`` is the earliest of the three that is still ahead, so
    # the beat sweep reads one index instead of scanning open cases. That index lives in the
    # narrow ``SweepDue`` table, kept by database triggers (migration 0005), not on this row:
    # see SweepDue for why.
    step = models.CharField(_("当前环节"), max_length=10, choices=Step.choices, default=Step.ACCEPT)
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_deadline = models.DateTimeField(_("环节时限"), null=True, blank=True)
    yellow_at = models.DateTimeField(null=True, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True)
    sweep_due_at = models.DateTimeField(null=True, blank=True)
    overall_deadline = models.DateTimeField(_("办结时限"), null=True, blank=True)
    colour = models.CharField(
        _("预警颜色"), max_length=8, choices=Colour.choices, default=Colour.BLUE
    )
    sign_overdue = models.BooleanField(_("签收超时"), default=False)

    joint_response = models.BooleanField(_("联合处置（闪电集结）"), default=False)
    self_resolved = models.BooleanField(_("当场处置"), default=False)
    reject_reason = models.CharField(
        _("不予立案原因"), max_length=12, choices=RejectReason.choices, blank=True
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("合并到"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_cases",
        db_index=False,
    )
    probable_duplicate_of = models.ForeignKey(
        "self",
        verbose_name=_("疑似重复"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    # 附近场所: the place (apps.places) the report is about, when the reporter tied it to one.
    place = models.ForeignKey(
        "places.Place",
        verbose_name=_("场所"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
        db_index=False,
    )
    deferred_review_on = models.DateField(_("挂账复查日期"), null=True, blank=True)
    deferred_from = models.CharField(max_length=12, choices=Status.choices, blank=True)

    return_count = models.PositiveSmallIntegerField(_("退单次数"), default=0)
    escalation_count = models.PositiveSmallIntegerField(_("上报次数"), default=0)
    rework_count = models.PositiveSmallIntegerField(_("返工次数"), default=0)
    urge_count = models.PositiveSmallIntegerField(_("督办次数"), default=0)
    extension_count = models.PositiveSmallIntegerField(_("延期次数"), default=0)
    result_text = models.TextField(_("处置结果"), blank=True)

    created_at = models.DateTimeField(_("上报时间"), auto_now_add=True, db_index=True)
    accepted_at = models.DateTimeField(_("立案时间"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("派遣时间"), null=True, blank=True)
    signed_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    handled_at = models.DateTimeField(_("处置时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结案时间"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Optimistic concurrency: every state change is ``UPDATE … WHERE id=? AND version=?``.
    version = models.PositiveIntegerField(default=0)

    # Transactional outbox: follow-up work committed with the row (e.g. ["route", "photos"]);
    # tasks clear their entry, and a beat sweep re-enqueues anything left behind.
    pending_work = models.JSONField(default=list, blank=True)
    pending_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("事件")
        verbose_name_plural = _("事件")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["town", "status"], name="case_town_status_idx"),
            models.Index(fields=["village", "status"], name="case_village_status_idx"),
            models.Index(fields=["holder", "status"], name="case_holder_status_idx"),
            models.Index(fields=["lead_unit", "status"], name="case_unit_status_idx"),
            models.Index(fields=["category", "created_at"], name="case_category_created_idx"),
            models.Index(fields=["reporter", "-created_at"], name="case_reporter_idx"),
            models.Index(
                fields=["pending_since"],
                name="case_pending_idx",
                condition=Q(pending_since__isnull=False),
            ),
            models.Index(fields=["category", "lat", "lng"], name="case_dup_probe_idx"),
            # The command desk (apps/desk/dashboard.py, admin): a county's open cases (by status:
            # see below), overdue cases (step_deadline is set only while a case runs) and
            # today's intake, per county and per town, without reading every case of the county.
            models.Index(fields=["county", "status"], name="case_county_status_idx"),
            models.Index(fields=["county", "step_deadline"], name="case_county_deadline_idx"),
            models.Index(fields=["town", "step_deadline"], name="case_town_deadline_idx"),
            models.Index(fields=["county", "created_at"], name="case_county_created_idx"),
            models.Index(fields=["town", "created_at"], name="case_town_created_idx"),
            # Foreign keys that are empty on almost every case: partial indexes, so the
            # rows without one cost nothing (deletes of the referenced row still find theirs).
            models.Index(
                fields=["suggested_unit"],
                name="case_suggested_unit_idx",
                condition=Q(suggested_unit__isnull=False),
            ),
            models.Index(
                fields=["merged_into"],
                name="case_merged_into_idx",
                condition=Q(merged_into__isnull=False),
            ),
            models.Index(fields=["place"], name="case_place_idx", condition=Q(place__isnull=False)),
            models.Index(
                fields=["probable_duplicate_of"],
                name="case_probable_dup_idx",
                condition=Q(probable_duplicate_of__isnull=False),
            ),
        ]
        # Why the other foreign keys carry db_index=False: every index on this table is written
        # again whenever a step changes an indexed column (status, deadlines), and each of those
        # keys already leads one of the composite indexes above.
        #
        # No index holds a column the clock sweep changes (colour, sign_overdue, sweep_due_at,
        # urge_count, version, updated_at), and the table keeps 15 % of each page free
        # (fillfactor, migration 0005): a case turning yellow or red is then a HOT update —
        # PostgreSQL rewrites the row in its own page and touches none of the indexes. With
        # the colour indexed it rewrote an entry in each of them, and ten thousand cases
        # turning red in one minute took seconds. Open cases are therefore found by status
        # (open ⇔ not green: the workflow service sets both together).

    def __str__(self) -> str:
        return f"{self.tracking_number} {self.category.name if self.category_id else ''}"

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_STATUSES


class SweepDue(models.Model):
    """The clock sweep's index: one row per case whose ``sweep_due_at`` is set, with that moment.

    Kept by database triggers on ``cases_case`` (migration 0005: statement-level with transition
    tables on PostgreSQL, row-level on SQLite), so every writer of ``Case.sweep_due_at`` —
    services, the sweep's own UPDATEs, bulk loads, hand edits — keeps it right without knowing
    it exists. It is a table of its own so that the index over ``sweep_due_at`` is not an index
    of the wide case row, whose sweep updates can then stay HOT (see Case.Meta). Nothing in
    Python writes it."""

    case = models.OneToOneField(
        Case, primary_key=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    due_at = models.DateTimeField()

    class Meta:
        verbose_name = _("时钟扫描索引")
        verbose_name_plural = _("时钟扫描索引")
        # The sweep walks it in windows, in the order cases fell due (sweep._DueWindow).
        indexes = [models.Index(fields=["due_at", "case"], name="sweepdue_due_idx")]
