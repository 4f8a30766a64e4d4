"""docs/architecture.md's module table is generated from the module docstrings, so it cannot drift.

Every module under src/hyperopt_cli (but `__init__.py` and `__main__.py`) has a row, in layer
order, whose text is the first paragraph of its docstring. After adding, moving or re-describing a
module, regenerate the table with:

    .venv/bin/python tests/test_architecture_map.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "hyperopt_cli"
DOC = REPO / "docs" / "architecture.md"
BEGIN = "<!-- module table: generated from the module docstrings by tests/test_architecture_map.py -->"
END = "<!-- end of the module table -->"
PIPE = "\\|"  # a | inside a table cell
# bottom to top, as the layer table above the module table (and pyproject.toml's import contracts)
LAYERS = (
    "core",
    "config",
    "data",
    "training",
    "evaluation",
    "search",
    "model",
    "run",
    "control",
    "report",
    "server",
    "cli",
)


def summary(path: Path) -> str:
    """The first paragraph of a module's docstring, on one line."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"{path.relative_to(REPO)} has no module docstring: say its one job in one line"
    return " ".join(docstring.split("\n\n", 1)[0].split())


def modules() -> list[Path]:
    found = [p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    layer = {name: i for i, name in enumerate(LAYERS)}

    def key(path: Path) -> tuple[int, str]:
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        assert top in layer, f"{path.relative_to(REPO)}: {top} is in no layer of LAYERS (and of pyproject.toml's)"
        return layer[top], path.relative_to(PACKAGE).as_posix()

    return sorted(found, key=key)


def table() -> str:
    rows = [f"| `{p.relative_to(PACKAGE).as_posix()}` | {summary(p).replace('|', PIPE)} |" for p in modules()]
    return "\n".join([BEGIN, "", "| module | its one job |", "|---|---|", *rows, "", END])


def current() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOC.name} lost its table markers"
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def test_the_module_table_is_the_module_docstrings() -> None:
    assert current() == table(), (
        f"{DOC.relative_to(REPO)}'s module table is out of date; regenerate it: "
        ".venv/bin/python tests/test_architecture_map.py"
    )


def test_every_module_has_a_row() -> None:
    text = current()
    missing = [
        p.relative_to(PACKAGE).as_posix() for p in modules() if f"| `{p.relative_to(PACKAGE).as_posix()}` |" not in text
    ]
    assert missing == []


if __name__ == "__main__":
    old = DOC.read_text(encoding="utf-8")
    DOC.write_text(old.replace(current(), table()), encoding="utf-8")
    print(f"wrote {DOC.relative_to(REPO)}'s module table ({len(modules())} modules)", file=sys.stderr)
