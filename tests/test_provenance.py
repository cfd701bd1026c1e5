"""Atomic writes: readers never see half a file, and written files are readable by the group."""

from __future__ import annotations

import os
import stat

import pytest

from clipasgd.provenance import atomic_write_text, write_json


@pytest.fixture
def umask():
    """Set a umask for one test and restore the old one after it."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    path = atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_text() == "hello"


def test_rewrite_replaces_content_and_leaves_no_temp_file(tmp_path, umask):
    umask(0o022)
    path = write_json(tmp_path / "x.json", {"a": 1})
    write_json(path, {"a": 2})
    assert path.read_text().strip().endswith("}") and '"a": 2' in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
