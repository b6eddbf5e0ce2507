"""A county moves in from the downloadable template: import, route a report, re-import,
dry run, export and round trip."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction

from apps.accounts.models import AccountStatus
from apps.accounts.sessions import MUST_CHANGE_KEY
from apps.cases import services
from apps.cases.models import Case, Category, RoutingRule, TimeLimit
from apps.onboarding import writer
from apps.onboarding.selectors import county_rows
from apps.org.models import Grid, Platform, Profile, Region, Role, Unit
from tests.onboarding.helpers import from_template, import_file, refusals

pytestmark = pytest.mark.django_db

ORG_MODELS = (Region, Platform, Unit, Grid, Profile, User, Category, RoutingRule, TimeLimit)


def counts():
    return {model.__name__: model.objects.count() for model in ORG_MODELS}


def test_the_template_has_one_sheet_per_kind_with_headers_an_example_and_an_explanation():
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(writer.template_xlsx()))
    assert book.sheetnames == [
        "区划",
        "平台",
        "单位",
        "网格",
        "人员",
        "分类",
        "分派规则",
        "时限",
        "填写说明",
    ]
    people = book["人员"]
    assert [c.value for c in people[1]][:4] == ["用户名", "姓名", "手机号", "角色"]
    assert people.max_row == 2 and people["A2"].value == "gw001"
    explained = {(r[0].value, r[1].value) for r in book["填写说明"].iter_rows(min_row=2)}
    assert ("网格", "网格编码") in explained and ("人员", "初始密码") in explained


def test_a_county_imported_from_the_template_takes_a_grid_workers_report_to_its_village():
    report = import_file(from_template())
    assert not report.refused, refusals(report)
    assert report.applied
    village = Region.objects.get(code="330999101001")
    assert village.parent.parent.code == "330999000000"
    worker = User.objects.get(username="gw001")
    assert worker.profile.role == Role.GRID_WORKER
    assert AccountStatus.objects.get(user=worker).must_change_password
    assert Grid.objects.get(code="330999101001001").leader.username == "gl001"
    assert Unit.objects.get(code="t1-cg").platform.code == "zhifa"
    rule = RoutingRule.objects.get(category__code="baolu-laji", tier="county")
    assert list(rule.assisting_departments.values_list("code", flat=True)) == ["dept-sj"]

    case, created = services.case_report(
        reporter=worker,
        category=Category.objects.get(code="baolu-laji"),
        description="路边堆放垃圾",
        lat=30.105,
        lng=120.105,
        accuracy_m=8,
        restrict_to_grids=worker.profile.grids.values_list("pk", flat=True),
    )
    assert created
    services.case_route(case_id=case.pk)
    case = Case.objects.get(pk=case.pk)
    assert case.village_id == village.pk
    assert case.holder_id == village.pk
    assert case.grid.code == "330999101001001"
    assert case.suggested_unit.code == "ws-1"  # routed to the imported village's workstation


def test_imported_accounts_must_change_their_password_at_first_sign_in(client):
    report = import_file(from_template())
    given = {p.username: p.password for p in report.passwords}
    assert "dh-cg" not in given  # its password came from the sheet
    assert set(given) == {"gw001", "gl001", "gw002", "vh001", "td01", "cd01"}
    assert client.login(username="gw001", password=given["gw001"])
    assert client.session[MUST_CHANGE_KEY] is True
    assert client.login(username="dh-cg", password="Qx7-kd93Lm")


def test_a_dry_run_reports_row_by_row_and_writes_nothing():
    before = counts()
    report = import_file(from_template(), dry_run=True)
    assert not report.refused, refusals(report)
    assert not report.applied and report.passwords == []
    assert counts() == before
    outcomes = {(r.sheet, r.key): r.outcome_label for r in report.rows}
    assert outcomes[("区划", "330999101001")] == "新建"
    assert outcomes[("人员", "gw001")] == "新建"
    assert "试导入通过" in report.summary()


def test_reimporting_the_same_workbook_changes_nothing():
    data = from_template()
    import_file(data)
    before = counts()
    hashes = dict(User.objects.values_list("username", "password"))
    again = import_file(data)
    assert not again.refused, refusals(again)
    assert {r.outcome for r in again.rows} == {"same"}
    assert again.passwords == []
    assert counts() == before
    assert dict(User.objects.values_list("username", "password")) == hashes


def test_a_changed_row_reads_as_a_change_with_old_and_new():
    import_file(from_template())
    from tests.onboarding.helpers import SMALL_COUNTY

    rows = {k: [list(r) for r in v] for k, v in SMALL_COUNTY.items()}
    rows["区划"][3][1] = "东城新社区"
    report = import_file(from_template(rows), dry_run=True)
    changed = [r for r in report.rows if r.outcome == "change"]
    assert [(r.key, r.detail) for r in changed] == [("330999101001", "名称：东城社区 → 东城新社区")]
    assert Region.objects.get(code="330999101001").name == "东城社区"  # a dry run


def test_the_command_imports_dry_runs_and_writes_the_template(tmp_path):
    path = tmp_path / "示例县.xlsx"
    path.write_bytes(from_template())
    out = io.StringIO()
    call_command("import_county", str(path), "--dry-run", stdout=out)
    assert "试导入通过" in out.getvalue()
    assert not Region.objects.exists()
    call_command("import_county", str(path), stdout=out)
    assert Region.objects.count() == 5
    passwords = tmp_path / "示例县-初始密码.xlsx"
    assert passwords.exists() and (passwords.stat().st_mode & 0o077) == 0
    assert "Qx7" not in out.getvalue()
    template = tmp_path / "t.xlsx"
    call_command("import_county", "--template", str(template), stdout=io.StringIO())
    assert template.read_bytes()[:2] == b"PK"


def test_an_export_imports_unchanged_into_an_empty_database(tmp_path):
    path = tmp_path / "export.xlsx"
    with transaction.atomic():
        import_file(from_template())
        first = county_rows(Region.objects.get(code="330999000000"))
        call_command("export_county", str(path), stdout=io.StringIO())
        # Re-imported into the same database, the export changes nothing.
        report = import_file(path.read_bytes())
        assert {r.outcome for r in report.rows} == {"same"}, refusals(report)
        transaction.set_rollback(True)
    assert not Region.objects.exists() and not User.objects.exists()
    # Into the empty database: everything is created, and exports the same again.
    report = import_file(path.read_bytes())
    assert not report.refused, refusals(report)
    assert {r.outcome for r in report.rows} == {"create"}
    assert county_rows(Region.objects.get(code="330999000000")) == first


def test_the_demo_county_round_trips_through_its_export(tmp_path):
    from apps.demo.county import build_demo_county

    path = tmp_path / "demo.xlsx"
    with transaction.atomic():
        demo = build_demo_county(grids=40, towns=3, villages_per_town=3)
        first = county_rows(demo.county)
        call_command("export_county", str(path), stdout=io.StringIO())
        report = import_file(path.read_bytes())
        assert {r.outcome for r in report.rows} == {"same"}, refusals(report)[:5]
        transaction.set_rollback(True)
    report = import_file(path.read_bytes())
    assert not report.refused, refusals(report)[:5]
    assert county_rows(Region.objects.get(code=demo.county.code)) == first


def test_a_name_that_looks_like_a_formula_is_exported_as_text():
    import openpyxl

    data, _overflow = writer.county_xlsx({"regions": [["330999000000", "=1+1", "区县", ""]]})
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book["区划"]["B2"].value == "=1+1" and book["区划"]["B2"].data_type == "s"


def test_a_generated_password_is_hashed_with_fewer_rounds_and_upgraded_at_first_sign_in(
    settings,
):
    from django.contrib.auth.hashers import check_password, get_hasher

    from apps.onboarding.services import password_hash

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    encoded = password_hash("Abc7-xyzQ9", generated=True)
    assert encoded.startswith("pbkdf2_sha256$100000$")
    assert check_password("Abc7-xyzQ9", encoded)
    assert get_hasher("default").must_update(encoded)
    chosen = password_hash("Abc7-xyzQ9", generated=False)
    assert chosen.startswith(f"pbkdf2_sha256${get_hasher('default').iterations}$")


def test_an_imported_grid_worker_signs_in_changes_the_password_and_reports_through_the_api():
    """The whole way a county's first grid worker goes: the initial password from the import,
    the field app's first-login password page, then a report over the API, routed to the
    imported village's workstation."""
    import uuid

    from django.test import Client

    report = import_file(from_template())
    initial = {p.username: p.password for p in report.passwords}["gw001"]
    phone = Client()
    signed = phone.post(
        "/field/login/", {"username": "gw001", "password": initial}, REMOTE_ADDR="10.78.0.1"
    )
    assert signed.status_code == 302
    assert phone.get("/field/").url == "/field/password/"
    payload = {
        "id": str(uuid.uuid4()),
        "category": Category.objects.get(code="baolu-laji").pk,
        "description": "路边堆放垃圾",
        "severity": 3,
        "lat": 30.105,
        "lng": 120.105,
        "accuracy_m": 8,
        "position_source": "gps",
    }
    refused = phone.post("/api/reports/", payload, content_type="application/json")
    assert refused.status_code == 403  # not before the password is changed
    chosen = "Wangge-2026xy"
    done = phone.post(
        "/field/password/",
        {"old_password": initial, "new_password1": chosen, "new_password2": chosen},
    )
    assert done.status_code == 302, done.content.decode()[:500]
    assert not AccountStatus.objects.get(user__username="gw001").must_change_password
    response = phone.post("/api/reports/", payload, content_type="application/json")
    assert response.status_code == 201, response.json()
    case = Case.objects.get(client_uuid=payload["id"])
    services.case_route(case_id=case.pk)
    case.refresh_from_db()
    assert case.village.code == "330999101001" and case.town.code == "330999101000"
    assert case.suggested_unit.code == "ws-1"


def test_initial_passwords_go_to_the_owner_only_file_and_nowhere_else(tmp_path, caplog):
    import logging

    import openpyxl

    caplog.set_level(logging.DEBUG)
    path = tmp_path / "县区导入表.xlsx"
    path.write_bytes(from_template())
    out, err = io.StringIO(), io.StringIO()
    call_command("import_county", str(path), "-v", "2", stdout=out, stderr=err)
    book = openpyxl.load_workbook(tmp_path / "县区导入表-初始密码.xlsx")
    given = [row[2] for row in book["初始密码"].iter_rows(min_row=2, values_only=True)]
    assert len(given) == 6
    for password in [*given, "Qx7-kd93Lm"]:
        assert password not in out.getvalue() + err.getvalue()
        assert password not in caplog.text
    from apps.accounts.models import AccountEvent

    assert not any(p in str(e.changes) for e in AccountEvent.objects.all() for p in given)
