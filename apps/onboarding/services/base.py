"""What every part of an import shares: the row outcomes and the report, the small readers of
cells, and ``ImportRun`` — the run's state (the county, what was refused, rows read once) and
its helpers. The parts of the run (places, grids, people, catalogue) are mixins of it."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher, make_password
from django.contrib.auth.models import User
from django.db.models import TextChoices
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.cases.models import Category
from apps.onboarding import spec
from apps.onboarding.boundaries import GeoJSON
from apps.onboarding.reader import Row, Workbook
from apps.org.models import (
    Region,
    Tier,
    Unit,
    UnitKind,
)

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


def cell_yes_no(text: str, problems: list[str], header: str) -> bool:
    if text in ("", spec.YES, "1", "true", "TRUE", "True", "Y", "y"):
        return True
    if text in (spec.NO, "0", "false", "FALSE", "False", "N", "n"):
        return False
    problems.append(_("“%(h)s”只能填 是 或 否") % {"h": header})
    return True


def cell_integer(text: str, problems: list[str], header: str, default: int = 0) -> int:
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


def field_changes(obj: Any, values: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """What would change on ``obj``, as “名称：旧 → 新” phrases."""
    found = []
    for name, value in values.items():
        old = getattr(obj, name)
        if old != value:
            found.append(f"{labels.get(name, name)}：{shown(old)} → {shown(value)}")
    return found


def shown(value: Any) -> str:
    if value is None or value == "":
        return _("（空）")
    if isinstance(value, bool):
        return spec.YES if value else spec.NO
    if isinstance(value, (dict, list)):
        return _("（边界）")
    return str(value)


class ImportRun:
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
