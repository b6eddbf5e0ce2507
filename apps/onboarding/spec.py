"""The county workbook (县区组织架构导入表): its sheets, their columns, and the words a cell may hold.

Declared once here; the reader checks files against it, the template and the export write it,
the explanation sheet and docs/apps/onboarding.md describe it. Every sheet has a Chinese name
(the one in the workbook) and an English key (the one in code, and an accepted CSV file name).
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.cases.models import Severity, Step, TimeBasis
from apps.org.models import Role, Tier, UnitKind


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # the Chinese header in row 1
    explanation: str
    required: bool = False  # the cell must not be empty
    example: str = ""
    code: bool = False  # kept as text in the template (codes are not numbers)
    width: int = 16


@dataclass(frozen=True)
class Sheet:
    key: str
    title: str  # the sheet's name in the workbook
    explanation: str
    columns: tuple[Column, ...]

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


YES, NO = "是", "否"
LIST_SEPARATORS = ("、", "，", ",", ";", "；", " ")

REGIONS = Sheet(
    "regions",
    "区划",
    "区县、乡镇/街道、村/社区，每行一个。只能有一个区县；乡镇的上级是区县，村/社区的上级是乡镇/街道。",
    (
        Column("code", "区划代码", "12 位统计用区划代码。", True, "330999101001", True),
        Column("name", "名称", "区划名称。", True, "示例村"),
        Column(
            "tier",
            "层级",
            "区县、乡镇/街道（或写乡镇、街道）、村/社区（或写村、社区）。",
            True,
            "村/社区",
        ),
        Column(
            "parent",
            "上级区划代码",
            "上级区划的 12 位代码；区县留空。",
            False,
            "330999101000",
            True,
        ),
    ),
)
PLATFORMS = Sheet(
    "platforms",
    "平台",
    "乡镇/街道的四平台（或改名后的平台），每个乡镇每个平台一行。",
    (
        Column("town", "乡镇代码", "平台所属乡镇/街道的 12 位代码。", True, "330999101000", True),
        Column(
            "code",
            "平台代码",
            "英文字母、数字、连字符，同一乡镇内不重复，例如 zongzhi。",
            True,
            "zongzhi",
            True,
        ),
        Column("name", "平台名称", "例如 综治工作。", True, "综治工作"),
        Column("sort_order", "排序", "显示顺序，整数，可空（默认 0）。", False, "0"),
    ),
)
UNITS = Sheet(
    "units",
    "单位",
    "处置单位：县级部门、派驻机构、乡镇站所、村/社区工作站。每个村/社区必须有一个工作站。",
    (
        Column(
            "code",
            "单位代码",
            "英文字母、数字、连字符，全县唯一，例如 dept-cg。",
            True,
            "t01-cg",
            True,
        ),
        Column("name", "单位名称", "单位全称。", True, "示例镇城管中队"),
        Column("kind", "类型", "县级部门、派驻机构、乡镇站所、村/社区工作站。", True, "派驻机构"),
        Column(
            "region",
            "所在区划代码",
            "县级部门填区县代码，派驻机构和乡镇站所填乡镇代码，工作站填村/社区代码。",
            True,
            "330999101000",
            True,
        ),
        Column(
            "department",
            "所属部门代码",
            "派驻机构所属的县级部门的单位代码；其他类型留空。",
            False,
            "dept-cg",
            True,
        ),
        Column(
            "platform",
            "平台代码",
            "派驻机构、乡镇站所归入的本乡镇平台代码，可空。",
            False,
            "zhifa",
            True,
        ),
        Column("active", "启用", "是 或 否，可空（默认 是）。", False, YES),
    ),
)
GRIDS = Sheet(
    "grids",
    "网格",
    "网格：编码、名称、所属村/社区、网格长；边界写在本表“边界”列（GeoJSON），"
    "或另附网格边界文件（GeoJSON，或压缩的 ESRI Shapefile）。",
    (
        Column(
            "code",
            "网格编码",
            "15 位：所属村/社区的 12 位代码 + 3 位序号。",
            True,
            "330999101001001",
            True,
        ),
        Column("name", "网格名称", "例如 示例村第1网格。", True, "示例村第1网格"),
        Column(
            "village", "村/社区代码", "网格所属村/社区的 12 位代码。", True, "330999101001", True
        ),
        Column(
            "leader",
            "网格长用户名",
            "网格长的用户名（须在“人员”表或系统中），可空。",
            False,
            "gl001",
            True,
        ),
        Column(
            "boundary",
            "边界",
            "GeoJSON 的 Polygon 或 MultiPolygon（WGS84 经纬度）；另附边界文件时可空。",
            False,
            '{"type":"Polygon","coordinates":[[[120.1,30.1],[120.11,30.1],[120.11,30.11],[120.1,30.11],[120.1,30.1]]]}',
            width=40,
        ),
    ),
)
PEOPLE = Sheet(
    "people",
    "人员",
    "账号和人员：角色决定填区划还是单位。导入的账号首次登录必须修改密码。",
    (
        Column(
            "username", "用户名", "登录名，字母、数字和 @.+-_，全系统唯一。", True, "gw001", True
        ),
        Column("display_name", "姓名", "真实姓名。", True, "张三"),
        Column("phone", "手机号", "11 位手机号，可空。", False, "13800000000", True),
        Column(
            "role",
            "角色",
            "网格员、网格长、村/社区工作站人员、乡镇指挥室调度员、部门处置人员、区县指挥中心调度员、领导（只读）。",
            True,
            "网格员",
        ),
        Column(
            "region",
            "所属区划代码",
            "网格员、网格长、工作站人员填村/社区代码；乡镇调度员填乡镇代码；区县调度员、领导填区划代码。部门处置人员留空。",
            False,
            "330999101001",
            True,
        ),
        Column(
            "unit",
            "所属单位代码",
            "部门处置人员必填（所在单位）；工作站人员可填本村工作站。",
            False,
            "",
            True,
        ),
        Column(
            "grids",
            "负责网格编码",
            "网格员、网格长负责的网格编码，多个用顿号或逗号分隔。",
            False,
            "330999101001001",
            True,
        ),
        Column(
            "password",
            "初始密码",
            "可空：留空则系统生成，导入后在结果里显示一次。已有账号不改密码。",
            False,
            "",
        ),
        Column("active", "启用", "是 或 否，可空（默认 是）。", False, YES),
    ),
)
CATEGORIES = Sheet(
    "categories",
    "分类",
    "事件分类，两级：大类（上级留空）和小类（上级填大类代码）。",
    (
        Column(
            "code",
            "分类代码",
            "英文字母、数字、连字符，唯一，例如 baolu-laji。",
            True,
            "baolu-laji",
            True,
        ),
        Column("name", "分类名称", "例如 暴露垃圾。", True, "暴露垃圾"),
        Column("name_en", "英文名称", "可空。", False, "Exposed rubbish"),
        Column("parent", "大类代码", "小类填所属大类的代码；大类留空。", False, "shirong", True),
        Column(
            "time_basis",
            "时限计算方式",
            "工作小时、工作日、自然小时，可空（默认 工作小时）。",
            False,
            "工作小时",
        ),
        Column("sort_order", "排序", "整数，可空（默认 0）。", False, "0"),
        Column("active", "启用", "是 或 否，可空（默认 是）。", False, YES),
    ),
)
ROUTING = Sheet(
    "routing",
    "分派规则",
    "分类 × 层级 → 责任部门。乡镇层级写责任部门（由其派驻本乡镇的单位办理）或平台代码；区县层级必须写责任部门。"
    "村/社区层级由本村工作站办理，不需要规则。",
    (
        Column(
            "category",
            "分类代码",
            "大类或小类的代码（小类没有规则时用大类的）。",
            True,
            "baolu-laji",
            True,
        ),
        Column("tier", "层级", "乡镇/街道 或 区县。", True, "乡镇/街道"),
        Column("department", "责任部门代码", "县级部门的单位代码。", False, "dept-cg", True),
        Column(
            "platform",
            "平台代码",
            "乡镇层级可改写平台代码（由本乡镇该平台的第一个单位办理）。",
            False,
            "",
            True,
        ),
        Column(
            "assisting",
            "协办部门代码",
            "重大事件联合处置的协办部门代码，多个用顿号分隔，可空。",
            False,
            "",
            True,
        ),
    ),
)
LIMITS = Sheet(
    "limits",
    "时限",
    "分类 × 等级 × 环节 → 时限（小时；工作日按每天 8 小时计）。等级留空表示适用于所有等级。",
    (
        Column("category", "分类代码", "小类代码。", True, "baolu-laji", True),
        Column("severity", "等级", "Ⅰ级、Ⅱ级、Ⅲ级（或 1、2、3），留空表示全部等级。", False, ""),
        Column("step", "环节", "受理、派遣、签收、处置、核查、结案、总时限。", True, "处置"),
        Column("hours", "时限（小时）", "大于 0 的数字。", True, "4"),
    ),
)

# In the order they are imported (each may refer to the ones before it).
SHEETS: tuple[Sheet, ...] = (REGIONS, PLATFORMS, UNITS, GRIDS, PEOPLE, CATEGORIES, ROUTING, LIMITS)
SHEET_BY_TITLE = {s.title: s for s in SHEETS}
SHEET_BY_KEY = {s.key: s for s in SHEETS}
EXPLANATION_TITLE = "填写说明"


def _labels(choices, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Cell text → stored value: the Chinese label, the stored value itself, and aliases."""
    found = {str(label): value for value, label in choices}
    found.update({value: value for value, _label in choices})
    found.update(extra or {})
    return found


