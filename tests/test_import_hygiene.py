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


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, top_level) for every import in the file, relative ones resolved within olive_lab.steps."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = "olive_lab.steps" + (f".{node.module}" if node.module else "")
                names = [base] if node.module else [f"{base}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            found += [(name, node.lineno, id(node) in top) for name in names]
    return found


def step_modules() -> dict[str, Path]:
    return {p.stem: p for p in sorted(STEPS.glob("*.py")) if p.stem != "__init__"}


@pytest.mark.parametrize("name", sorted(step_modules()))
def test_steps_import_no_front_end(name):
    bad = [f"line {line}: {module}" for module, line, _ in imports_of(step_modules()[name])
           if module.split(".")[0] in FRONT_ENDS or module.startswith(FRONT_ENDS)]
    assert not bad, f"steps/{name}.py imports a front end: {bad}"


def test_no_import_cycle_among_steps_modules():
    modules = step_modules()
    graph = {name: sorted({m.split(".")[2] for m, _, _ in imports_of(path)
                           if m.startswith("olive_lab.steps.") and m.split(".")[2] in modules} - {name})
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
