"""The domain stays a domain: `steps/` imports no front end, and its modules import each other without cycles.

Both rules are checked on the source (every import, deferred ones included), so a cycle hidden behind a
function-level import fails here too.
"""

import ast
from pathlib import Path

import pytest

STEPS = Path(__file__).resolve().parents[1] / "steps"
FRONT_ENDS = ("textual", "rich", "textual_serve", "olive_lab.tui", "olive_lab.commands", "olive_lab.cli",
              "olive_lab.follow")


def imports_of(path: Path, package: str = "olive_lab.steps") -> list[tuple[str, int, bool]]:
    """(module, line, top_level) for every import in the file, relative ones resolved from `package` (the
    file's own package: olive_lab.steps, or a subpackage such as olive_lab.steps.check)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                base += f".{node.module}" if node.module else ""
                names = [base] if node.module else [f"{base}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            found += [(name, node.lineno, id(node) in top) for name in names]
    return found


def step_modules() -> dict[str, Path]:
    """Every module of steps/, subpackages included: dotted name below olive_lab.steps -> file."""
    modules = {}
    for path in sorted(STEPS.rglob("*.py")):
        parts = path.relative_to(STEPS).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            modules[".".join(parts)] = path
    return modules


def package_of(name: str) -> str:
    """The package a module's relative imports start from."""
    path = step_modules()[name]
    dotted = f"olive_lab.steps.{name}"
    return dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]


def step_module_of(imported: str, modules: dict[str, Path]) -> str | None:
    """The steps/ module an import names (the longest match: `from .check import facts` is check.facts)."""
    if not imported.startswith("olive_lab.steps."):
        return None
    parts = imported[len("olive_lab.steps."):].split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def test_subpackages_are_scanned():
    """The check and upload packages are in the scan (a layout that escaped it would pass every rule)."""
    assert {"check", "check.assess", "check.probes", "upload", "upload.storage", "upload.run"} <= set(step_modules())


@pytest.mark.parametrize("name", sorted(step_modules()))
def test_steps_import_no_front_end(name):
    bad = [f"line {line}: {module}" for module, line, _ in imports_of(step_modules()[name], package_of(name))
           if module.split(".")[0] in FRONT_ENDS or module.startswith(FRONT_ENDS)]
    assert not bad, f"steps/{step_modules()[name].relative_to(STEPS)} imports a front end: {bad}"


def test_no_import_cycle_among_steps_modules():
    modules = step_modules()
    graph = {name: sorted({step_module_of(m, modules) for m, _, _ in imports_of(path, package_of(name))}
                          - {name, None})
             for name, path in modules.items()}
    cycles, state = [], {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles among steps/ modules:\n" + "\n".join(cycles)
