"""What a place kind declares about its places' attributes, and the check of a place's values.

A kind's ``attribute_schema`` is a list of fields, each
``{"key": "floors", "label": "层数", "type": "int", "required": true}`` (``type`` one of
int, text, choice, bool, date; a choice field lists its ``choices``). The phone builds its form
from it, the import reads columns named by key or label, and ``clean_attributes`` turns what any
of them sends into stored values or says, in Chinese, what is wrong with each field.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TYPES = ("int", "text", "choice", "bool", "date")
TRUE = {"true", "1", "yes", "y", "是", "有", "√"}
FALSE = {"false", "0", "no", "n", "否", "无", "×", ""}
MAX_TEXT = 200


def schema_problems(schema: object) -> list[str]:
    """Why a kind's attribute schema is not usable (empty: it is)."""
    if not isinstance(schema, list):
        return ["属性定义必须是一个列表。"]
    problems: list[str] = []
    seen: set[str] = set()
    for n, spec in enumerate(schema, start=1):
        if not isinstance(spec, dict):
            problems.append(f"第 {n} 项属性定义必须是对象。")
            continue
        key = spec.get("key")
        if not isinstance(key, str) or not KEY.match(key):
            problems.append(f"第 {n} 项属性的 key 必须是小写字母开头的字母、数字或下划线。")
        elif key in seen:
            problems.append(f"属性 key“{key}”重复。")
        else:
            seen.add(key)
        if not isinstance(spec.get("label"), str) or not spec["label"].strip():
            problems.append(f"第 {n} 项属性缺少名称 label。")
        if spec.get("type") not in TYPES:
            problems.append(f"第 {n} 项属性的类型必须是 {'、'.join(TYPES)} 之一。")
        if spec.get("type") == "choice":
            choices = spec.get("choices")
            if (
                not isinstance(choices, list)
                or not choices
                or not all(isinstance(c, str) and c for c in choices)
            ):
                problems.append(f"第 {n} 项属性是选项类型，须列出 choices（文字列表）。")
    return problems


def _clean_value(spec: dict[str, Any], raw: object) -> tuple[object, str | None]:
    kind = spec["type"]
    if kind == "int":
        if isinstance(raw, bool):
            return None, "须为整数"
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, float) and raw.is_integer():
            value = int(raw)
        elif isinstance(raw, str) and re.fullmatch(r"-?\d{1,9}", raw.strip()):
            value = int(raw.strip())
        else:
            return None, "须为整数"
        if value < 0:
            return None, "不能为负数"
        return value, None
    if kind == "bool":
        if isinstance(raw, bool):
            return raw, None
        text = str(raw).strip().lower()
        if text in TRUE:
            return True, None
        if text in FALSE:
            return False, None
        return None, "须为“是”或“否”"
    if kind == "date":
        text = str(raw).strip().replace("/", "-")
        try:
            return dt.date.fromisoformat(text).isoformat(), None
        except ValueError:
            return None, "须为日期（如 2026-12-06）"
    text = str(raw).strip()
    if len(text) > MAX_TEXT:
        return None, f"不能超过 {MAX_TEXT} 字"
    if kind == "choice" and text not in spec.get("choices", []):
        return None, f"须为以下之一：{'、'.join(spec.get('choices', []))}"
    return text, None


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def clean_attributes(
    schema: list[dict[str, Any]], values: object, *, partial: bool = False
) -> tuple[dict[str, object], list[str]]:
    """``values`` checked against ``schema``: (cleaned values, problems). Unknown keys are
    refused; a required field left out is refused unless ``partial`` (an update that leaves
    it as it is). A label may stand for its key (the import's column headers)."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        return {}, ["属性必须是“属性名: 值”的对象。"]
    by_key = {spec["key"]: spec for spec in schema}
    by_label = {spec["label"]: spec["key"] for spec in schema}
    cleaned: dict[str, object] = {}
    problems: list[str] = []
    for name, raw in values.items():
        key = str(by_label.get(name, name))
        spec = by_key.get(key)
        if spec is None:
            problems.append(f"未定义的属性“{name}”")
            continue
        if _blank(raw):
            if spec.get("required") and not partial:
                problems.append(f"{spec['label']}为必填项")
            continue
        value, problem = _clean_value(spec, raw)
        if problem:
            problems.append(f"{spec['label']}{problem}")
        else:
            cleaned[key] = value
    if not partial:
        for spec in schema:
            if (
                spec.get("required")
                and spec["key"] not in cleaned
                and not any(spec["label"] in p for p in problems)
            ):
                problems.append(f"{spec['label']}为必填项")
    return cleaned, problems


def mask_phone(phone: str) -> str:
    """138****1234: enough to recognise a number, not to call it."""
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) < 8:
        return digits[:1] + "*" * (len(digits) - 3) + digits[-2:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str) -> str:
    """张** — the family name only."""
    name = name.strip()
    return name[:1] + "*" * (len(name) - 1) if name else ""
