"""The 网格 sheet and the boundary file: grids checked and written through
``apps.org.services.grids_import_geojson`` (all together), then their leaders once the people
exist."""

from __future__ import annotations

import json

from django.contrib.auth.models import User
from django.utils.translation import gettext as _

from apps.onboarding.boundaries import GeoJSON
from apps.onboarding.reader import Row
from apps.onboarding.services.base import (
    BOUNDARY_FILE,
    GRID_CODE,
    ImportRun,
    Outcome,
    field_changes,
)
from apps.org.models import (
    Grid,
    Profile,
    Role,
    Tier,
)
from apps.org.services import GridImportError, grids_import_geojson


class Grids(ImportRun):
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
                changes = field_changes(
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