TIER_WORDS = _labels(
    Tier.choices,
    {
        "区": Tier.COUNTY,
        "县": Tier.COUNTY,
        "乡镇": Tier.TOWN,
        "街道": Tier.TOWN,
        "乡": Tier.TOWN,
        "镇": Tier.TOWN,
        "村": Tier.VILLAGE,
        "社区": Tier.VILLAGE,
    },
)
UNIT_KIND_WORDS = _labels(
    UnitKind.choices, {"工作站": UnitKind.WORKSTATION, "部门": UnitKind.DEPARTMENT}
)
ROLE_WORDS = _labels(Role.choices, {"领导": Role.LEADER, "工作站人员": Role.VILLAGE_HANDLER})
TIME_BASIS_WORDS = _labels(TimeBasis.choices)
STEP_WORDS = _labels(Step.choices)
SEVERITY_WORDS: dict[str, int] = {
    **{str(label): int(value) for value, label in Severity.choices},
    **{str(int(value)): int(value) for value, _label in Severity.choices},
    "Ⅰ级": 1,
    "Ⅱ级": 2,
    "Ⅲ级": 3,
    "I级": 1,
    "II级": 2,
    "III级": 3,
    "Ⅰ": 1,
    "Ⅱ": 2,
    "Ⅲ": 3,
}


def tier_label(value: str) -> str:
    return str(Tier(value).label)


def split_list(text: str) -> list[str]:
    """A cell listing several codes: separated by 、，, ; or spaces."""
    for separator in LIST_SEPARATORS[1:]:
        text = text.replace(separator, LIST_SEPARATORS[0])
    return [part.strip() for part in text.split(LIST_SEPARATORS[0]) if part.strip()]
