"""The 人员 sheet: accounts and their places (role, region or unit, grids; one town each), new
accounts with a password to change at first sign-in, the hashes made together at the end."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts.audit import account_event_record
from apps.accounts.models import AccountAction, AccountStatus
from apps.accounts.services import account_role_sync
from apps.onboarding import spec
from apps.onboarding.reader import Row
from apps.onboarding.services.base import (
    HASH_THREADS,
    ImportRun,
    InitialPassword,
    Outcome,
    cell_yes_no,
    field_changes,
    initial_password,
    password_hash,
    shown,
)
from apps.org.models import (
    ROLE_REGION_TIER,
    Grid,
    Profile,
    Region,
    Role,
    Unit,
    UnitKind,
)


class People(ImportRun):
    # --- 人员 ------------------------------------------------------------------------------
    def people(self) -> None:
        seen: dict[str, int] = {}
        validator = UnicodeUsernameValidator()
        for row in self.workbook.sheet("people"):
            username = row["username"]
            problems: list[str] = []
            active = cell_yes_no(row["active"], problems, "启用")
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
            changes = field_changes(profile, values, labels) if profile else [_("补建人员信息")]
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
                    _("启用：%(o)s → %(n)s") % {"o": shown(existing.is_active), "n": shown(active)}
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
