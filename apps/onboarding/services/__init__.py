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

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from apps.cases import reference
from apps.onboarding.boundaries import GeoJSON
from apps.onboarding.reader import Workbook
from apps.onboarding.services.base import (
    BOUNDARY_FILE,
    GENERATED_PASSWORD_ITERATIONS,
    MAX_REFUSALS_SHOWN,
    ImportReport,
    ImportRun,
    InitialPassword,
    Outcome,
    RowResult,
    initial_password,
    password_hash,
)
from apps.onboarding.services.catalogue import Catalogue
from apps.onboarding.services.grids import Grids
from apps.onboarding.services.people import People
from apps.onboarding.services.places import Places
from apps.org.models import Profile, Region, Role, Tier

__all__ = [
    "BOUNDARY_FILE",
    "GENERATED_PASSWORD_ITERATIONS",
    "ImportReport",
    "ImportRun",
    "InitialPassword",
    "Outcome",
    "RowResult",
    "county_admin_region",
    "county_import",
    "initial_password",
    "password_hash",
    "refused_rows",
]


class _Import(Places, Grids, People, Catalogue):
    """The whole run, sheet by sheet in dependency order."""

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
