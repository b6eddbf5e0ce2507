"""The 分类, 分派规则 and 时限 sheets: the two-level category tree, routing per tier and time limits."""

from __future__ import annotations

from django.utils.translation import gettext as _

from apps.cases.models import Category, RoutingRule, Step, TimeBasis, TimeLimit
from apps.onboarding import spec
from apps.onboarding.services.base import (
    SLUG,
    ImportRun,
    Outcome,
    cell_integer,
    cell_yes_no,
    field_changes,
)
from apps.org.models import (
    Tier,
    Unit,
    UnitKind,
)


class Catalogue(ImportRun):
    # --- 分类、分派规则、时限 ---------------------------------------------------------------
    def categories(self) -> None:
        rows = self.workbook.sheet("categories")
        parents = {r["code"]: r["parent"] for r in rows if r["parent"]}
        cyclic = self._cycles(parents)
        seen: dict[str, int] = {}
        for row in sorted(rows, key=lambda r: bool(r["parent"])):  # 大类 first
            code, name, parent_code = row["code"], row["name"], row["parent"]
            problems: list[str] = []
            active = cell_yes_no(row["active"], problems, "启用")
            sort_order = cell_integer(row["sort_order"], problems, "排序")
            basis = spec.TIME_BASIS_WORDS.get(row["time_basis"] or TimeBasis.WORKING_HOURS)
            if code in cyclic:
                problems.append(_("上级关系成环：%(c)s") % {"c": cyclic[code]})
            if not SLUG.match(code) or len(code) > 40:
                problems.append(_("分类代码只能用英文字母、数字、连字符，不超过 40 个字符"))
            elif code in seen:
                problems.append(_("分类代码与第 %(n)d 行重复") % {"n": seen[code]})
            if not name or len(name) > 60:
                problems.append(_("分类名称不能为空，且不超过 60 个字"))
            if len(row["name_en"]) > 80:
                problems.append(_("英文名称不超过 80 个字符"))
            if basis is None:
                problems.append(_("时限计算方式只能是 工作小时、工作日、自然小时"))
            parent = None
            if parent_code and code not in cyclic:
                parent = self.category(parent_code)
                if parent is None:
                    problems.append(self.missing("categories", _("大类"), parent_code))
                elif parent.parent_id is not None:
                    problems.append(
                        _("分类只有两级：%(p)s 是小类，不能再作大类") % {"p": parent_code}
                    )
            existing = self.category(code) if SLUG.match(code) else None
            if existing is not None and parent is not None and existing.children.exists():
                problems.append(_("%(c)s 已有小类，不能变成小类") % {"c": code})
            if problems:
                self.refuse(row, code, problems)
                continue
            seen[code] = row.number
            values = {
                "name": name,
                "name_en": row["name_en"],
                "parent": parent,
                "time_basis": basis,
                "sort_order": sort_order,
                "is_active": active,
            }
            if existing is None:
                self._categories[code] = Category.objects.create(code=code, **values)
                self.result(row, code, Outcome.CREATE, name)
                continue
            changes = field_changes(
                existing,
                values,
                {
                    "name": _("名称"),
                    "name_en": _("英文名称"),
                    "parent": _("大类"),
                    "time_basis": _("时限计算方式"),
                    "sort_order": _("排序"),
                    "is_active": _("启用"),
                },
            )
            if changes:
                for attr, value in values.items():
                    setattr(existing, attr, value)
                existing.save()
                self.result(row, code, Outcome.CHANGE, "；".join(changes))
            else:
                self.result(row, code, Outcome.SAME, name)

    def _department(self, code: str, problems: list[str], what: str) -> Unit | None:
        unit = self.unit(code)
        if unit is None:
            problems.append(self.missing("units", what, code))
        elif unit.kind != UnitKind.DEPARTMENT or not self.in_county(unit.region):
            problems.append(_("%(w)s %(c)s 不是本区县的县级部门") % {"w": what, "c": code})
            return None
        return unit

    def routing(self) -> None:
        seen: dict[tuple[str, str], int] = {}
        stored = {
            (r.category_id, r.tier): r
            for r in RoutingRule.objects.select_related("department").prefetch_related(
                "assisting_departments"
            )
        }
        for row in self.workbook.sheet("routing"):
            tier = spec.TIER_WORDS.get(row["tier"])
            key = f"{row['category']}@{row['tier']}"
            problems: list[str] = []
            category = self.category(row["category"])
            if category is None:
                problems.append(self.missing("categories", _("分类"), row["category"]))
            if tier not in (Tier.TOWN, Tier.COUNTY):
                problems.append(
                    _("层级只能是 乡镇/街道 或 区县（村/社区由工作站办理，不需要规则）")
                )
            elif (row["category"], tier) in seen:
                problems.append(
                    _("与第 %(n)d 行重复（同一分类同一层级只能有一条规则）")
                    % {"n": seen[(row["category"], tier)]}
                )
            department = (
                self._department(row["department"], problems, _("责任部门"))
                if row["department"]
                else None
            )
            platform_code = row["platform"]
            if platform_code and (not SLUG.match(platform_code) or len(platform_code) > 40):
                problems.append(_("平台代码只能用英文字母、数字、连字符"))
            if tier == Tier.COUNTY and platform_code:
                problems.append(_("区县层级不用平台代码"))
            if tier == Tier.COUNTY and not row["department"]:
                problems.append(_("区县层级的规则必须填写责任部门代码"))
            if tier == Tier.TOWN and not (row["department"] or platform_code):
                problems.append(_("乡镇层级的规则必须填写责任部门代码或平台代码"))
            assisting = [
                self._department(c, problems, _("协办部门"))
                for c in spec.split_list(row["assisting"])
            ]
            if problems:
                self.refuse(row, key, problems)
                continue
            assert category is not None and tier is not None
            seen[(row["category"], tier)] = row.number
            helpers = sorted({u.pk for u in assisting if u is not None})
            existing = stored.get((category.pk, tier))
            values = {"department": department, "platform_code": platform_code}
            if existing is None:
                rule = RoutingRule.objects.create(category=category, tier=tier, **values)
                rule.assisting_departments.set(helpers)
                self.result(row, key, Outcome.CREATE, str(department or platform_code))
                continue
            changes = field_changes(
                existing, values, {"department": _("责任部门"), "platform_code": _("平台代码")}
            )
            old = sorted(u.pk for u in existing.assisting_departments.all())
            if old != helpers:
                changes.append(_("协办部门：%(n)s") % {"n": row["assisting"] or _("（空）")})
            if changes:
                for attr, value in values.items():
                    setattr(existing, attr, value)
                existing.save()
                existing.assisting_departments.set(helpers)
                self.result(row, key, Outcome.CHANGE, "；".join(changes))
            else:
                self.result(row, key, Outcome.SAME, str(department or platform_code))

    def limits(self) -> None:
        seen: dict[tuple[str, int | None, str], int] = {}
        stored = {(t.category_id, t.severity, t.step): t for t in TimeLimit.objects.all()}
        for row in self.workbook.sheet("limits"):
            key = f"{row['category']}/{row['severity'] or _('全部')}/{row['step']}"
            problems: list[str] = []
            category = self.category(row["category"])
            if category is None:
                problems.append(self.missing("categories", _("分类"), row["category"]))
            severity = spec.SEVERITY_WORDS.get(row["severity"]) if row["severity"] else None
            if row["severity"] and severity is None:
                problems.append(_("等级只能是 Ⅰ级、Ⅱ级、Ⅲ级（或 1、2、3），或留空"))
            step = spec.STEP_WORDS.get(row["step"])
            if step is None:
                problems.append(
                    _("环节只能是 %(s)s")
                    % {"s": "、".join(str(label) for _v, label in Step.choices)}
                )
            hours = 0.0
            try:
                hours = float(row["hours"])
            except ValueError:
                problems.append(_("时限必须是数字（小时）"))
            else:
                if not 0 < hours < 100_000:
                    problems.append(_("时限必须大于 0"))
            if step is not None and (row["category"], severity, step) in seen:
                problems.append(
                    _("与第 %(n)d 行重复") % {"n": seen[(row["category"], severity, step)]}
                )
            if problems:
                self.refuse(row, key, problems)
                continue
            assert step is not None and category is not None
            seen[(row["category"], severity, step)] = row.number
            existing = stored.get((category.pk, severity, step))
            if existing is None:
                TimeLimit.objects.create(
                    category=category, severity=severity, step=step, hours=hours
                )
                self.result(row, key, Outcome.CREATE, _("%(h)g 小时") % {"h": hours})
            elif existing.hours != hours:
                old = existing.hours
                existing.hours = hours
                existing.save(update_fields=["hours"])
                self.result(
                    row, key, Outcome.CHANGE, _("时限：%(o)g → %(h)g 小时") % {"o": old, "h": hours}
                )
            else:
                self.result(row, key, Outcome.SAME, _("%(h)g 小时") % {"h": hours})
