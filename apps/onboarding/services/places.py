"""The 区划, 平台 and 单位 sheets: regions (in tier order, one county per file, no loops), the
towns' platforms, units — and a workstation for every new village."""

from __future__ import annotations

from django.utils.translation import gettext as _

from apps.onboarding import spec
from apps.onboarding.reader import Row
from apps.onboarding.services.base import (
    DIVISION_CODE,
    SLUG,
    TIER_ORDER,
    UNIT_KIND_ORDER,
    ImportRun,
    Outcome,
    cell_integer,
    cell_yes_no,
    field_changes,
)
from apps.org.models import (
    TIER_ABOVE,
    Platform,
    Region,
    Tier,
    Unit,
    UnitKind,
)


class Places(ImportRun):
    # --- 区划 ------------------------------------------------------------------------------
    def regions(self) -> None:
        rows = self.workbook.sheet("regions")
        parsed: list[tuple[Row, str, str, str, str]] = []
        seen: dict[str, int] = {}
        parents: dict[str, str] = {}
        for row in rows:
            code, name, parent = row["code"], row["name"], row["parent"]
            tier = spec.TIER_WORDS.get(row["tier"])
            problems = []
            if not DIVISION_CODE.match(code):
                problems.append(_("区划代码必须是 12 位数字"))
            elif code in seen:
                problems.append(_("区划代码与第 %(n)d 行重复") % {"n": seen[code]})
            if not name or len(name) > 100:
                problems.append(_("名称不能为空，且不超过 100 个字"))
            if tier is None:
                problems.append(
                    _("层级“%(t)s”不认识，应为 区县、乡镇/街道、村/社区") % {"t": row["tier"]}
                )
            if parent and not DIVISION_CODE.match(parent):
                problems.append(_("上级区划代码必须是 12 位数字"))
            if problems:
                self.refuse(row, code, problems)
                continue
            assert tier is not None
            seen[code] = row.number
            if parent:
                parents[code] = parent
            parsed.append((row, code, name, tier, parent))
        cyclic = self._cycles(parents)
        counties = [p for p in parsed if p[3] == Tier.COUNTY and p[1] not in cyclic]
        # The county: the file's county row, else the administrator's, else the only one.
        if len(counties) > 1:
            for row, code, *_rest in counties[1:]:
                self.refuse(
                    row,
                    code,
                    [
                        _("一个文件只能有一个区县（第 %(n)d 行已是区县）")
                        % {"n": counties[0][0].number}
                    ],
                )
        if counties:
            county_code = counties[0][1]
            existing = Region.objects.filter(code=county_code).first()
            if self.allowed_county is not None and county_code != self.allowed_county.code:
                self.report.errors.append(
                    _("文件里的区县 %(c)s 不是您管理的区县 %(m)s（%(n)s），不能导入。")
                    % {
                        "c": county_code,
                        "m": self.allowed_county.code,
                        "n": self.allowed_county.name,
                    }
                )
                return
            if existing is not None and existing.tier != Tier.COUNTY:
                self.refuse(
                    counties[0][0],
                    county_code,
                    [
                        _("代码 %(c)s 在系统中已是%(t)s，不是区县")
                        % {"c": county_code, "t": spec.tier_label(existing.tier)}
                    ],
                )
                return
        elif self.allowed_county is not None:
            self.county = self.allowed_county
        else:
            all_counties = list(Region.objects.filter(tier=Tier.COUNTY)[:2])
            if len(all_counties) != 1:
                self.report.errors.append(
                    _(
                        "文件的“区划”表里没有区县一行，系统中也没有唯一的区县：请在“区划”表第一行写上区县。"
                    )
                )
                return
            self.county = all_counties[0]
        parsed.sort(key=lambda p: TIER_ORDER[p[3]])  # counties, then towns, then villages
        for row, code, name, tier, parent in parsed:
            if code in cyclic:
                self.refuse(row, code, [_("上级关系成环：%(c)s") % {"c": cyclic[code]}])
                continue
            if tier == Tier.COUNTY and counties and code != counties[0][1]:
                continue  # refused above
            if tier != Tier.COUNTY and counties and self.county is None:
                self.refuse(
                    row,
                    code,
                    [
                        _("本文件的区县（第 %(n)d 行）被拒绝，本行未检查")
                        % {"n": counties[0][0].number}
                    ],
                )
                continue
            self._region_row(row, code, name, tier, parent)

    def _region_row(self, row: Row, code: str, name: str, tier: str, parent_code: str) -> None:
        problems = []
        parent: Region | None = None
        expected = TIER_ABOVE[tier]
        if expected is None:
            if parent_code:
                problems.append(_("区县没有上级，“上级区划代码”应留空"))
        elif not parent_code:
            problems.append(_("%(t)s必须填写上级区划代码") % {"t": spec.tier_label(tier)})
        else:
            parent = self.region(parent_code)
            if parent is None:
                problems.append(self.missing("regions", _("上级区划"), parent_code))
            elif parent.tier != expected:
                problems.append(
                    _("上级 %(p)s（%(n)s）是%(pt)s，%(t)s的上级必须是%(et)s")
                    % {
                        "p": parent.code,
                        "n": parent.name,
                        "pt": spec.tier_label(parent.tier),
                        "t": spec.tier_label(tier),
                        "et": spec.tier_label(expected),
                    }
                )
            else:
                prefix = 6 if tier == Tier.TOWN else 9
                if code[:prefix] != parent.code[:prefix]:
                    problems.append(
                        _("区划代码必须以上级区划代码的前 %(n)d 位开头") % {"n": prefix}
                    )
                if tier == Tier.TOWN:
                    # The county row was written first: the town's parent must be this county.
                    if self.county is not None and parent.pk != self.county.pk:
                        problems.append(_("上级不是本文件的区县 %(c)s") % {"c": self.county.code})
                elif not self.in_county(parent):
                    problems.append(_("上级乡镇不在本区县"))
        existing = self.region(code)
        if existing is not None and not problems:
            if existing.tier != tier or existing.parent_id != (parent.pk if parent else None):
                problems.append(
                    _("系统中已有此区划（%(n)s），导入不能改变它的层级或上级")
                    % {"n": existing.name}
                )
            elif tier != Tier.COUNTY and not self.in_county(existing):
                problems.append(_("此区划属于其他区县"))
        if problems:
            self.refuse(row, code, problems)
            return
        if existing is None:
            region = Region.objects.create(code=code, name=name, tier=tier, parent=parent)
            self._regions[code] = region
            self.result(row, code, Outcome.CREATE, name)
        else:
            region = existing
            changes = field_changes(existing, {"name": name}, {"name": _("名称")})
            if changes:
                existing.name = name
                existing.save(update_fields=["name"])
                self.result(row, code, Outcome.CHANGE, "；".join(changes))
            else:
                self.result(row, code, Outcome.SAME, name)
        if tier == Tier.COUNTY:
            self.county = region

    # --- 平台 ------------------------------------------------------------------------------
    def platforms(self) -> None:
        seen: dict[tuple[str, str], int] = {}
        for row in self.workbook.sheet("platforms"):
            town_code, code, name = row["town"], row["code"], row["name"]
            key = f"{town_code}/{code}"
            problems: list[str] = []
            sort_order = cell_integer(row["sort_order"], problems, "排序")
            town = self.region(town_code)
            if town is None:
                problems.append(self.missing("regions", _("乡镇"), town_code))
            elif town.tier != Tier.TOWN or not self.in_county(town):
                problems.append(_("%(c)s 不是本区县的乡镇/街道") % {"c": town_code})
            if not SLUG.match(code) or len(code) > 40:
                problems.append(_("平台代码只能用英文字母、数字、连字符，不超过 40 个字符"))
            if not name or len(name) > 60:
                problems.append(_("平台名称不能为空，且不超过 60 个字"))
            if (town_code, code) in seen:
                problems.append(_("与第 %(n)d 行重复") % {"n": seen[(town_code, code)]})
            if problems:
                self.refuse(row, key, problems)
                continue
            seen[(town_code, code)] = row.number
            existing = Platform.objects.filter(town=town, code=code).first()
            values = {"name": name, "sort_order": sort_order}
            assert town is not None
            if existing is None:
                Platform.objects.create(town=town, code=code, **values)
                self.result(row, key, Outcome.CREATE, name)
                continue
            changes = field_changes(existing, values, {"name": _("名称"), "sort_order": _("排序")})
            if changes:
                for attr, value in values.items():
                    setattr(existing, attr, value)
                existing.save()
                self.result(row, key, Outcome.CHANGE, "；".join(changes))
            else:
                self.result(row, key, Outcome.SAME, name)

    # --- 单位 ------------------------------------------------------------------------------
    def units(self) -> None:
        rows = sorted(
            self.workbook.sheet("units"),
            key=lambda r: UNIT_KIND_ORDER.get(spec.UNIT_KIND_WORDS.get(r["kind"], ""), 9),
        )
        seen: dict[str, int] = {}
        for row in rows:
            code, name = row["code"], row["name"]
            kind = spec.UNIT_KIND_WORDS.get(row["kind"])
            problems: list[str] = []
            active = cell_yes_no(row["active"], problems, "启用")
            if not SLUG.match(code) or len(code) > 60:
                problems.append(_("单位代码只能用英文字母、数字、连字符，不超过 60 个字符"))
            elif code in seen:
                problems.append(_("单位代码与第 %(n)d 行重复") % {"n": seen[code]})
            if not name or len(name) > 100:
                problems.append(_("单位名称不能为空，且不超过 100 个字"))
            if kind is None:
                problems.append(
                    _("类型“%(k)s”不认识，应为 县级部门、派驻机构、乡镇站所、村/社区工作站")
                    % {"k": row["kind"]}
                )
            region = self.region(row["region"])
            if region is None:
                problems.append(
                    self.missing("regions", _("所在区划"), row["region"] or _("（空）"))
                )
            elif not self.in_county(region):
                problems.append(_("所在区划 %(c)s 不在本区县") % {"c": region.code})
            elif kind is not None:
                needed: str = {
                    UnitKind.DEPARTMENT: Tier.COUNTY,
                    UnitKind.STATIONED: Tier.TOWN,
                    UnitKind.TOWN_OFFICE: Tier.TOWN,
                    UnitKind.WORKSTATION: Tier.VILLAGE,
                }[UnitKind(kind)]
                if region.tier != needed:
                    problems.append(
                        _("%(k)s必须设在%(t)s，而 %(c)s 是%(rt)s")
                        % {
                            "k": UnitKind(kind).label,
                            "t": spec.tier_label(needed),
                            "c": region.code,
                            "rt": spec.tier_label(region.tier),
                        }
                    )
            department = None
            if row["department"]:
                department = self.unit(row["department"])
                if kind != UnitKind.STATIONED:
                    problems.append(_("只有派驻机构填写所属部门"))
                elif department is None:
                    problems.append(self.missing("units", _("所属部门"), row["department"]))
                elif department.kind != UnitKind.DEPARTMENT or not self.in_county(
                    department.region
                ):
                    problems.append(
                        _("所属部门 %(c)s 不是本区县的县级部门") % {"c": row["department"]}
                    )
            elif kind == UnitKind.STATIONED:
                problems.append(_("派驻机构必须填写所属部门代码"))
            platform = None
            if row["platform"]:
                if kind not in (UnitKind.STATIONED, UnitKind.TOWN_OFFICE):
                    problems.append(_("只有派驻机构和乡镇站所归入平台"))
                elif region is not None and region.tier == Tier.TOWN:
                    platform = Platform.objects.filter(town=region, code=row["platform"]).first()
                    if platform is None:
                        problems.append(
                            _("乡镇 %(t)s 没有代码为 %(p)s 的平台（先在“平台”表加上）")
                            % {"t": region.code, "p": row["platform"]}
                        )
            existing = self.unit(code) if SLUG.match(code) else None
            if existing is not None and not problems:
                if not self.in_county(existing.region):
                    problems.append(_("单位代码已被其他区县使用"))
                elif existing.kind != kind or existing.region_id != getattr(region, "pk", None):
                    problems.append(_("系统中已有此单位，导入不能改变它的类型或所在区划"))
            if problems:
                self.refuse(row, code, problems)
                continue
            seen[code] = row.number
            values = {
                "name": name,
                "department": department,
                "platform": platform,
                "is_active": active,
            }
            assert kind is not None and region is not None
            if existing is None:
                self._units[code] = Unit.objects.create(
                    code=code, kind=kind, region=region, **values
                )
                self.result(row, code, Outcome.CREATE, name)
                continue
            changes = field_changes(
                existing,
                values,
                {
                    "name": _("名称"),
                    "department": _("所属部门"),
                    "platform": _("平台"),
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

    def workstations_check(self) -> None:
        """Every village made by this file has a workstation: a new case goes to it first."""
        for found in list(self.report.rows):
            if found.sheet != spec.REGIONS.title or found.outcome != Outcome.CREATE:
                continue
            village = Region.objects.filter(code=found.key, tier=Tier.VILLAGE).first()
            if (
                village is not None
                and not Unit.objects.filter(
                    region=village, kind=UnitKind.WORKSTATION, is_active=True
                ).exists()
            ):
                found.outcome = Outcome.REFUSE
                found.detail = _(
                    "村/社区 %(n)s 没有工作站：在“单位”表加一行类型为“村/社区工作站”的单位。"
                ) % {"n": village.name}
