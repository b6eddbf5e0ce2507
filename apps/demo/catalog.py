"""The demo county's departments (条), platforms (四平台), category tree, routing and time limits.

Routing at the town tier names either a department (its stationed unit at the case's town takes
the case) or a platform code (the first unit of that town's platform); at the county tier a
department. Hours are on the category's time basis (working days count 8 working hours each).
"""

from __future__ import annotations

from collections.abc import Mapping


def _table(text: str) -> list[tuple[str, ...]]:
    """The rows of a table written one a line, its cells separated by "|"."""
    return [tuple(cell.strip() for cell in line.split("|")) for line in text.strip().splitlines()]


# code | name | name_en. Codes become Unit codes "dept-<code>" and usernames "dept_<code>".
DEPARTMENTS = _table("""
cg | 县城管局           | Urban Management Bureau
sj | 县市场监管局       | Market Regulation Bureau
hb | 生态环境分局       | Ecology and Environment Branch
zj | 县住建局           | Housing and Construction Bureau
yj | 县应急管理局       | Emergency Management Bureau
xf | 县消防救援大队     | Fire and Rescue Brigade
jt | 县交通运输局       | Transport Bureau
wj | 县卫健局           | Health Commission
mz | 县民政局           | Civil Affairs Bureau
ga | 县公安分局         | Public Security Branch
sl | 县水利局           | Water Resources Bureau
zr | 自然资源和规划分局 | Natural Resources and Planning Branch
sf | 县司法局           | Justice Bureau
""")

# The four platforms of every town (code | name), in display order.
PLATFORMS = _table("""
zongzhi  | 综治工作
shichang | 市场监管
zhifa    | 综合执法
bianmin  | 便民服务
""")

# Units a department stations at every town: department code | unit name suffix | platform code.
STATIONED = _table("""
cg | 城管中队   | zhifa
sj | 市场监管所 | shichang
ga | 派出所     | zongzhi
zr | 自然资源所 | zhifa
sf | 司法所     | zongzhi
""")
# A town's own offices: code suffix | name suffix | platform code.
TOWN_OFFICES = _table("""
zzzx | 综治中心     | zongzhi
ajz  | 安监站       | zhifa
hbs  | 环保所       | zhifa
bmzx | 便民服务中心 | bianmin
czb  | 村镇建设办   | bianmin
""")

WH, WD, NH = "working_hours", "working_days", "natural_hours"

# Limits per step in hours on the category's basis: accept, dispatch, sign, handle, verify, close, overall.
ORDINARY = {
    "accept": 2,
    "dispatch": 2,
    "sign": 2,
    "handle": 8,
    "verify": 4,
    "close": 4,
    "overall": 24,
}
QUICK = {"accept": 1, "dispatch": 1, "sign": 1, "handle": 4, "verify": 2, "close": 2, "overall": 12}
URGENT = {
    "accept": 0.5,
    "dispatch": 0.5,
    "sign": 0.5,
    "handle": 4,
    "verify": 2,
    "close": 2,
    "overall": 12,
}
# 违法建设: sign for and stop the works (制止) within 4 hours, the whole case within 20 working days.
CONSTRUCTION = {
    "accept": 2,
    "dispatch": 2,
    "sign": 4,
    "handle": 136,
    "verify": 8,
    "close": 8,
    "overall": 160,
}
DISPUTE = {
    "accept": 4,
    "dispatch": 4,
    "sign": 4,
    "handle": 40,
    "verify": 8,
    "close": 8,
    "overall": 80,
}

# (code, name, name_en, basis, limits, town route, county department) of a sub-category.
Leaf = tuple[str, str, str, str, Mapping[str, float], str, str]

# The top categories (code | name | name_en), in display order.
PARENTS = _table("""
shirong  | 市容环境 | City appearance
weijian  | 违法建设 | Illegal construction
anquan   | 安全隐患 | Safety hazards
huanbao  | 环境保护 | Environmental protection
shichang | 市场监管 | Market regulation
jiaotong | 道路交通 | Roads and traffic
jiufen   | 矛盾纠纷 | Disputes
sheshi   | 公共设施 | Public facilities
""")

