"""The desk's 县区上线 page: county administrators of their own county only; upload, dry run,
confirm; template and export downloads."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.models import AccountStatus
from apps.org.models import Region
from tests.admin.conftest import login
from tests.onboarding.helpers import from_template

pytestmark = pytest.mark.django_db

PAGE = "/admin/onboarding/"


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    """Uploads wait here between the dry run and the confirmation."""
    settings.ONBOARDING_UPLOAD_DIR = str(tmp_path / "uploads")
    return tmp_path / "uploads"


def own_county_people(org) -> bytes:
    village = org.villages["east-v1"]
    grid = org.grids["east-v1-g1"]
    return from_template(
        {"人员": [["gw_new", "新网格员", "", "网格员", village.code, "", grid.code, "", ""]]}
    )


def upload(client, data: bytes, name="县区导入表.xlsx", **extra):
    return client.post(PAGE, {"action": "dry_run", "file": SimpleUploadedFile(name, data), **extra})


@pytest.mark.parametrize("role", ["td", "vh", "leader", "dh", "gw"])
def test_nobody_but_a_county_administrator_may_use_it(org, role):
    client = login(org.users[role])
    for url in (PAGE, "/admin/onboarding/template.xlsx", "/admin/onboarding/export.xlsx"):
        response = client.get(url)
        assert response.status_code in (302, 403), (role, url)
    response = upload(client, own_county_people(org))
    assert response.status_code in (302, 403)
    assert not User.objects.filter(username="gw_new").exists()


def test_a_county_administrator_dry_runs_then_confirms(org, uploads):
    client = login(org.users["cd"])
    page = client.get(PAGE)
    assert page.status_code == 200 and "下载导入模板" in page.content.decode()
    response = upload(client, own_county_people(org))
    body = response.content.decode()
    assert response.status_code == 200, body
    assert "试导入通过" in body and "新建" in body and "gw_new" in body
    assert not User.objects.filter(username="gw_new").exists()
    assert len(list(uploads.iterdir())) == 1  # the workbook waits for the confirmation
    token = client.session["liandong_onboarding_upload"]["token"]
    response = client.post(PAGE, {"action": "confirm", "token": token})
    body = response.content.decode()
    assert response.status_code == 200, body
    assert "导入完成" in body and 'id="initial-passwords"' in body
    user = User.objects.get(username="gw_new")
    assert AccountStatus.objects.get(user=user).must_change_password
    assert user.profile.grids.get() == org.grids["east-v1-g1"]
    assert list(uploads.iterdir()) == []
    # The same token cannot import twice.
    again = client.post(PAGE, {"action": "confirm", "token": token})
    assert again.status_code == 400 and "重新上传" in again.content.decode()


def test_a_county_administrator_may_not_import_another_county(org):
    client = login(org.users["cd"])
    response = upload(client, from_template())  # the 示例县, not 测试区
    body = response.content.decode()
    assert response.status_code == 400
    assert "不是您管理的区县" in body
    assert not Region.objects.filter(code="330999000000").exists()
    assert 'value="confirm"' not in body


def test_a_refused_file_shows_its_reasons_and_offers_no_confirmation(org, uploads):
    client = login(org.users["cd"])
    data = from_template(
        {"人员": [["gw_new", "新网格员", "", "网格员", "330299101999", "", "", "", ""]]}
    )
    response = upload(client, data)
    body = response.content.decode()
    assert response.status_code == 400
    assert "330299101999 不存在" in body and 'value="confirm"' not in body
    assert list(uploads.iterdir()) == []  # nothing to confirm: not kept
    response = upload(client, b"garbage", name="x.xlsx")
    assert response.status_code == 400 and "不是有效的 Excel 工作簿" in response.content.decode()


def test_template_and_export_downloads(org):
    import openpyxl

    client = login(org.users["cd"])
    response = client.get("/admin/onboarding/template.xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert "填写说明" in book.sheetnames
    response = client.get("/admin/onboarding/template/people.csv")
    assert response.status_code == 200 and "用户名" in response.content.decode("utf-8-sig")
    response = client.get("/admin/onboarding/export.xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    codes = [row[0] for row in book["区划"].iter_rows(min_row=2, values_only=True)]
    assert codes[0] == org.county.code and org.villages["east-v1"].code in codes
    people = [row[0] for row in book["人员"].iter_rows(min_row=2, values_only=True)]
    assert "gw" in people and "cd" in people


def test_a_superuser_may_import_a_new_county(org):
    admin = User.objects.create_superuser("root", password="Root-pass-9x")
    client = login_as(admin, "Root-pass-9x")
    response = upload(client, from_template())
    assert response.status_code == 200, response.content.decode()
    token = client.session["liandong_onboarding_upload"]["token"]
    response = client.post(PAGE, {"action": "confirm", "token": token})
    assert response.status_code == 200
    assert Region.objects.filter(code="330999000000").exists()


def login_as(user, password):
    from django.test import Client

    client = Client()
    assert client.login(username=user.username, password=password)
    return client


def test_the_desk_index_links_the_page_for_county_administrators_only(org):
    assert "县区上线" in login(org.users["cd"]).get("/admin/").content.decode()
    assert "县区上线" not in login(org.users["td"]).get("/admin/").content.decode()


def test_a_people_only_file_may_not_reach_into_another_county(org):
    other = Region.objects.create(code="330888000000", name="别县", tier="county")
    town = Region.objects.create(code="330888101000", name="别镇", tier="town", parent=other)
    village = Region.objects.create(code="330888101201", name="别村", tier="village", parent=town)
    client = login(org.users["cd"])
    data = from_template({"人员": [["gw_x", "外县人", "", "网格员", village.code, "", "", "", ""]]})
    response = upload(client, data)
    assert response.status_code == 400
    assert "所属区划 330888101201 不在本区县" in response.content.decode()
    assert not User.objects.filter(username="gw_x").exists()
