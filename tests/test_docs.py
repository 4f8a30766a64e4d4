"""The README a new user reads first: short, its links resolve, and its first run works from a clean clone."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from cli_helpers import hyperopt

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def section(markdown: str, title: str) -> str:
    """The text under the `## title` heading, up to the next `## ` heading."""
    start = markdown.index(f"\n## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end > 0 else None]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", markdown, flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_readme_stays_a_short_user_guide() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 450


def test_readme_shows_the_command_ci_runs() -> None:
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines() if line.strip().startswith("make ")]
    assert ci == ["make test"]
    text = README.read_text(encoding="utf-8")
    assert "\nmake run " in text and "\nmake test " in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.name}: link to missing {target}"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file.read_text(encoding="utf-8")), f"{page.name}: no heading for {target}"


def first_run_command() -> list[str]:
    """The `hyperopt start` line of the README's "A first run", as argv without the program."""
    block = section(README.read_text(encoding="utf-8"), "A first run")
    (line,) = [ln for ln in block.splitlines() if ln.startswith(".venv/bin/hyperopt start ")]
    return shlex.split(line.split("#")[0])[1:]


def test_first_run_uses_files_shipped_in_the_repository() -> None:
    args = first_run_command()
    for option in ("--config", "--data"):
        path = (REPO / args[args.index(option) + 1]).resolve()
        assert path.is_relative_to(REPO) and path.is_file(), f"{option} {path} is not a file in the repository"


@pytest.mark.slow
def test_first_run_command_completes_from_the_repository_root(tmp_path: Path) -> None:
    tiny = ["--set", "max_trials_per_group=2", "--set", "epochs_per_trial=1", "--set", "ensemble_seeds=1"]
    result = hyperopt(*first_run_command(), *tiny, "--exact", "--runs-dir", tmp_path, "--json", cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout)
    assert answer["status"] == "completed" and Path(answer["run_dir"]).parent == tmp_path