# One sub-category a line: top category | code | name | name_en | time basis | limits | town
# route | county department. A town route is "dept:<code>" (that department's stationed unit)
# or "platform:<code>".
LEAVES = """
shirong  | baolu-laji       | 暴露垃圾       | Exposed rubbish              | WH | QUICK        | dept:cg          | cg
shirong  | jicun-zhatu      | 积存垃圾渣土   | Accumulated rubbish and muck | WH | ORDINARY     | dept:cg          | cg
shirong  | luan-zhangtie    | 乱张贴         | Illegal posters              | WH | QUICK        | dept:cg          | cg
shirong  | luan-tuxie       | 乱涂写         | Graffiti                     | WH | ORDINARY     | dept:cg          | cg
shirong  | daolu-bujie      | 道路不洁       | Dirty road                   | WH | QUICK        | dept:cg          | cg
shirong  | weigui-guanggao  | 违规广告牌     | Illegal billboard            | WH | ORDINARY     | dept:cg          | cg
shirong  | zhandao-duiwu    | 占道堆物       | Objects piled on the road    | WH | QUICK        | dept:cg          | cg
weijian  | weifa-jianzhu    | 违法建筑       | Illegal building             | WD | CONSTRUCTION | dept:cg          | cg
weijian  | weigui-zhuangxiu | 违规装修       | Unauthorised renovation      | WD | CONSTRUCTION | dept:cg          | zj
weijian  | luanda-luanjian  | 乱搭乱建       | Illegal sheds and extensions | WD | CONSTRUCTION | dept:cg          | cg
weijian  | qinzhan-lvdi     | 侵占绿地       | Encroachment on green space  | WD | CONSTRUCTION | dept:zr          | zr
anquan   | xiaofang-yinhuan | 消防隐患       | Fire hazard                  | NH | URGENT       | platform:zhifa   | xf
anquan   | ranqi-yinhuan    | 燃气隐患       | Gas hazard                   | NH | URGENT       | platform:zhifa   | yj
anquan   | weifang          | 危房           | Dangerous building           | NH | URGENT       | platform:bianmin | zj
anquan   | dianxian-laluan  | 电线私拉乱接   | Illegal wiring               | NH | URGENT       | platform:zhifa   | yj
anquan   | dizhi-zaihai     | 地质灾害隐患   | Landslide risk               | NH | URGENT       | dept:zr          | zr
huanbao  | wushui-zhipai    | 污水直排       | Sewage discharged directly   | NH | URGENT       | platform:zhifa   | hb
huanbao  | youyan-wuran     | 油烟污染       | Cooking fumes                | WH | ORDINARY     | platform:zhifa   | hb
huanbao  | zaosheng-raomin  | 噪声扰民       | Noise nuisance               | WH | QUICK        | dept:ga          | hb
huanbao  | fenshao-laji     | 焚烧垃圾       | Burning rubbish              | NH | URGENT       | platform:zhifa   | hb
huanbao  | hedao-piaofu     | 河道漂浮物     | Litter in the river          | WH | ORDINARY     | platform:bianmin | sl
shichang | wuzheng-jingying | 无证经营       | Unlicensed business          | WH | ORDINARY     | dept:sj          | sj
shichang | shipin-anquan    | 食品安全       | Food safety                  | NH | URGENT       | dept:sj          | sj
shichang | jiage-weifa      | 价格违法       | Pricing violation            | WH | ORDINARY     | dept:sj          | sj
shichang | jiamao-weilie    | 假冒伪劣       | Counterfeit goods            | WH | ORDINARY     | dept:sj          | sj
jiaotong | zhandao-jingying | 占道经营       | Street trading on the road   | WH | QUICK        | dept:cg          | cg
jiaotong | luan-tingche     | 机动车乱停放   | Illegal parking              | WH | QUICK        | dept:ga          | ga
jiaotong | daolu-posun      | 道路破损       | Damaged road                 | WH | ORDINARY     | platform:bianmin | jt
jiaotong | jiaotong-sheshi  | 交通设施损坏   | Damaged traffic facilities   | WH | ORDINARY     | platform:bianmin | jt
jiaotong | feijidongche     | 非机动车乱停放 | Bicycles parked badly        | WH | QUICK        | dept:cg          | cg
jiufen   | linli-jiufen     | 邻里纠纷       | Neighbour dispute            | WD | DISPUTE      | dept:sf          | sf
jiufen   | laozi-jiufen     | 劳资纠纷       | Wage dispute                 | WD | DISPUTE      | platform:zongzhi | sf
jiufen   | wuye-jiufen      | 物业纠纷       | Property management dispute  | WD | DISPUTE      | platform:zongzhi | zj
jiufen   | tudi-jiufen      | 土地纠纷       | Land dispute                 | WD | DISPUTE      | dept:zr          | zr
jiufen   | hunyin-jiating   | 婚姻家庭纠纷   | Family dispute               | WD | DISPUTE      | dept:sf          | mz
sheshi   | jinggai-queshi   | 井盖缺失       | Missing manhole cover        | NH | URGENT       | platform:bianmin | zj
sheshi   | ludeng-buliang   | 路灯不亮       | Street light out             | WH | ORDINARY     | platform:bianmin | cg
sheshi   | gongshui-guandao | 供水管道破损   | Burst water pipe             | NH | URGENT       | platform:bianmin | sl
sheshi   | gongce-wenti     | 公厕问题       | Public toilet problem        | WH | ORDINARY     | dept:cg          | cg
sheshi   | jianshen-qicai   | 健身器材损坏   | Damaged fitness equipment    | WH | ORDINARY     | platform:bianmin | mz
"""

BASES = {"WH": WH, "WD": WD, "NH": NH}
LIMITS: dict[str, Mapping[str, float]] = {
    "ORDINARY": ORDINARY,
    "QUICK": QUICK,
    "URGENT": URGENT,
    "CONSTRUCTION": CONSTRUCTION,
    "DISPUTE": DISPUTE,
}


def _categories() -> list[tuple[str, str, str, list[Leaf]]]:
    children: dict[str, list[Leaf]] = {code: [] for code, _name, _en in PARENTS}
    for parent, code, name, name_en, basis, limits, route, dept in _table(LEAVES):
        children[parent].append((code, name, name_en, BASES[basis], LIMITS[limits], route, dept))
    return [(code, name, name_en, children[code]) for code, name, name_en in PARENTS]


# (code, name, name_en, [sub-categories]).
CATEGORIES: list[tuple[str, str, str, list[Leaf]]] = _categories()
