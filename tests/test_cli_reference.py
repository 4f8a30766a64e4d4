"""README's command reference is what `--help` says: regenerate it with `python -m hyperopt_cli.cli.reference --write README.md`."""

from __future__ import annotations

from pathlib import Path

from hyperopt_cli.cli.reference import command_names, current_block, reference

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_command_reference_matches_help() -> None:
    block = current_block(README.read_text(encoding="utf-8"))
    assert block == reference(), (
        "README's command reference differs from --help; run: python -m hyperopt_cli.cli.reference --write README.md")


def test_reference_covers_every_command_with_its_example() -> None:
    text = reference()
    for name in command_names():
        assert f"### `hyperopt {name}`" in text and f"Usage: hyperopt {name} [OPTIONS]" in text
        assert f"Example: hyperopt {name}" in " ".join(text.split())
