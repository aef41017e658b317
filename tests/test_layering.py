"""The package's layers point one way: each module imports only modules of its own layer or below, and no
imports form a circle. A new module must be placed in LAYERS, so its place is a decision, not an accident."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rwkd"

# lowest first; a module belongs to the first entry that is its name or a package above it
LAYERS = [
    ["rwkd.errors", "rwkd.atomic", "rwkd.distributed", "rwkd.locks", "rwkd.records", "rwkd.setting_rules", "rwkd.markdown",
     "rwkd.checkout", "rwkd.console"],
    ["rwkd.tasks", "rwkd.metrics", "rwkd.baselines", "rwkd.selection", "rwkd.losses", "rwkd.terms", "rwkd.weight_figures",
     "rwkd.embedded", "rwkd.models", "rwkd.optim", "rwkd.data"],
    ["rwkd.weighting"],
    ["rwkd.training"],
    ["rwkd.run"],
    ["rwkd.teacher"],
    ["rwkd.config"],
    ["rwkd.commands"],
    ["rwkd.recipe", "rwkd.study"],
    ["rwkd.report"],
    ["rwkd.cli", "rwkd._train_entry", "rwkd"],
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    for level, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names if n != "rwkd") or module in names:
            return level
    raise AssertionError(f"{module} is in no layer of LAYERS")


def imports_of(module: str) -> set[str]:
    """The rwkd modules `module` imports, at the top or inside functions (a deferred import is still a dependency)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != module}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    upward = sorted(m for m in GRAPH[module] if layer_of(m) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports a module above it: {upward}"


def test_no_import_circles():
    seen, on_path, circles = set(), [], []

    def visit(module):
        if module in on_path:
            circles.append(on_path[on_path.index(module):] + [module])
            return
        if module in seen:
            return
        seen.add(module)
        on_path.append(module)
        for m in sorted(GRAPH[module]):
            visit(m)
        on_path.pop()

    for module in sorted(MODULES):
        visit(module)
    assert not circles, f"import circles: {circles}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The check itself: a module of the bottom layer importing the CLI is caught."""
    assert layer_of("rwkd.cli") > layer_of("rwkd.errors")
    assert "rwkd.errors" in GRAPH["rwkd.atomic"]
