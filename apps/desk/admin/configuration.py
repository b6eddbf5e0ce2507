"""The case configuration on the desk: the category tree, the routing table, the time limits
and the work calendar."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from apps.cases import clock
from apps.cases.models import Category, RoutingRule, TimeLimit, WorkCalendarDay
from apps.core.admin import AfterWrites
from apps.desk.export import ExportMixin
from apps.org.models import Tier, Unit, UnitKind
from apps.org.scope import units_in_scope

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
        if category.parent is not None:
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
class WorkCalendarDayAdmin(AfterWrites, ExportMixin, admin.ModelAdmin):
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

    def after_write(self) -> None:
        clock.calendar_changed()  # every process re-reads the work calendar
