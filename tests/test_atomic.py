"""Atomic writes: a writer that fails halfway leaves the old file as it was; a good write is a new file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import pytest

from hyperopt_cli.core.atomic import atomic_write, atomic_write_json

OLD = b'{"status": "running", "trials": 41}\n'


class DiskFull(OSError):
    pass


def half_then_fail(handle: IO[bytes]) -> None:
    handle.write(b'{"status": "pau')
    handle.flush()  # the half really reaches the file system before the failure
    raise DiskFull("no space left on device")


def test_a_writer_failing_halfway_leaves_the_old_file_byte_identical(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(OLD)
    inode = target.stat().st_ino
    with pytest.raises(DiskFull):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == OLD
    assert target.stat().st_ino == inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # the temp file is gone too


def test_a_good_write_replaces_the_file_by_a_new_one(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(OLD)
    inode = target.stat().st_ino
    with open(target, "rb") as reader_before:  # a reader that opened the old file keeps reading it whole
        atomic_write_json(target, {"status": "paused"})
        assert reader_before.read() == OLD
    assert target.read_bytes() == b'{\n  "status": "paused"\n}\n'
    assert target.stat().st_ino != inode  # renamed over, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    with pytest.raises(DiskFull):
        atomic_write(target, half_then_fail)
    assert os.listdir(tmp_path) == []
