"""The app registers what DESIGN promises, and ``function_app.py`` only wires blueprints."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.app_functions import app_specs

REPO = Path(__file__).resolve().parents[2]
SPECS = {s.name: s for s in app_specs()}


def test_every_trigger_kind_is_registered():
    kinds = {s.kind for s in SPECS.values()}
    assert {"http", "timer", "servicebus", "orchestration", "activity"} <= kinds


def test_function_app_only_builds_the_app_and_registers_blueprints():
    tree = ast.parse((REPO / "function_app.py").read_text())
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # docstring
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            assert ast.unparse(node.value.func) == "df.DFApp"
            continue
        assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Call), ast.unparse(node)
        assert ast.unparse(node.value.func) == "app.register_functions", ast.unparse(node)


def test_domain_core_imports_nothing_from_azure():
    for path in (REPO / "shared" / "domain").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.startswith("azure") for n in names), f"{path} imports {names}"


def test_service_bus_functions_listen_on_declared_queues():
    from shared.topology import queue_spec

    for spec in SPECS.values():
        if spec.kind == "servicebus":
            assert spec.queue_name is not None
            queue_spec(spec.queue_name)  # raises for an undeclared queue


def test_funcignore_keeps_local_only_folders_out_of_the_deployment():
    ignored = set((REPO / ".funcignore").read_text().split())
    assert {"tests", "web", "mobile", "devhost", "bench", "infra"} <= ignored
    assert "product.json" not in ignored and "host.json" not in ignored
