"""No typos of the 已已 kind: every Chinese text a person may see, scanned for a character
doubled back to back.

What is scanned:
* every string literal in apps/**/*.py (read with ``ast``, so comments do not count);
* messages built at run time — ``"事件已%(status)s" % {...}``, ``f"事件已{label}"``,
  ``"事件已" + "已结案"`` — evaluated with every label of our choices and action words
  that could be put into them, so a status label that starts with the character before it
  (the 事件已已结案 bug) is found;
* every template, script and stylesheet text under apps/ and templates/.

Real reduplications of Chinese (刚刚, 常常 …) and two words that meet on one character
(联系 + 系统) are allowed by a short list: only those that actually occur are on it, so a new
one needs a look and a line here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest
from django.db import models

ROOT = Path(__file__).resolve().parent.parent
DOUBLED = re.compile(r"([\u4e00-\u9fff])\1")
# Correct Chinese that occurs in our texts: reduplications, and words meeting on one character.
ALLOWED = {"刚刚", "联系系统"}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%s|\{[a-z_]*\}")
TEXT_SUFFIXES = {".html", ".js", ".txt", ".css", ".json", ".webmanifest"}


def doubled(text: str) -> list[str]:
    """The doubled characters in ``text`` that are not part of an allowed word."""
    for allowed in ALLOWED:
        text = text.replace(allowed, "·")
    return [m.group(0) for m in DOUBLED.finditer(text)]


def python_files() -> list[Path]:
    return sorted(p for p in (ROOT / "apps").rglob("*.py"))


def text_files() -> list[Path]:
    found = []
    for base in (ROOT / "apps", ROOT / "templates"):
        found += [p for p in base.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES]
    return sorted(found)


def string_literals(tree: ast.AST):
    """(line, text) of every string constant, and of every ``"a" + "b"`` of constants joined."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            joined = _constant_join(node)
            if joined is not None:
                yield node.lineno, joined


def _constant_join(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant_join(node.left), _constant_join(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def templates_of_messages(tree: ast.AST):
    """(line, pieces, slots) of every message built at run time: its text split at the values
    put into it, and what each slot holds (a %-format name, or an f-string's expression)."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and PLACEHOLDER.search(node.value)
        ):
            slots = [m.group(0) for m in PLACEHOLDER.finditer(node.value)]
            yield node.lineno, PLACEHOLDER.split(node.value), slots
        elif isinstance(node, ast.JoinedStr):
            pieces, slots, text = [], [], ""
            for value in node.values:
                if isinstance(value, ast.Constant):
                    text += value.value
                else:
                    pieces.append(text)
                    slots.append(ast.unparse(value.value))
                    text = ""
            yield node.lineno, [*pieces, text], slots


def inserted_values() -> dict[str, set[str]]:
    """The texts our code puts into messages, by what a slot that holds them is called:
    a status ("%(status)s", ``get_status_display()``), an action word, any choice's label."""
    import django.apps

    from apps.cases import steps

    values: dict[str, set[str]] = {"status": set(), "action": set(), "display": set()}
    values["action"] |= {s.word for s in steps.STEPS} | {s.label for s in steps.STEPS}
    for config in django.apps.apps.get_app_configs():
        if not config.name.startswith("apps."):
            continue
        for module_name in ("models", "services"):
            try:
                module = importlib.import_module(f"{config.name}.{module_name}")
            except ModuleNotFoundError:
                continue
            for name, cls in inspect.getmembers(module, inspect.isclass):
                # Defined in the module, or in one of its submodules (models and services are
                # packages in cases).
                home = cls.__module__
                if issubclass(cls, models.Choices) and (
                    home == module.__name__ or home.startswith(module.__name__ + ".")
                ):
                    labels = {str(label) for label in cls.labels}
                    values["display"] |= labels
                    if name == "Status":
                        values["status"] |= labels
    return values


def values_for(slot: str, values: dict[str, set[str]]) -> set[str]:
    """What may be put into a slot, judged by its name; numbers, names and free text are not
    guessed at (a slot for them matches no key)."""
    found: set[str] = set()
    for key, texts in values.items():
        if key in slot.lower():
            found |= texts
    return found


def doubled_when_filled(
    pieces: list[str], slots: list[str], values: dict[str, set[str]]
) -> list[str]:
    """The doubles a message makes with any value its slots may hold: the character before a
    slot against a value's first, a value's last against the character after."""
    found = []
    for before, slot, after in zip(pieces, slots, pieces[1:]):
        for value in values_for(slot, values):
            found += doubled(before[-1:] + value[:1]) + doubled(value[-1:] + after[:1])
    return sorted(set(found))


# --- the checks themselves, proven on synthetic texts -------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("事件已已结案，不能再处置反馈。", ["已已"]),
        ("请请刷新后再试。", ["请请"]),
        ("这个事件刚刚被别人处理过，请刷新后再试。", []),
        ("请联系系统管理员。", []),
        ("系系统", ["系系"]),
        ("事件已结案，不能再处置反馈。", []),
        ("ok ok 11 ——", []),
    ],
)
def test_the_scan_finds_a_doubled_character(text, expected):
    assert doubled(text) == expected


@pytest.mark.parametrize(
    "source, expected",
    [
        ('_("事件已%(status)s，不能再%(action)s。")', ["已已"]),
        ('f"事件已{case.get_status_display()}"', ["已已"]),
        ('f"已{count} 件"', []),
        ('"事件已" + "已结案"', ["已已"]),
        ('_("这个事件的状态是“%(status)s”，不能再%(action)s。")', []),
    ],
)
def test_a_message_built_at_run_time_is_checked_with_the_values_put_into_it(source, expected):
    tree = ast.parse(source)
    found = [d for _, text in string_literals(tree) for d in doubled(text)]
    values = {"status": {"已结案"}, "action": {"处置反馈"}}
    found += [
        d
        for _, pieces, slots in templates_of_messages(tree)
        for d in doubled_when_filled(pieces, slots, values)
    ]
    assert sorted(set(found)) == expected


def test_the_values_put_into_messages_include_the_status_labels_and_action_words():
    values = inserted_values()
    assert {"已结案", "已合并", "不予立案"} <= values["status"] <= values["display"]
    assert {"处置反馈", "结案归档"} <= values["action"]


# --- the scan of our code -----------------------------------------------------------------------


def test_no_string_literal_in_the_apps_has_a_doubled_character():
    problems = []
    for path in python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, text in string_literals(tree):
            for d in doubled(text):
                problems.append(f"{path.relative_to(ROOT)}:{line}: {d} in {text!r}")
    assert not problems, "\n".join(problems)


def test_no_message_built_at_run_time_doubles_a_character_with_a_label_put_into_it():
    values = inserted_values()
    problems = []
    for path in python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, pieces, slots in templates_of_messages(tree):
            for d in doubled_when_filled(pieces, slots, values):
                problems.append(f"{path.relative_to(ROOT)}:{line}: {d} in {'…'.join(pieces)!r}")
    assert not problems, "\n".join(problems)


def test_no_template_script_or_stylesheet_has_a_doubled_character():
    files = text_files()
    assert any(p.suffix == ".html" for p in files) and any(p.suffix == ".js" for p in files)
    problems = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for d in doubled(line):
                problems.append(f"{path.relative_to(ROOT)}:{number}: {d} in {line.strip()[:80]!r}")
    assert not problems, "\n".join(problems)
