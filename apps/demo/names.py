"""Plausible, fictional Chinese names for the demo county: towns, villages, communities, people."""

from __future__ import annotations

import random

COUNTY_CODE = "330212000000"
COUNTY_NAME = "联动示范县"

TOWN_NAMES = [
    "东湖街道",
    "明月街道",
    "青桥街道",
    "白沙镇",
    "柳溪镇",
    "石门镇",
    "梅岭镇",
    "桃源镇",
    "清水镇",
    "凤山镇",
    "金塘镇",
    "龙泉乡",
]
_TOWN_FIRST = "东西南北新安永长瑞福兴和平宁嘉泰"
_TOWN_SECOND = "溪山湖桥塘浦岭港川源"

_VILLAGE_FIRST = "上下前后东西南北大小新老高王李张陈周徐孙胡林何罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段漕钱汤尹黎易常武乔贺赖龚文"
_VILLAGE_SECOND = "家溪塘岙桥湾山田畈浦港埠岭坑垟庄墩岗坝洋"
_COMMUNITY_NAMES = [
    "阳光",
    "锦绣",
    "和平",
    "文昌",
    "春晖",
    "翠苑",
    "丽园",
    "东升",
    "明珠",
    "花园",
    "振兴",
    "紫薇",
    "金桂",
    "嘉禾",
    "育才",
    "湖滨",
    "滨江",
    "泰和",
    "康乐",
    "新城",
    "天河",
    "海晏",
    "启明",
    "望春",
    "彩虹",
    "长春",
    "幸福",
    "怡景",
]

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方邹熊孟秦白江"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉海波晓东春梅文斌浩宇欣怡子涵雨晨俊杰嘉怡思远佳琪宏亮卫东永康建华丽君雪梅国平立新"


def town_name(rng: random.Random, index: int, used: set[str]) -> str:
    if index < len(TOWN_NAMES) and TOWN_NAMES[index] not in used:
        name = TOWN_NAMES[index]
    else:
        while True:
            name = rng.choice(_TOWN_FIRST) + rng.choice(_TOWN_SECOND) + "镇"
            if name not in used:
                break
    used.add(name)
    return name


def village_name(rng: random.Random, community: bool, used: set[str]) -> str:
    for attempt in range(1000):
        if community:
            base = (
                rng.choice(_COMMUNITY_NAMES)
                if attempt < 50
                else rng.choice(_COMMUNITY_NAMES) + rng.choice(_VILLAGE_FIRST)
            )
            name = base + "社区"
        else:
            name = rng.choice(_VILLAGE_FIRST) + rng.choice(_VILLAGE_SECOND) + "村"
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("ran out of village names")


def person_name(rng: random.Random) -> str:
    given = rng.choice(_GIVEN) if rng.random() < 0.3 else rng.choice(_GIVEN) + rng.choice(_GIVEN)
    return rng.choice(_SURNAMES) + given


def phone(rng: random.Random) -> str:
    return rng.choice(["138", "139", "158", "188", "135", "177"]) + f"{rng.randrange(10**8):08d}"
