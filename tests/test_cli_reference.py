"""docs/commands.md's command reference is what `--help` says: regenerate it with `python -m hyperopt_cli.cli.reference --write docs/commands.md`."""

from __future__ import annotations

from pathlib import Path

from hyperopt_cli.cli.reference import command_names, current_block, reference

COMMANDS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "commands.md"


def test_commands_page_reference_matches_help() -> None:
    block = current_block(COMMANDS_PAGE.read_text(encoding="utf-8"))
    assert block == reference(), (
        "docs/commands.md's command reference differs from --help; run: python -m hyperopt_cli.cli.reference --write docs/commands.md"
    )


def test_reference_covers_every_command_with_its_example() -> None:
    text = reference()
    for name in command_names():
        assert f"### `hyperopt {name}`" in text and f"Usage: hyperopt {name} [OPTIONS]" in text
        assert f"Example: hyperopt {name}" in " ".join(text.split())
