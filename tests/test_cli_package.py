"""The cli/ package: one module per command family, none importing another in a circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hyperopt_cli.cli as cli_package

PACKAGE = Path(cli_package.__file__).parent


def _imports(path: Path) -> set[str]:
    """The hyperopt_cli.cli modules `path` imports at module level (lazy imports inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hyperopt_cli.cli."):
            found.add(node.module.rsplit(".", 1)[1])
    return found


def test_cli_modules_import_each_other_without_cycles() -> None:
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    helpers = {
        "progress",
        "run_selection",
        "runs_overview",
        "trials",
        "screen",
    }  # library-side views the commands share
    assert graph["app"] <= helpers, "cli/app.py is the bottom layer: it imports no command module"
    assert all(graph[h] <= {"screen"} for h in helpers), "the cli helpers import nothing of cli/ but screen"
    assert graph["screen"] == set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' -> '.join(path + (node,))}"
        for nxt in graph.get(node, ()):
            visit(nxt, path + (node,))

    for name in graph:
        visit(name, ())


def test_entry_point_and_module_run() -> None:
    from hyperopt_cli.cli import main

    assert callable(main)
    result = subprocess.run(
        [sys.executable, "-m", "hyperopt_cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "Usage: hyperopt" in result.stdout


def test_lower_layers_never_import_the_run_layer() -> None:
    """data/training/evaluation/search sit below run/: an import of hyperopt_cli.run from them is upward."""
    import ast

    root = Path(__file__).resolve().parents[1] / "src" / "hyperopt_cli"
    upward = []
    for layer in ("data", "training", "evaluation", "search"):
        for path in (root / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                upward += [
                    f"{path.relative_to(root)}: {n}"
                    for n in names
                    if n == "hyperopt_cli.run" or n.startswith("hyperopt_cli.run.")
                ]
    assert upward == []
