"""List filters of the case list. Every choice they offer comes from the user's scope, so a
filter never names a town, village, grid or unit the user may not see; a value typed into the
URL for something outside the scope just filters the (already scoped) list down to nothing."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone

from apps.cases.models import FINAL_STATUSES, OPEN_STATUSES, Category, Colour
from apps.cases.selectors import cases_showing_colour, overdue_q
from apps.desk import dashboard as desk
from apps.org.models import Grid, Tier
from apps.org.scope import regions_in_scope, scope_of, units_in_scope


def _int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise IncorrectLookupParameters(f"not a number: {value!r}") from None


class StateFilter(admin.SimpleListFilter):
    title = "办理阶段"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("mine", "待本级处理"), ("open", "在办"), ("final", "已办结/不予立案/已合并")]

    def queryset(self, request, queryset):
        value = self.value()
        # By status, on the (town|county|village, status) indexes (the colour is not indexed:
        # see Case.Meta).
        if value == "open":
            return queryset.filter(status__in=OPEN_STATUSES)
        if value == "final":
            return queryset.filter(status__in=FINAL_STATUSES)
        if value == "mine":
            return queryset.filter(pk__in=desk.waiting_for_desk(request.user).values("pk"))
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    title = "是否超时"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "已超时"), ("no", "未超时")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(overdue_q())
        if self.value() == "no":
            return queryset.exclude(overdue_q())
        return queryset


class CategoryFilter(admin.SimpleListFilter):
    """Either a main category (all its sub-categories) or one sub-category."""

    title = "分类"
    parameter_name = "cat"

    def lookups(self, request, model_admin):
        choices = []
        categories = list(Category.objects.select_related("parent").order_by("sort_order", "code"))
        for parent in [c for c in categories if c.parent_id is None]:
            choices.append((str(parent.pk), parent.name))
            choices += [
                (str(c.pk), f"　· {c.name}") for c in categories if c.parent_id == parent.pk
            ]
        return choices

    def queryset(self, request, queryset):
        pk = _int(self.value())
        if pk is None:
            return queryset
        # Ids, not a join on the parent: keeps the filter on the cases' own indexed column.
        ids = [pk, *Category.objects.filter(parent_id=pk).values_list("pk", flat=True)]
        return queryset.filter(category_id__in=ids)


class _PlaceFilter(admin.SimpleListFilter):
    """Cases of one place; ``field`` is the case's column for that tier of place."""

    field = ""

    def queryset(self, request, queryset):
        pk = _int(self.value())
        return queryset if pk is None else queryset.filter(**{self.field: pk})


def _choices_under(request, places, *, above: str, field: str, own_tier: str) -> list:
    """The places under the one chosen in the filter ``above`` or, with none chosen, under the
    user's own region when it is of ``own_tier``; otherwise none (choose the place above first)."""
    chosen = request.GET.get(above)
    if chosen and chosen.isdigit():
        places = places.filter(**{field: int(chosen)})
    elif scope_of(request.user).region_tier != own_tier:
        return []
    return [(str(p.pk), p.name) for p in places.order_by("code")]


class TownFilter(_PlaceFilter):
    title = "乡镇/街道"
    parameter_name = "town"
    field = "town_id"

    def lookups(self, request, model_admin):
        towns = regions_in_scope(request.user).filter(tier=Tier.TOWN).order_by("code")
        if scope_of(request.user).region_tier in (Tier.TOWN, Tier.VILLAGE):
            return []  # one town only: nothing to choose
        return [(str(t.pk), t.name) for t in towns]


class VillageFilter(_PlaceFilter):
    """Villages of the chosen town (or of the user's own town), so the list stays short."""

    title = "村/社区"
    parameter_name = "village"
    field = "village_id"

    def lookups(self, request, model_admin):
        if scope_of(request.user).region_tier == Tier.VILLAGE:
            return []
        villages = regions_in_scope(request.user).filter(tier=Tier.VILLAGE)
        return _choices_under(
            request, villages, above="town", field="parent_id", own_tier=Tier.TOWN
        )


class GridFilter(_PlaceFilter):
    """Grids of the chosen village (or of the user's own village)."""

    title = "网格"
    parameter_name = "grid"
    field = "grid_id"

    def lookups(self, request, model_admin):
        grids = Grid.objects.filter(
            village__in=regions_in_scope(request.user).filter(tier=Tier.VILLAGE)
        )
        return _choices_under(
            request, grids, above="village", field="village_id", own_tier=Tier.VILLAGE
        )


class UnitFilter(admin.SimpleListFilter):
    title = "牵头单位"
    parameter_name = "unit"

    def lookups(self, request, model_admin):
        units = (
            units_in_scope(request.user).select_related("region").order_by("region__code", "name")
        )
        return [("none", "未派遣"), *[(str(u.pk), u.name) for u in units]]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(lead_unit__isnull=True)
        pk = _int(self.value())
        return queryset if pk is None else queryset.filter(lead_unit_id=pk)


class CreatedRangeFilter(admin.ListFilter):
    """上报日期 from–to (inclusive local dates), with quick ranges."""

    title = "上报日期"
    template = "admin/cases/case/date_range_filter.html"
    parameters = ("created_from", "created_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                value = params.pop(name)
                self.used_parameters[name] = value[-1] if isinstance(value, list) else value

    def has_output(self) -> bool:
        return True

    def expected_parameters(self):
        return list(self.parameters)

    def _date(self, name: str) -> dt.date | None:
        value = self.used_parameters.get(name)
        if not value:
            return None
        try:
            return dt.date.fromisoformat(str(value))  # (a str: ``__init__`` keeps the last one)
        except ValueError:
            raise IncorrectLookupParameters(f"not a date: {value!r}") from None

    @staticmethod
    def _midnight(day: dt.date) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min))

    def queryset(self, request, queryset):
        start, end = self._date("created_from"), self._date("created_to")
        if start:
            queryset = queryset.filter(created_at__gte=self._midnight(start))
        if end:
            queryset = queryset.filter(created_at__lt=self._midnight(end + dt.timedelta(days=1)))
        return queryset

    def choices(self, changelist):
        today = timezone.localdate()
        quick = [
            ("今天", today, today),
            ("近 7 天", today - dt.timedelta(days=6), today),
            ("近 30 天", today - dt.timedelta(days=29), today),
        ]
        current = (
            self.used_parameters.get("created_from", ""),
            self.used_parameters.get("created_to", ""),
        )
        yield {
            "selected": not any(current),
            "query_string": changelist.get_query_string(remove=list(self.parameters)),
            "display": "全部",
        }
        for label, start, end in quick:
            value = (start.isoformat(), end.isoformat())
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string(
                    {"created_from": value[0], "created_to": value[1]}
                ),
                "display": label,
            }
        hidden = [(k, v) for k, v in changelist.params.items() if k not in self.parameters]
        yield {"form": True, "from": current[0], "to": current[1], "hidden": hidden}


class ColourFilter(admin.SimpleListFilter):
    """预警颜色 as the rows show it (``selectors.case_clock``), not the sweep's stored column,
    which lags by up to a minute: a row under 黄 never reads 已超时. Keeps the URL parameter
    of the plain field filter it replaces (the dashboard's tiles link to it)."""

    title = "预警颜色"
    parameter_name = "colour__exact"

    def lookups(self, request, model_admin):
        return list(Colour.choices)

    def queryset(self, request, queryset):
        value = self.value()
        if value in Colour.values:
            return cases_showing_colour(queryset, value)
        return queryset
