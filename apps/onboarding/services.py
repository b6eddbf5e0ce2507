"""Moving a county in (县区上线): its organisation from a workbook, all or nothing.

``county_import`` reads every row of every sheet in dependency order (regions, platforms, units,
grids, people, grid leaders, categories, routing rules, time limits) and decides, row by row,
whether it would be created (新建), changed (修改), left as it is (不变) or refused (拒绝, with
the reason). It writes as it goes, inside one transaction, so that a later row sees the rows
before it exactly as the database will; at the end the transaction commits only if this is not
a dry run and no row was refused. A dry run therefore reports what the import would really do,
and leaves nothing behind, like a refused import.

Rules a county IT office can count on:

1. Nothing is deleted: rows missing from the file stay as they are.
2. An existing region keeps its tier and parent, an existing unit its kind and region (cases
   refer to them); the import changes names, platforms, people, routing and limits.
3. Everything lies in one county: the file's county row, or the county of the administrator.
   A username, a unit code or a region code used in another county is refused.
4. New accounts must change their password at first sign-in. Their initial password is the
   sheet's 初始密码 if given (it must pass the password rules), else generated; the generated
   ones are handed back once in the report (``ImportReport.passwords``) and never logged.
5. Re-importing the same file changes nothing: every row compares equal and reads 不变.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher, make_password
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import TextChoices
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.accounts.audit import account_event_record
from apps.accounts.models import AccountAction, AccountStatus
from apps.accounts.services import account_role_sync
from apps.cases import reference
from apps.cases.models import Category, RoutingRule, Step, TimeBasis, TimeLimit
from apps.onboarding import spec
from apps.onboarding.boundaries import GeoJSON
from apps.onboarding.reader import Row, Workbook
from apps.org.models import (
    ROLE_REGION_TIER,
    TIER_ABOVE,
    Grid,
    Platform,
    Profile,
    Region,
    Role,
    Tier,
    Unit,
    UnitKind,
)
from apps.org.services import GridImportError, grids_import_geojson

DIVISION_CODE = re.compile(r"^\d{12}$")
GRID_CODE = re.compile(r"^\d{15}$")
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
TIER_ORDER: dict[str, int] = {Tier.COUNTY: 0, Tier.TOWN: 1, Tier.VILLAGE: 2}
UNIT_KIND_ORDER: dict[str, int] = {
    UnitKind.DEPARTMENT: 0,
    UnitKind.STATIONED: 1,
    UnitKind.TOWN_OFFICE: 2,
    UnitKind.WORKSTATION: 3,
}
# Letters and digits that cannot be mistaken for one another on a printed list.
PASSWORD_ALPHABETS = ("abcdefghjkmnpqrstuvwxyz", "ABCDEFGHJKMNPQRSTUVWXYZ", "23456789")
MAX_REFUSALS_SHOWN = 500
# Grids that come from the boundary file alone are reported under the file's name.
BOUNDARY_FILE = spec.Sheet("grids", "网格边界文件", "", spec.GRIDS.columns)
# A generated initial password (ten random characters, ~58 bits) is hashed with fewer PBKDF2
# rounds than a chosen one: a county of 3,000 people would otherwise wait half an hour for its
# hashes. The hash is an ordinary pbkdf2_sha256 one; Django re-hashes it at full strength at
# the first sign-in, when the person must choose a password of their own anyway.
GENERATED_PASSWORD_ITERATIONS = 100_000
HASH_THREADS = 4  # PBKDF2 runs outside the GIL: hashes are made side by side


class Outcome(TextChoices):
    CREATE = "create", gettext_lazy("新建")
    CHANGE = "change", gettext_lazy("修改")
    SAME = "same", gettext_lazy("不变")
    REFUSE = "refuse", gettext_lazy("拒绝")


@dataclass
class RowResult:
    sheet: str  # the sheet's Chinese name
    row: int
    key: str  # the row's code or username
    outcome: str
    detail: str = ""

    @property
    def outcome_label(self) -> str:
        return str(Outcome(self.outcome).label)


@dataclass
class InitialPassword:
    username: str
    display_name: str
    password: str

    def __repr__(self) -> str:  # never in a log or a traceback
        return f"InitialPassword({self.username!r}, ******)"


@dataclass
class ImportReport:
    dry_run: bool
    county_code: str = ""
    rows: list[RowResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # about the file as a whole
    passwords: list[InitialPassword] = field(default_factory=list)
    applied: bool = False

    @property
    def refused(self) -> bool:
        return bool(self.errors) or any(r.outcome == Outcome.REFUSE for r in self.rows)

    def counts(self) -> dict[str, dict[str, int]]:
        """Sheet name → outcome → how many rows, in sheet order."""
        found: dict[str, dict[str, int]] = {}
        titles = [sheet.title for sheet in spec.SHEETS]
        titles += sorted({row.sheet for row in self.rows} - set(titles))
        for title in titles:
            per = {o.value: 0 for o in Outcome}
            for row in self.rows:
                if row.sheet == title:
                    per[row.outcome] += 1
            if any(per.values()):
                found[title] = per
        return found

    def summary(self) -> str:
        parts = []
        for sheet, per in self.counts().items():
            figures = "，".join(f"{Outcome(o).label} {n}" for o, n in per.items() if n)
            parts.append(f"{sheet}：{figures}")
        body = "；".join(parts) or _("没有数据行")
        if self.refused:
            refused = sum(1 for r in self.rows if r.outcome == Outcome.REFUSE) + len(self.errors)
            return _("导入被拒绝（%(n)d 个问题），没有写入任何数据。%(b)s。") % {
                "n": refused,
                "b": body,
            }
        if self.dry_run:
            return _("试导入通过，没有写入任何数据。正式导入将：%(b)s。") % {"b": body}
        return _("导入完成：%(b)s。") % {"b": body}


class ImportNotAllowed(Exception):
    """The caller may not import this county (a town dispatcher, another county's centre)."""


def initial_password() -> str:
    """Ten characters from three classes, none that read alike (0/O, 1/l/I) on paper."""
    chars = [secrets.choice(alphabet) for alphabet in PASSWORD_ALPHABETS for _i in range(3)]
    chars.append(secrets.choice("".join(PASSWORD_ALPHABETS)))
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def password_hash(password: str, *, generated: bool) -> str:
    hasher = get_hasher("default")
    if (
        generated
        and isinstance(hasher, PBKDF2PasswordHasher)
        and hasher.iterations > GENERATED_PASSWORD_ITERATIONS
    ):
        return hasher.encode(password, hasher.salt(), iterations=GENERATED_PASSWORD_ITERATIONS)
    return make_password(password)


def _yes_no(text: str, problems: list[str], header: str) -> bool:
    if text in ("", spec.YES, "1", "true", "TRUE", "True", "Y", "y"):
        return True
    if text in (spec.NO, "0", "false", "FALSE", "False", "N", "n"):
        return False
    problems.append(_("“%(h)s”只能填 是 或 否") % {"h": header})
    return True


def _integer(text: str, problems: list[str], header: str, default: int = 0) -> int:
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        problems.append(_("“%(h)s”必须是整数") % {"h": header})
        return default
    if not 0 <= value <= 32767:
        problems.append(_("“%(h)s”必须在 0～32767 之间") % {"h": header})
        return default
    return value


def _changes(obj: Any, values: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """What would change on ``obj``, as “名称：旧 → 新” phrases."""
    found = []
    for name, value in values.items():
        old = getattr(obj, name)
        if old != value:
            found.append(f"{labels.get(name, name)}：{_show(old)} → {_show(value)}")
    return found


def _show(value: Any) -> str:
    if value is None or value == "":
        return _("（空）")
    if isinstance(value, bool):
        return spec.YES if value else spec.NO
    if isinstance(value, (dict, list)):
        return _("（边界）")
    return str(value)


class _Import:
    """One import run: the rows, what is known so far, and the report being written."""

    def __init__(
        self,
        *,
        workbook: Workbook,
        boundaries: dict[str, GeoJSON] | None,
        actor: User | None,
        allowed_county: Region | None,
        dry_run: bool,
    ):
        self.workbook = workbook
        self.boundaries = boundaries or {}
        self.actor = actor
        self.allowed_county = allowed_county
        self.report = ImportReport(dry_run=dry_run)
        self.county: Region | None = None
        self.refused: dict[str, set[str]] = {}  # sheet key → keys refused (for clearer follow-ups)
        self.grid_rows: dict[str, tuple[Row, RowResult]] = {}
        # Rows read once and kept (every write goes through this run, which updates them).
        self._regions: dict[str, Region | None] = {}
        self._units: dict[str, Unit | None] = {}
        self._categories: dict[str, Category | None] = {}
        self._to_hash: list[tuple[User, str, bool]] = []  # (user, password, generated)

    # --- small helpers ---------------------------------------------------------------------
    def result(self, row: Row, key: str, outcome: str, detail: str = "") -> RowResult:
        found = RowResult(row.sheet.title, row.number, key, outcome, detail)
        self.report.rows.append(found)
        if outcome == Outcome.REFUSE:
            self.refused.setdefault(row.sheet.key, set()).add(key)
        return found

    def refuse(self, row: Row, key: str, problems: list[str]) -> None:
        self.result(row, key, Outcome.REFUSE, "；".join(problems) + "。")

    def was_refused(self, sheet: str, key: str) -> bool:
        return key in self.refused.get(sheet, set())

    def missing(self, sheet: str, what: str, key: str) -> str:
        if self.was_refused(sheet, key):
            return _("%(w)s %(k)s 在本文件中被拒绝（见上）") % {"w": what, "k": key}
        return _("%(w)s %(k)s 不存在（本文件和系统中都没有）") % {"w": what, "k": key}

    def county_of(self, region: Region) -> Region:
        node = region
        while node.parent_id is not None:
            node = Region.objects.get(pk=node.parent_id) if node.parent is None else node.parent
        return node

    def in_county(self, region: Region) -> bool:
        return self.county is not None and self.county_of(region).pk == self.county.pk

    def region(self, code: str) -> Region | None:
        if code not in self._regions:
            self._regions[code] = (
                Region.objects.select_related("parent__parent").filter(code=code).first()
            )
        return self._regions[code]

    def unit(self, code: str) -> Unit | None:
        if code not in self._units:
            self._units[code] = (
                Unit.objects.select_related("region__parent__parent").filter(code=code).first()
            )
        return self._units[code]

    def category(self, code: str) -> Category | None:
        if code not in self._categories:
            self._categories[code] = Category.objects.filter(code=code).first()
        return self._categories[code]

    def town_of(self, region: Region) -> Region | None:
        if region.tier == Tier.VILLAGE:
            return region.parent
        return region if region.tier == Tier.TOWN else None

    # --- the run ---------------------------------------------------------------------------
    def run(self) -> None:
        self.regions()
        if self.county is None:
            return
        self.report.county_code = self.county.code
        self.platforms()
        self.units()
        self.workstations_check()
        self.grids()
        self.people()
        self.grid_leaders()
        self.categories()
        self.routing()
        self.limits()
        if not self.report.refused:
            self.passwords_hash()
        reference.invalidate()  # in this transaction: the copies go when it commits

    def passwords_hash(self) -> None:
        """The new accounts' password hashes, made side by side and written in one go."""
        if not self._to_hash:
            return
        with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
            hashes = list(
                pool.map(lambda item: password_hash(item[1], generated=item[2]), self._to_hash)
            )
        for (user, _password, _generated), encoded in zip(self._to_hash, hashes):
            user.password = encoded
        User.objects.bulk_update([user for user, _p, _g in self._to_hash], ["password"], 500)
        self._to_hash = []

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

    def _cycles(self, parents: dict[str, str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in parents:
            path = [start]
            node = parents.get(start)
            while node is not None and node not in path and len(path) < 10:
                path.append(node)
                node = parents.get(node)
            if node is not None and node in path:
                loop = path[path.index(node) :] + [node]
                for code in loop:
                    found.setdefault(code, " → ".join(loop))
        return found

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
            changes = _changes(existing, {"name": name}, {"name": _("名称")})
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
            sort_order = _integer(row["sort_order"], problems, "排序")
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
            changes = _changes(existing, values, {"name": _("名称"), "sort_order": _("排序")})
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
            active = _yes_no(row["active"], problems, "启用")
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
            changes = _changes(
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

    # --- 网格 ------------------------------------------------------------------------------
    def grids(self) -> None:
        features: list[GeoJSON] = []
        pending: dict[str, tuple[Row, str, str]] = {}  # code → (row, outcome, detail)
        seen: dict[str, int] = {}
        for row in self._grid_rows():
            code, name, village_code = row["code"], row["name"], row["village"]
            problems: list[str] = []
            if not GRID_CODE.match(code):
                problems.append(_("网格编码必须是 15 位数字（村/社区代码 + 3 位序号）"))
            elif code in seen:
                problems.append(_("网格编码与第 %(n)d 行重复") % {"n": seen[code]})
            elif not code.startswith(village_code):
                problems.append(_("网格编码必须以所属村/社区代码 %(v)s 开头") % {"v": village_code})
            if not name or len(name) > 100:
                problems.append(_("网格名称不能为空，且不超过 100 个字"))
            village = self.region(village_code)
            if village is None:
                problems.append(self.missing("regions", _("村/社区"), village_code or _("（空）")))
            elif village.tier != Tier.VILLAGE or not self.in_county(village):
                problems.append(_("%(c)s 不是本区县的村/社区") % {"c": village_code})
            boundary: GeoJSON | None = None
            if row["boundary"]:
                try:
                    boundary = json.loads(row["boundary"])
                except json.JSONDecodeError:
                    problems.append(_("“边界”不是合法的 GeoJSON"))
                else:
                    if isinstance(boundary, dict) and boundary.get("type") == "Feature":
                        boundary = boundary.get("geometry")
                    if not isinstance(boundary, dict):
                        problems.append(_("“边界”必须是 GeoJSON 几何（Polygon 或 MultiPolygon）"))
                        boundary = None
            elif code in self.boundaries:
                boundary = self.boundaries[code]
            existing = (
                Grid.objects.select_related("village").filter(code=code).first()
                if GRID_CODE.match(code)
                else None
            )
            if existing is not None and not problems and not self.in_county(existing.village):
                problems.append(_("网格编码已被其他区县使用"))
            if boundary is None and existing is None and not problems:
                problems.append(_("缺少边界：填写“边界”列，或另附含此网格编码的边界文件"))
            if problems:
                self.refuse(row, code, problems)
                continue
            seen[code] = row.number
            assert village is not None
            outcome: str
            if existing is None:
                outcome, detail = Outcome.CREATE, name
            else:
                changes = _changes(
                    existing,
                    {
                        "name": name,
                        "village_id": village.pk,
                        **({"boundary": boundary} if boundary else {}),
                    },
                    {"name": _("名称"), "village_id": _("所属村/社区"), "boundary": _("边界")},
                )
                outcome = Outcome.CHANGE if changes else Outcome.SAME
                detail = "；".join(changes) if changes else name
            if outcome != Outcome.SAME:
                features.append(
                    {
                        "type": "Feature",
                        "properties": {"code": code, "name": name, "village_code": village_code},
                        "geometry": boundary if boundary is not None else existing.boundary,  # type: ignore[union-attr]
                    }
                )
            pending[code] = (row, outcome, detail)
        listed = {r["code"] for r in self._grid_rows()}
        unknown = sorted(set(self.boundaries) - listed)
        if unknown:
            self.report.errors.append(
                _("边界文件里的网格不在“网格”表里，文件也没有给出网格名称：%(c)s")
                % {"c": "、".join(unknown[:20])}
            )
        refused_codes: dict[str, str] = {}
        if features:
            try:
                grids_import_geojson(data={"type": "FeatureCollection", "features": features})
            except GridImportError as exc:
                for error in exc.errors:
                    code = next((c for c in pending if c in error), "")
                    if code:
                        refused_codes.setdefault(code, error)
                    else:
                        self.report.errors.append(error)
                if not refused_codes and not self.report.errors:
                    self.report.errors.extend(exc.errors)
        for code, (row, outcome, detail) in pending.items():
            if code in refused_codes:
                self.refuse(row, code, [refused_codes[code].rstrip("。")])
            elif (
                features
                and any(f["properties"]["code"] == code for f in features)
                and (refused_codes or self.report.errors)
            ):
                # The grids are written together: one bad boundary holds back the others.
                self.result(row, code, outcome, detail + _("（未写入：其他网格被拒绝）"))
            else:
                self.grid_rows[code] = (row, self.result(row, code, outcome, detail))

    def _grid_rows(self) -> list[Row]:
        """The 网格 sheet's rows, then a row for each grid the boundary file names (code and
        name) that the sheet does not list: its village is the first 12 digits of its code,
        its leader is left as it is."""
        rows = list(self.workbook.sheet("grids"))
        listed = {r["code"] for r in rows}
        names: dict[str, str] = getattr(self.boundaries, "names", {})
        for number, code in enumerate(self.boundaries, start=1):
            if code not in listed and names.get(code):
                values = {
                    "code": code,
                    "name": names[code],
                    "village": code[:12],
                    "keep_leader": "1",
                }
                rows.append(Row(BOUNDARY_FILE, number, values))
        return rows

    # --- 人员 ------------------------------------------------------------------------------
    def people(self) -> None:
        seen: dict[str, int] = {}
        validator = UnicodeUsernameValidator()
        for row in self.workbook.sheet("people"):
            username = row["username"]
            problems: list[str] = []
            active = _yes_no(row["active"], problems, "启用")
            role = spec.ROLE_WORDS.get(row["role"])
            try:
                validator(username)
            except ValidationError:
                problems.append(_("用户名只能用字母、数字和 @.+-_"))
            if not username or len(username) > 150:
                problems.append(_("用户名不能为空，且不超过 150 个字符"))
            elif username in seen:
                problems.append(_("用户名与第 %(n)d 行重复") % {"n": seen[username]})
            seen.setdefault(username, row.number)
            display_name = row["display_name"]
            if not display_name or len(display_name) > 60:
                problems.append(_("姓名不能为空，且不超过 60 个字"))
            if len(row["phone"]) > 20:
                problems.append(_("手机号太长"))
            if role is None:
                problems.append(_("角色“%(r)s”不认识") % {"r": row["role"]})
            region = unit = None
            if row["region"]:
                region = self.region(row["region"])
                if region is None:
                    problems.append(self.missing("regions", _("所属区划"), row["region"]))
                elif not self.in_county(region):
                    problems.append(_("所属区划 %(c)s 不在本区县") % {"c": region.code})
            if row["unit"]:
                unit = self.unit(row["unit"])
                if unit is None:
                    problems.append(self.missing("units", _("所属单位"), row["unit"]))
                elif not self.in_county(unit.region):
                    problems.append(_("所属单位 %(c)s 不在本区县") % {"c": unit.code})
            grid_codes = spec.split_list(row["grids"])
            grids = list(Grid.objects.select_related("village__parent").filter(code__in=grid_codes))
            for code in sorted(set(grid_codes) - {g.code for g in grids}):
                problems.append(self.missing("grids", _("网格"), code))
            for grid in grids:
                if not self.in_county(grid.village):
                    problems.append(_("网格 %(c)s 不在本区县") % {"c": grid.code})
            if role is not None and not problems:
                problems.extend(self._role_check(role, region, unit, grids))
            existing = User.objects.filter(username=username).first() if username else None
            profile = (
                Profile.objects.select_related("region", "unit__region")
                .filter(user=existing)
                .first()
                if existing
                else None
            )
            if existing is not None and not problems:
                home = (
                    profile.region
                    if profile and profile.region
                    else (profile.unit.region if profile and profile.unit else None)
                )
                if existing.is_superuser or home is None or not self.in_county(home):
                    problems.append(
                        _("用户名 %(u)s 已被系统中其他区县或系统管理员的账号使用") % {"u": username}
                    )
            password = row["password"]
            if existing is None and password and not problems:
                try:
                    validate_password(password, User(username=username, first_name=display_name))
                except ValidationError as exc:
                    problems.append(
                        _("初始密码不符合密码规则：%(m)s") % {"m": "".join(exc.messages)}
                    )
            if problems:
                self.refuse(row, username, problems)
                continue
            assert role is not None
            values = {
                "role": role,
                "display_name": display_name,
                "phone": row["phone"],
                "region": region,
                "unit": unit,
            }
            labels = {
                "role": _("角色"),
                "display_name": _("姓名"),
                "phone": _("手机号"),
                "region": _("所属区划"),
                "unit": _("所属单位"),
            }
            if existing is None:
                self._person_create(row, username, values, grids, password, active)
                continue
            changes = _changes(profile, values, labels) if profile else [_("补建人员信息")]
            old_grids = sorted(profile.grids.values_list("code", flat=True)) if profile else []
            if old_grids != sorted(g.code for g in grids):
                changes.append(
                    _("负责网格：%(o)s → %(n)s")
                    % {
                        "o": "、".join(old_grids) or _("（空）"),
                        "n": "、".join(sorted(g.code for g in grids)) or _("（空）"),
                    }
                )
            if existing.is_active != active:
                changes.append(
                    _("启用：%(o)s → %(n)s") % {"o": _show(existing.is_active), "n": _show(active)}
                )
            if not changes:
                self.result(row, username, Outcome.SAME, display_name)
                continue
            with transaction.atomic():
                if profile is None:
                    profile = Profile.objects.create(user=existing, **values)
                else:
                    for attr, value in values.items():
                        setattr(profile, attr, value)
                    profile.save()
                profile.grids.set(grids)
                if existing.is_active != active:
                    existing.is_active = active
                    existing.save(update_fields=["is_active"])
                account_role_sync(user=existing)
                account_event_record(
                    actor=self.actor,
                    target=existing,
                    action=AccountAction.CHANGE,
                    changes={"import": changes},
                )
            self.result(row, username, Outcome.CHANGE, "；".join(changes))

    def _role_check(
        self, role: str, region: Region | None, unit: Unit | None, grids: list[Grid]
    ) -> list[str]:
        problems = []
        if role == Role.DEPARTMENT_HANDLER:
            if unit is None:
                problems.append(_("部门处置人员必须填写所属单位代码"))
            if region is not None:
                problems.append(_("部门处置人员不填所属区划（以单位为准）"))
        else:
            needed = ROLE_REGION_TIER.get(role)
            if region is None:
                problems.append(_("%(r)s必须填写所属区划代码") % {"r": Role(role).label})
            elif needed is not None and region.tier != needed:
                problems.append(
                    _("%(r)s的所属区划必须是%(t)s，而 %(c)s 是%(rt)s")
                    % {
                        "r": Role(role).label,
                        "t": spec.tier_label(needed),
                        "c": region.code,
                        "rt": spec.tier_label(region.tier),
                    }
                )
            if unit is not None and not (
                role == Role.VILLAGE_HANDLER
                and unit.kind == UnitKind.WORKSTATION
                and region is not None
                and unit.region_id == region.pk
            ):
                problems.append(_("只有部门处置人员填单位；工作站人员可填本村/社区的工作站"))
        if grids and role not in (Role.GRID_WORKER, Role.GRID_LEADER):
            problems.append(_("只有网格员、网格长负责网格"))
        # One person, one town: their region, their unit and their grids lie in the same town.
        towns: dict[str, str] = {}
        for place in (
            ([region] if region else [])
            + ([unit.region] if unit else [])
            + [g.village for g in grids]
        ):
            town = self.town_of(place)
            if town is not None:
                towns[town.code] = town.name
        if len(towns) > 1:
            problems.append(
                _("同一个人不能分属两个乡镇（%(t)s）")
                % {"t": "、".join(f"{n} {c}" for c, n in sorted(towns.items()))}
            )
        return problems

    def _person_create(
        self,
        row: Row,
        username: str,
        values: dict[str, Any],
        grids: list[Grid],
        password: str,
        active: bool,
    ) -> None:
        user = User(username=username, is_active=active, first_name=values["display_name"][:150])
        user.set_unusable_password()  # the real hash is written with the others, at the end
        if not self.report.dry_run:  # a dry run is rolled back: no passwords, no hashing
            generated = not password
            if generated:
                password = initial_password()
                self.report.passwords.append(
                    InitialPassword(username, values["display_name"], password)
                )
            self._to_hash.append((user, password, generated))
        user.save()
        profile = Profile.objects.create(user=user, **values)
        profile.grids.set(grids)
        account_role_sync(user=user)
        AccountStatus.objects.update_or_create(user=user, defaults={"must_change_password": True})
        account_event_record(
            actor=self.actor,
            target=user,
            action=AccountAction.CREATE,
            changes={"import": True, "role": values["role"]},
        )
        self.result(
            row,
            username,
            Outcome.CREATE,
            f"{values['display_name']}（{Role(values['role']).label}）",
        )

    def grid_leaders(self) -> None:
        for code, (row, found) in self.grid_rows.items():
            if found.outcome == Outcome.REFUSE or row["keep_leader"]:
                continue
            grid = Grid.objects.filter(code=code).select_related("leader").first()
            if grid is None:
                continue
            leader = None
            if row["leader"]:
                leader = User.objects.filter(username=row["leader"]).first()
                profile = Profile.objects.filter(user=leader).first() if leader else None
                if leader is None:
                    found.outcome, found.detail = (
                        Outcome.REFUSE,
                        self.missing("people", _("网格长"), row["leader"]) + "。",
                    )
                    continue
                if (
                    profile is None
                    or profile.role != Role.GRID_LEADER
                    or profile.region_id != grid.village_id
                ):
                    found.outcome = Outcome.REFUSE
                    found.detail = _("网格长 %(u)s 必须是本村/社区的网格长（角色为网格长）。") % {
                        "u": row["leader"]
                    }
                    continue
            if grid.leader_id != (leader.pk if leader else None):
                change = _("网格长：%(o)s → %(n)s") % {
                    "o": grid.leader.username if grid.leader else _("（空）"),
                    "n": row["leader"] or _("（空）"),
                }
                Grid.objects.filter(pk=grid.pk).update(leader=leader)
                if found.outcome == Outcome.SAME:
                    found.outcome, found.detail = Outcome.CHANGE, change
                elif found.outcome == Outcome.CHANGE:
                    found.detail += "；" + change

    # --- 分类、分派规则、时限 ---------------------------------------------------------------
    def categories(self) -> None:
        rows = self.workbook.sheet("categories")
        parents = {r["code"]: r["parent"] for r in rows if r["parent"]}
        cyclic = self._cycles(parents)
        seen: dict[str, int] = {}
        for row in sorted(rows, key=lambda r: bool(r["parent"])):  # 大类 first
            code, name, parent_code = row["code"], row["name"], row["parent"]
            problems: list[str] = []
            active = _yes_no(row["active"], problems, "启用")
            sort_order = _integer(row["sort_order"], problems, "排序")
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
            changes = _changes(
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
            changes = _changes(
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


class _Refused(Exception):
    """Raised inside the transaction to undo it (a dry run, or a refused row)."""


def county_import(
    *,
    workbook: Workbook,
    boundaries: dict[str, GeoJSON] | None = None,
    actor: User | None = None,
    allowed_county: Region | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import a county's organisation from ``workbook`` (see the module docstring), all or
    nothing. ``allowed_county``: the county the caller administers (None: any county, for a
    superuser or the command line). Returns the report; ``report.applied`` says whether
    anything was written."""
    run = _Import(
        workbook=workbook,
        boundaries=boundaries,
        actor=actor,
        allowed_county=allowed_county,
        dry_run=dry_run,
    )
    try:
        with transaction.atomic():
            run.run()
            if run.report.refused or dry_run:
                raise _Refused
    except _Refused:
        run.report.passwords = []  # nothing was written: no account has these
        return run.report
    run.report.applied = True
    return run.report


def county_admin_region(user: Any) -> Region | None:
    """The county ``user`` may import and export: a county dispatcher's (区县指挥中心, the
    county's account administrator) own county. Superusers use ``allowed_county=None``."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    profile = Profile.objects.select_related("region").filter(user_id=user.pk).first()
    if profile is None or profile.role != Role.COUNTY_DISPATCHER or profile.region is None:
        return None
    return profile.region if profile.region.tier == Tier.COUNTY else None


def refused_rows(report: ImportReport) -> Iterable[RowResult]:
    return [r for r in report.rows if r.outcome == Outcome.REFUSE][:MAX_REFUSALS_SHOWN]
