"""The layering of docs/ARCHITECTURE.md, checked on the imports of every module in src/.

Each top-level part of siamface may import only the parts the doc's "may import" table lists
for it (and the ``siamface`` package root, for ``__version__``); no module may take part in an
import cycle.
Imports inside functions and under ``if TYPE_CHECKING:`` count too: a dependency is a
dependency wherever it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "siamface"

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "ARCHITECTURE.md"


def layering_table(text: str) -> dict[str, set[str]]:
    """part -> the parts it may import, from the "| part | may import |" table of the doc."""
    rows = text.split("| part | may import |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    table = {}
    for row in rows:
        part_cell, allowed_cell = (cell.strip() for cell in row.strip("|").split("|"))
        table[part_cell.strip("`")] = {c.strip().strip("`") for c in allowed_cell.split(",")
                                       if c.strip() != "-"}
    return table


ALLOWED = layering_table(ARCHITECTURE.read_text(encoding="utf-8"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """The siamface modules ``path`` imports (a ``from a.b import c`` of a submodule c counts as
    a.b.c), wherever in the file the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "siamface"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "siamface":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = (SRC / Path(*sub.split("."))).with_suffix(".py").is_file() or (
                    SRC / Path(*sub.split(".")) / "__init__.py").is_file()
                found.add(sub if is_module else base)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imported_modules(path) & MODULES.keys() | {
    m for m in imported_modules(path) if m == "siamface"} for name, path in MODULES.items()}


def part(module: str) -> str:
    """The top-level part of a module: "siamface.training.trainer" -> "training"."""
    return module.split(".")[1] if "." in module else ""


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "siamface"))
def test_imports_follow_the_layering(module):
    own = part(module)
    assert own in ALLOWED, f"{module}: part {own!r} is missing from the layering"
    bad = sorted(m for m in GRAPH[module]
                 if m != "siamface" and part(m) != own and part(m) not in ALLOWED[own])
    assert not bad, f"{module} ({own}) imports {bad}, against the layering"


def test_no_module_is_part_of_an_import_cycle():
    # depth-first search over the module graph; the package root only re-exports lazily
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt == "siamface":
                continue
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module)


def test_the_table_is_read_from_the_doc():
    assert ALLOWED["errors"] == set() and ALLOWED["__main__"] == {"cli"}
    assert ALLOWED["losses"] == {"errors", "utils", "models"}
    assert "inference" not in ALLOWED["training"] and "training" not in ALLOWED["inference"]
    assert {p.name.removesuffix(".py") for p in PACKAGE.iterdir()
            if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").is_file())
            } <= ALLOWED.keys()


def test_the_check_sees_imports_inside_functions():
    assert "siamface.training.builder" in GRAPH["siamface.cli.train"]  # imported in a function
    assert "siamface.data.people" in GRAPH["siamface.data.stats"]
