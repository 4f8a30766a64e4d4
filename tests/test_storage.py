"""The storage object: one place answers what each storage_url kind allows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cli_helpers import tiny_raw
from hyperopt_cli.config import config_from_dict
from hyperopt_cli.core import storage_kind
from hyperopt_cli.search.storage import RunStorage, mask_url


def store(tmp_path: Path, *overrides: str) -> RunStorage:
    return RunStorage(config_from_dict(tiny_raw(*overrides)), tmp_path)


@pytest.mark.parametrize(
    ("overrides", "file_per_group", "several_writers", "shared_db", "suffix"),
    [
        (
            (),
            True,
            False,
            False,
            ".db",
        ),  # null in a run's config: SQLite files (runs from before journal was the default)
        (("storage_url=sqlite",), True, False, False, ".db"),
        (("storage_url=journal",), True, True, False, ".journal"),
        (("storage_url=postgresql://u:pw@host/db",), False, True, True, None),
    ],
)
def test_each_kind_answers_the_storage_questions(
    tmp_path: Path,
    overrides: tuple[str, ...],
    file_per_group: bool,
    several_writers: bool,
    shared_db: bool,
    suffix: str | None,
) -> None:
    s = store(tmp_path, *overrides)
    assert (s.file_per_group, s.several_writers, s.is_shared_database) == (file_per_group, several_writers, shared_db)
    path = s.study_file("learning_rate")
    assert (path.suffix if path else None) == suffix
    assert (s.dashboard_url("learning_rate") is not None) == (suffix is not None)


def test_masks_the_password_only(tmp_path: Path) -> None:
    assert mask_url("postgresql://user:s3cret@db:5432/h") == "postgresql://user:***@db:5432/h"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"
    assert storage_kind.describe(None) == "sqlite files"
    assert store(tmp_path, "storage_url=mysql://a:b@c/d").masked_url == "mysql://a:***@c/d"


def test_open_readonly_is_none_before_the_study_exists_and_never_creates_it(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert s.open_readonly("learning_rate") is None
    assert not s.study_exists("learning_rate")
    study = s.storage("learning_rate")
    import optuna

    optuna.create_study(study_name=s.study_name("learning_rate"), storage=study)
    ro = s.open_readonly("learning_rate")
    assert ro is not None and ro.study_name == s.study_name("learning_rate")


def _kind_comparisons(code: str) -> list[int]:
    """Lines comparing `<x>.storage_url` or the "journal" string with something: storage-kind decisions."""
    lines = []
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        if any(isinstance(o, ast.Attribute) and o.attr == "storage_url" for o in operands) or any(
            isinstance(o, ast.Constant) and o.value == storage_kind.JOURNAL for o in operands
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_but_storage_kind_decides_the_storage_kind() -> None:
    assert _kind_comparisons("a = cfg.storage_url is None\nb = url == 'journal'\nc = x.storage_url in (None,)") == [
        1,
        2,
        3,
    ]
    src = Path(storage_kind.__file__).resolve().parents[1]
    deciders = {p.relative_to(src).as_posix(): _kind_comparisons(p.read_text()) for p in src.rglob("*.py")}
    assert {path: lines for path, lines in deciders.items() if lines} == {}
