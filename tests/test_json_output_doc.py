"""docs/json-output.md names every top-level key of results.json, and no key results.json lacks."""

from __future__ import annotations

import re
from pathlib import Path

from cli_helpers import tiny
from hyperopt_cli.run.records import build_results

DOC = Path(__file__).resolve().parents[1] / "docs" / "json-output.md"
PANEL_ONLY = {"symbols", "scaling"}  # several symbols only (run/results.py results_layout)
ADDED_BY_RESULTS = {"status", "complete", "trials_per_hour"}  # `results` adds them to results.json (run/status.py)


def documented_keys() -> set[str]:
    """The keys at the top level of the `results --json` block: on lines indented two spaces, outside braces."""
    text = DOC.read_text(encoding="utf-8")
    block = text[text.index("## `results --json`") :].split("```\n", 2)[1]
    keys = set()
    for line in block.splitlines():
        if not re.match(r'^  "', line):
            continue
        depth = 0
        for match in re.finditer(r'[{}\[\]]|"(\w+)":', line.split("#", 1)[0]):
            token = match.group(0)
            depth += token in "{[" and 1 or (-1 if token in "}]" else 0)
            if match.group(1) and depth == 0:
                keys.add(match.group(1))
    return keys


def test_the_results_keys_are_the_documented_ones() -> None:
    produced = set(build_results(tiny(), {}, {}, {}, None).to_json())
    documented = documented_keys()
    assert len(documented) > 15, documented  # the parse found the block
    assert produced | ADDED_BY_RESULTS == documented - PANEL_ONLY
