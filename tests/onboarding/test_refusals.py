"""Bad files get a clear refusal in Chinese and leave nothing behind."""

from __future__ import annotations

import io
import re
import zipfile

import openpyxl
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from apps.onboarding.reader import FileRefused, workbook_read
from apps.org.models import Grid, Region, Unit
from tests.onboarding.helpers import SMALL_COUNTY, from_template, import_file, refusals

pytestmark = pytest.mark.django_db


def rows_with(**changes):
    """SMALL_COUNTY with some rows replaced: ``sheet=[(index, row)]``, index None = append."""
    rows = {k: [list(r) for r in v] for k, v in SMALL_COUNTY.items()}
    for sheet, edits in changes.items():
        for index, row in edits:
            if index is None:
                rows[sheet].append(row)
            else:
                rows[sheet][index] = row
    return rows


def assert_nothing_written():
    assert not Region.objects.exists()
    assert not Unit.objects.exists()
    assert not Grid.objects.exists()
    assert not User.objects.exists()


def refused_with(rows, pattern: str, **kwargs) -> list[str]:
    report = import_file(from_template(rows), **kwargs)
    assert report.refused and not report.applied
    found = refusals(report)
    assert any(re.search(pattern, line) for line in found), found
    assert "导入被拒绝" in report.summary()
    assert_nothing_written()
    return found


def test_a_sheet_with_a_wrong_name_is_refused():
    book = openpyxl.load_workbook(io.BytesIO(from_template()))
    book["人员"].title = "人员名单"
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(FileRefused, match="不认识的工作表：“人员名单”"):
        import_file(out.getvalue())
    assert_nothing_written()


def test_a_sheet_missing_a_column_is_refused():
    book = openpyxl.load_workbook(io.BytesIO(from_template()))
    book["人员"].delete_cols(4)  # 角色
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(FileRefused, match="缺少列：角色"):
        import_file(out.getvalue())


def test_an_unknown_code_is_refused_with_its_sheet_and_row():
    rows = rows_with(人员=[(None, ["gw009", "新人", "", "网格员", "330999101999", "", "", "", ""])])
    found = refused_with(rows, r"330999101999 不存在")
    assert any(line.startswith("人员9 gw009") for line in found), found


def test_a_username_twice_is_refused():
    rows = rows_with(
        人员=[(None, ["gw001", "另一个张", "", "网格员", "330999101001", "", "", "", ""])]
    )
    refused_with(rows, "用户名与第 2 行重复")


def test_a_person_in_two_towns_is_refused():
    rows = rows_with(
        人员=[
            (
                0,
                [
                    "gw001",
                    "张网格",
                    "",
                    "网格员",
                    "330999101001",
                    "",
                    "330999101001001、330999102201001",
                    "",
                    "",
                ],
            )
        ]
    )
    refused_with(rows, "不能分属两个乡镇")


def test_a_cycle_of_regions_is_refused():
    rows = rows_with(
        区划=[
            (None, ["330999103000", "甲镇", "乡镇", "330999104000"]),
            (None, ["330999104000", "乙镇", "乡镇", "330999103000"]),
        ]
    )
    refused_with(rows, "上级关系成环：330999103000 → 330999104000 → 330999103000")


def test_a_village_under_the_county_is_refused():
    rows = rows_with(区划=[(4, ["330999102201", "西山村", "村", "330999000000"])])
    refused_with(rows, "村/社区的上级必须是乡镇/街道")


def test_a_category_cycle_is_refused():
    rows = rows_with(分类=[(1, ["shirong", "市容环境", "", "baolu-laji", "", "", ""])])
    refused_with(rows, "上级关系成环")


def test_a_village_without_a_workstation_is_refused():
    rows = rows_with()
    rows["单位"] = [r for r in rows["单位"] if r[0] != "ws-2"]
    refused_with(rows, "没有工作站")


def test_an_overlapping_grid_is_refused_with_its_row():
    import json

    from tests.onboarding.helpers import square

    rows = rows_with(
        网格=[
            (
                1,
                [
                    "330999102201001",
                    "西山村第1网格",
                    "330999102201",
                    "",
                    json.dumps(square(120.105, 30.105)),
                ],
            )
        ]
    )
    refused_with(rows, "重叠")


def test_a_weak_initial_password_is_refused():
    rows = rows_with(
        人员=[(5, ["dh-cg", "孙处置", "", "部门处置人员", "", "dept-cg", "", "12345678", ""])]
    )
    refused_with(rows, "初始密码不符合密码规则")


