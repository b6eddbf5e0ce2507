"""A small county, written into the downloadable template the way a county IT office fills it."""

from __future__ import annotations

import io
import json

import openpyxl

from apps.onboarding import writer
from apps.onboarding.reader import workbook_read
from apps.onboarding.services import ImportReport, county_import


def square(lng: float, lat: float, size: float = 0.01) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [
            [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
        ],
    }


GRID1 = square(120.10, 30.10)
GRID2 = square(120.20, 30.20)

# Sheet name → rows, in the template's column order.
SMALL_COUNTY: dict[str, list[list[str]]] = {
    "区划": [
        ["330999000000", "示例县", "区县", ""],
        ["330999101000", "东城街道", "乡镇/街道", "330999000000"],
        ["330999102000", "西山镇", "乡镇", "330999000000"],
        ["330999101001", "东城社区", "社区", "330999101000"],
        ["330999102201", "西山村", "村/社区", "330999102000"],
    ],
    "平台": [
        ["330999101000", "zongzhi", "综治工作", "0"],
        ["330999101000", "zhifa", "综合执法", "1"],
        ["330999102000", "zhifa", "综合执法", "1"],
    ],
    "单位": [
        ["t1-cg", "东城城管中队", "派驻机构", "330999101000", "dept-cg", "zhifa", "是"],
        ["dept-cg", "县城管局", "县级部门", "330999000000", "", "", "是"],
        ["dept-sj", "县市场监管局", "县级部门", "330999000000", "", "", ""],
        ["t2-cg", "西山城管中队", "派驻机构", "330999102000", "dept-cg", "zhifa", "是"],
        ["ws-1", "东城社区工作站", "村/社区工作站", "330999101001", "", "", "是"],
        ["ws-2", "西山村工作站", "村/社区工作站", "330999102201", "", "", "是"],
    ],
    "网格": [
        ["330999101001001", "东城社区第1网格", "330999101001", "gl001", json.dumps(GRID1)],
        ["330999102201001", "西山村第1网格", "330999102201", "", json.dumps(GRID2)],
    ],
    "人员": [
        [
            "gw001",
            "张网格",
            "13800000001",
            "网格员",
            "330999101001",
            "",
            "330999101001001",
            "",
            "是",
        ],
        ["gl001", "李网格长", "", "网格长", "330999101001", "", "330999101001001", "", ""],
        ["gw002", "王网格", "", "网格员", "330999102201", "", "330999102201001", "", ""],
        ["vh001", "赵站长", "", "村/社区工作站人员", "330999101001", "ws-1", "", "", ""],
        ["td01", "钱调度", "", "乡镇指挥室调度员", "330999101000", "", "", "", ""],
        ["dh-cg", "孙处置", "", "部门处置人员", "", "dept-cg", "", "Qx7-kd93Lm", ""],
        ["cd01", "周中心", "", "区县指挥中心调度员", "330999000000", "", "", "", ""],
    ],
    "分类": [
        ["baolu-laji", "暴露垃圾", "Exposed rubbish", "shirong", "工作小时", "0", "是"],
        ["shirong", "市容环境", "City appearance", "", "工作小时", "0", "是"],
    ],
    "分派规则": [
        ["baolu-laji", "乡镇/街道", "dept-cg", "", ""],
        ["baolu-laji", "区县", "dept-cg", "", "dept-sj"],
    ],
    "时限": [
        ["baolu-laji", "", "处置", "4"],
        ["baolu-laji", "", "总时限", "24"],
        ["baolu-laji", "Ⅰ级", "总时限", "12"],
    ],
}


def from_template(rows: dict[str, list[list[str]]] | None = None, *, keep_examples=False) -> bytes:
    """The downloadable template with its example rows replaced by ``rows`` (sheets without
    rows are left out, as a county may do)."""
    rows = SMALL_COUNTY if rows is None else rows
    book = openpyxl.load_workbook(io.BytesIO(writer.template_xlsx()))
    for ws in list(book.worksheets):
        if ws.title == "填写说明":
            continue
        if ws.title not in rows:
            book.remove(ws)
            continue
        if not keep_examples:
            ws.delete_rows(2, ws.max_row)
        for row in rows[ws.title]:
            ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def import_file(
    data: bytes, name: str = "示例县.xlsx", *, dry_run=False, boundaries=None, **kwargs
) -> ImportReport:
    workbook = workbook_read(data=io.BytesIO(data), name=name, size=len(data))
    return county_import(workbook=workbook, boundaries=boundaries, dry_run=dry_run, **kwargs)


def refusals(report: ImportReport) -> list[str]:
    return report.errors + [
        f"{r.sheet}{r.row} {r.key} {r.detail}" for r in report.rows if r.outcome == "refuse"
    ]
