"""The package's house rules, read from the code: layers, no cycles, small modules.

Every `import` of every module (lazy ones inside functions included) is read with `ast`; a
module may import its own layer and the layers listed for it below, never one above; no two
modules may import each other through any chain; no module is over 400 lines; the package's
top level stays small. README's "Architecture" section draws the same layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mmzppo

PACKAGE = Path(mmzppo.__file__).parent
# layer -> the other layers it may import (besides itself and the package face `mmzppo`)
ALLOWED = {
    "data": set(),
    "grading": {"data"},
    "prompting": {"grading", "data"},
    "core": {"prompting", "grading", "data"},  # the equations: no model code
    "policy": {"prompting", "grading", "data"},
    "teachers": {"policy", "core", "prompting", "grading", "data"},
    "eval": {"teachers", "policy", "core", "prompting", "grading", "data"},
    "train": {"teachers", "policy", "core", "prompting", "grading", "data"},
    "tools": {"train", "eval", "teachers", "policy", "core", "prompting", "grading", "data"},
}
TOP_LEVEL = {"__init__.py", "_compat.py", *ALLOWED}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path) -> set[str]:
    """The mmzppo modules a file imports (`from mmzppo.x import y` counts mmzppo.x.y when that
    is a module, else mmzppo.x)."""
    known = modules()
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("mmzppo")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mmzppo") and not node.level:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(full if full in known else node.module)
    return out


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


def test_every_import_stays_in_its_layer_or_goes_down():
    wrong = []
    for name, path in modules().items():
        mine = layer(name)
        if mine is None:
            continue
        for target in imports(path):
            other = layer(target)
            if other is not None and other != mine and other not in ALLOWED[mine]:
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports from a lower layer up to a higher one:\n" + "\n".join(wrong)


def test_no_import_cycles():
    graph = {name: {t for t in imports(path) if t in modules() and t != name} for name, path in modules().items()}
    # a package's face importing its own submodules is how a package is read, not a cycle
    graph = {n: {t for t in ts if not (path_is_face(n) and t.startswith(n + "."))} for n, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def path_is_face(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def test_modules_are_short_and_the_top_level_small():
    long = {name: n for name, p in modules().items() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"modules over 400 lines: {long}"
    top = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__" and not p.name.startswith(".")}
    assert top <= TOP_LEVEL and len(top) <= 12, sorted(top - TOP_LEVEL)
