"""The house plan (issue #16): which app may import which, and no import cycles.

Every module under ``apps/`` is parsed with ``ast`` (nothing is imported). Only the imports
that run when the module is loaded count — module level, class bodies, ``if``/``try`` blocks —
not those inside functions (a function-level import is the usual way to reach a module that is
not yet loaded, and it runs after every module is loaded) and not ``if TYPE_CHECKING:`` blocks.

No module names another app's Celery task by a string (``"apps.notify.tasks.…"``): it
imports the task object, which makes the dependency one the layer check sees. Task names in
``config/settings/`` (routes, the beat schedule, ``CASE_EVENT_TASK``) are configuration.

The layers, lowest first. An app may import its own layer and the layers below it, never a
layer above. Apps of one layer may import each other; the cycle check keeps that one-way.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"

LAYERS: list[set[str]] = [
    {"core"},  # outbox, shared versions, on-commit task helpers, caches, leases
    {"org"},  # the ground floor: regions, grids, units, people's places, scope, the map
    # The places register (场所): kinds, places, their history and import; reads org only,
    # and cases (a report tied to a place) and the desk read it.
    {"places"},
    # Not named in the order: accounts (sign-in, passwords, account tiers) reads org's
    # profiles, and cases' API serves its token view (cases/api_urls.py), so it sits between.
    {"accounts"},
    {"cases"},  # the workflow: models, rules, services, selectors, sweeps, the field API
    # onboarding: a county's organisation in and out of a workbook (org, accounts, cases' catalogue).
    {"notify", "public", "evaluation", "field", "onboarding"},
    # SMS to citizens: reads the case history and the public link of a case (public).
    {"sms"},
    {"desk"},  # the command desk (the admin)
    {"demo"},  # the demo county and its history generator: builds on everything
]

# Narrower than the layers: what an app may import from one app below it.
ONLY_FROM: dict[tuple[str, str], set[str]] = {
    # notify reads cases through its models and selectors only (the desk counters included:
    # cases.selectors.desk_counts). Two exceptions, both reads with no workflow in them:
    # - cases.tracking: how a tracking number is printed, for the texts of notifications;
    # - cases.reference: the per-process copy of the category table, so that a fan-out names a
    #   case's category without a query per event.
    ("notify", "cases"): {
        "apps.cases.models",
        "apps.cases.selectors",
        "apps.cases.tracking",
        "apps.cases.reference",
    },
}

LAYER_OF = {app: level for level, apps in enumerate(LAYERS) for app in apps}


# --- reading the imports ---------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(APPS.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _load_time_imports(body: Iterable[ast.stmt]) -> Iterable[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is loaded (not inside functions)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _load_time_imports(node.orelse)
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None) or []
                yield from _load_time_imports(
                    child
                    for item in children
                    for child in (item.body if isinstance(item, ast.ExceptHandler) else [item])
                )


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The ``apps.…`` modules that module ``name`` imports at load time. ``from a import b``
    counts as importing ``a.b`` when ``b`` is a module, else ``a``."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _load_time_imports(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: from . import x / from ..y import z
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            found.add(candidate if candidate in known else base)
    return {module for module in found if module == "apps" or module.startswith("apps.")}


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


# --- the rules -------------------------------------------------------------------------------


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        source_app = app_of(module)
        for target in sorted(targets):
            target_app = app_of(target)
            if target_app is None or target_app == source_app:
                continue
            if source_app not in LAYER_OF or target_app not in LAYER_OF:
                problems.append(f"{module} -> {target}: app not placed in LAYERS")
            elif LAYER_OF[target_app] > LAYER_OF[source_app]:
                problems.append(f"{module} -> {target}: {source_app} may not import {target_app}")
            elif (source_app, target_app) in ONLY_FROM and target not in ONLY_FROM[
                (source_app, target_app)
            ]:
                allowed = ", ".join(sorted(ONLY_FROM[(source_app, target_app)]))
                problems.append(f"{module} -> {target}: {source_app} reads only {allowed}")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself)
    — Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        found.append(sorted(component))
    return found


TASK_NAME = re.compile(r"^apps\.(\w+)\.tasks\.\w+$")


def foreign_task_names(modules: dict[str, Path]) -> list[str]:
    """String constants in app code that name a task of another app."""
    found = []
    for module, path in sorted(modules.items()):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = TASK_NAME.match(node.value)
                if match and match.group(1) != app_of(module):
                    found.append(f"{module}:{node.lineno} names {node.value!r}")
    return found


# --- the tests -------------------------------------------------------------------------------


def test_every_app_is_placed_in_a_layer():
    apps = {path.parent.name for path in APPS.glob("*/apps.py")}
    assert apps <= set(LAYER_OF), f"place these apps in LAYERS: {sorted(apps - set(LAYER_OF))}"


def test_apps_import_only_their_own_layer_and_those_below():
    assert layer_violations(import_graph()) == []


def test_no_import_cycle_among_app_modules():
    assert cycles(import_graph()) == []


def test_no_app_names_another_apps_task_by_a_string(tmp_path):
    assert foreign_task_names(all_modules()) == []
    example = tmp_path / "example.py"
    example.write_text('ROUTE = "apps.cases.tasks.route_case"\nFAN = "apps.notify.tasks.fan_out"\n')
    assert foreign_task_names({"apps.public.example": example}) == [
        "apps.public.example:1 names 'apps.cases.tasks.route_case'",
        "apps.public.example:2 names 'apps.notify.tasks.fan_out'",
    ]


def test_the_rules_catch_a_violation():
    """The checks themselves: an org module reaching up into cases, notify reading the workflow
    service, and two modules importing each other are all caught."""
    graph = import_graph()
    graph["apps.org.geo"] = graph["apps.org.geo"] | {"apps.cases.models"}
    graph["apps.notify.selectors"] = graph["apps.notify.selectors"] | {"apps.cases.services"}
    assert layer_violations(graph) == [
        "apps.notify.selectors -> apps.cases.services: notify reads only apps.cases.models, "
        "apps.cases.reference, apps.cases.selectors, apps.cases.tracking",
        "apps.org.geo -> apps.cases.models: org may not import cases",
    ]
    graph["apps.org.models"] = graph["apps.org.models"] | {"apps.org.scope"}
    assert ["apps.org.models", "apps.org.scope"] in cycles(graph)


def test_imports_inside_functions_do_not_count(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import apps.org.models\n"
        "if TYPE_CHECKING:\n"
        "    from apps.desk import site\n"
        "try:\n"
        "    from apps.cases import models\n"
        "except ImportError:\n"
        "    models = None\n"
        "class A:\n"
        "    from apps.org import scope\n"
        "def f():\n"
        "    from apps.demo import county\n"
    )
    known = {"apps.org.models", "apps.cases.models", "apps.org.scope", "apps.demo.county"}
    assert imported_modules("apps.x.example", source, known) == {
        "apps.org.models",
        "apps.cases.models",
        "apps.org.scope",
    }