def test_another_countys_administrator_may_not_import_this_county():
    other = Region.objects.create(code="330888000000", name="别县", tier="county")
    report = import_file(from_template(), allowed_county=other)
    assert report.refused
    assert "不是您管理的区县" in report.errors[0]
    assert list(Region.objects.all()) == [other]


def test_a_file_of_50_mb_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "大文件.xlsx"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    with pytest.raises(CommandError):
        call_command("import_county", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(FileRefused, match="50 MB 的上限"):
        workbook_read(data=io.BytesIO(b""), name="x.xlsx", size=50 * 1024 * 1024)
    assert_nothing_written()


def test_a_sheet_that_declares_a_million_rows_is_refused_at_once():
    data = from_template()
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename.startswith("xl/worksheets/sheet"):
                body = re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:I1000001"', body)
            target.writestr(info, body)
    with pytest.raises(FileRefused, match="有 1000000 行，超过 200000 行的上限"):
        import_file(out.getvalue())


def test_a_csv_of_a_million_rows_is_refused_while_streaming():
    lines = ["区划代码,名称,层级,上级区划代码"] + ["330999101001,村,村,330999101000"] * 1_000_000
    data = "\n".join(lines).encode()
    with pytest.raises(FileRefused, match="超过 200000 行的上限"):
        import_file(data, name="区划.csv")
    assert_nothing_written()


def test_a_zip_of_csvs_imports_like_the_workbook():
    import csv

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for title, rows in SMALL_COUNTY.items():
            book = openpyxl.load_workbook(io.BytesIO(from_template()))
            headers = [c.value for c in book[title][1]]
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(headers)
            writer.writerows(rows)
            # Written the way Excel on a Chinese Windows saves CSV: GBK.
            # (One sheet under its English key, in a folder, as a zip tool may store it.)
            name = "县区/people.csv" if title == "人员" else f"{title}.csv"
            archive.writestr(name, text.getvalue().encode("gbk"))
    report = import_file(out.getvalue(), name="示例县.zip")
    assert not report.refused, refusals(report)
    assert Region.objects.get(code="330999101001").name == "东城社区"
    assert User.objects.filter(username="gw001").exists()


def test_a_zip_with_other_files_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("区划.csv", "区划代码,名称,层级,上级区划代码\n")
        archive.writestr("readme.txt", "hi")
    with pytest.raises(FileRefused, match="只能放 CSV 文件"):
        import_file(out.getvalue(), name="x.zip")


def test_a_file_that_is_not_a_workbook_is_refused():
    with pytest.raises(FileRefused, match="不是有效的 Excel 工作簿"):
        import_file(b"not a zip at all", name="x.xlsx")
    with pytest.raises(FileRefused, match="只能导入"):
        import_file(b"", name="x.pdf")


@pytest.mark.parametrize("dimension", [b'<dimension ref="A1:I2"/>', b""])
def test_a_sheet_that_hides_its_size_is_refused_while_streaming(settings, dimension):
    """The declared size lies (or is missing): the rows are counted as they stream past."""
    settings.ONBOARDING_MAX_ROWS = 3
    rows = {"区划": [["3309991010%02d" % i, f"村{i}", "村", "330999101000"] for i in range(10)]}
    source = zipfile.ZipFile(io.BytesIO(from_template(rows)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename.startswith("xl/worksheets/sheet"):
                body = re.sub(rb'<dimension ref="[^"]+"\s*/>', dimension, body)
            target.writestr(info, body)
    with pytest.raises(FileRefused, match="超过 3 行的上限"):
        import_file(out.getvalue())
    assert_nothing_written()


def test_a_username_of_another_county_is_refused():
    from tests.factories import make_person

    other = Region.objects.create(code="330888000000", name="别县", tier="county")
    make_person("gw001", "county_dispatcher", region=other)
    report = import_file(from_template())
    assert report.refused
    assert any("gw001 已被系统中其他区县" in line for line in refusals(report)), refusals(report)
    assert list(Region.objects.all()) == [other]
    assert User.objects.get(username="gw001").profile.region == other


def test_a_refused_county_row_holds_back_the_rest_quietly():
    rows = rows_with(区划=[(0, ["330999000000", "示例县", "区县", "330999999999"])])
    found = refused_with(rows, "区县没有上级")
    assert sum("本行未检查" in line for line in found) == 4, found
