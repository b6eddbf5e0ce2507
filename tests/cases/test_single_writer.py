"""Every change of a case and every history row goes through the workflow service (issue #16,
item 4): outside ``apps/cases/services`` no code in ``apps/`` creates, updates or deletes
``Case`` or ``CaseEvent`` rows — not through the ORM, not through a related manager, not in raw
SQL. A read is fine anywhere; a write elsewhere is either routed through a service function or
listed in ``ALLOWED`` below with its reason.

The scan is static (ast for the ORM, a regular expression for SQL text), so it catches the ways
this code base writes, not every way Python could; ``test_the_scan_sees_each_kind_of_write``
keeps it honest about those.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"
SERVICES = APPS / "cases" / "services"

MODELS = {"Case", "CaseEvent"}
WRITES = {
    "create",
    "bulk_create",
    "update",
    "bulk_update",
    "get_or_create",
    "update_or_create",
    "delete",
}
# The related managers that reach cases' history rows (``case.events``).
RELATED = {"events"}
TABLES = r"cases_case(?:event)?"
SQL_WRITE = re.compile(
    rf"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|COPY)\s+[\"`]?{TABLES}[\"`]?\b", re.IGNORECASE
)
# A statement whose table is filled in later ("INSERT INTO {} …".format(model._meta.db_table)):
# a generic bulk writer, a write of cases when its module hands it Case or CaseEvent.
SQL_WRITE_ANY_TABLE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|COPY)\s+\{", re.I)

# (path under apps/, a line's text that holds the write) → why it may stay where it is.
ALLOWED = {
    (
        "notify/services.py",
        "CaseEvent.objects.filter(pk__in=[e.pk for e in events], notified_at__isnull=True).update(",
    ): (
        "the notification outbox's consumer stamps notified_at once it has fanned events out "
        "(one event, or a routing batch's): "
        "the one change a history row allows (CaseEvent.save), and notify may import only "
        "cases' models and selectors (issue #16, item 1)"
    ),
}


def _chain(node: ast.AST) -> tuple[str | None, list[str]]:
    """The name at the root of ``a.b(...).c.d(...)`` and the attribute names along the way."""
    attrs: list[str] = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            break
    return (node.id if isinstance(node, ast.Name) else None), list(reversed(attrs))


def writes_in(source: str) -> list[tuple[int, str]]:
    """(line, what) for each write of case or history rows in ``source``."""
    found: list[tuple[int, str]] = []
    tree = ast.parse(source)
    handles_cases = any(isinstance(node, ast.Name) and node.id in MODELS for node in ast.walk(tree))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            root, attrs = _chain(node.func.value)
            if method in WRITES and root in MODELS and "objects" in attrs:
                found.append((node.lineno, f"{root}.objects….{method}()"))
            elif method in WRITES and attrs and attrs[-1] in RELATED:
                found.append((node.lineno, f"….{attrs[-1]}.{method}()"))
            elif method == "save" and (root or "").lower().endswith("case") and not attrs:
                found.append((node.lineno, f"{root}.save()"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "CaseEvent"
        ):
            found.append((node.lineno, "CaseEvent(…)"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if SQL_WRITE.search(node.value):
                found.append((node.lineno, "SQL writing a cases table"))
            elif handles_cases and SQL_WRITE_ANY_TABLE.search(node.value):
                found.append((node.lineno, "generic SQL writer next to Case/CaseEvent"))
        elif isinstance(node, ast.JoinedStr):
            # f"INSERT INTO {Case._meta.db_table} …": the table comes from the model.
            text = "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
            names = {
                _chain(part.value)[0]
                for part in node.values
                if isinstance(part, ast.FormattedValue)
            }
            if names & MODELS and re.search(r"\b(INSERT|UPDATE|DELETE|COPY)\b", text, re.I):
                found.append((node.lineno, "SQL writing a cases table"))
        elif isinstance(node, ast.Attribute) and node.attr == "db_table":
            root, attrs = _chain(node)
            if root in MODELS and attrs[:1] == ["_meta"]:
                found.append((node.lineno, f"{root}._meta.db_table (raw SQL on a cases table)"))
    return found


def _sources() -> list[Path]:
    return [
        path
        for path in sorted(APPS.rglob("*.py"))
        if SERVICES not in path.parents and "migrations" not in path.parts
    ]


def test_case_and_history_rows_are_written_by_the_workflow_service_only():
    offences = []
    used = set()
    for path in _sources():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        relative = path.relative_to(APPS).as_posix()
        for line, what in writes_in(source):
            text = lines[line - 1].strip()
            key = next(
                (k for k in ALLOWED if k[0] == relative and text.startswith(k[1])),
                None,
            )
            if key is not None:
                used.add(key)
                continue
            offences.append(f"apps/{relative}:{line}: {what}: {text}")
    assert not offences, (
        "Case/CaseEvent rows written outside apps/cases/services — add a service function "
        "(or list the exception in ALLOWED with its reason):\n" + "\n".join(offences)
    )
    assert used == set(ALLOWED), f"stale exceptions in ALLOWED: {set(ALLOWED) - used}"


def test_the_scan_sees_each_kind_of_write():
    source = """
Case.objects.filter(pk=1).update(colour="red")
CaseEvent.objects.create(case=case, action="note")
CaseEvent.objects.bulk_create(rows)
Case.objects.select_for_update().get(pk=1).delete()
case.events.create(action="note")
case.save()
event = CaseEvent(case=case)
cursor.execute("UPDATE cases_case SET colour = %s")
cursor.execute(f"INSERT INTO {CaseEvent._meta.db_table} (case_id) VALUES (%s)")
sql = "INSERT INTO {} ({}) VALUES ({})".format(quote(model._meta.db_table), columns, marks)
"""
    lines = {line for line, _what in writes_in(source)}
    assert lines == set(range(2, 12))


def test_reads_are_not_writes():
    source = """
Case.objects.filter(pk=1).values_list("pk", flat=True)
CaseEvent.objects.filter(case=case).order_by("pk").first()
case.events.filter(action="report").exists()
photo_digest.update(chunk)
queryset.update(is_active=False)
cursor.execute("SELECT id FROM cases_case WHERE colour = %s")
cursor.execute("CREATE TRIGGER t AFTER UPDATE ON cases_case FOR EACH ROW")
"""
    assert writes_in(source) == []
