"""hcpy.files.write_private: a write that fails leaves the old file as it was and no temporary file behind."""

from __future__ import annotations

import stat

import pytest

from hcpy.files import write_private


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "devices.json"
    write_private(path, "[]")
    with pytest.raises(UnicodeEncodeError):
        write_private(path, "[\udc80]")  # a lone surrogate: no UTF-8 for it, found while writing
    assert path.read_text() == "[]"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devices.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_rename_that_fails_removes_the_temporary_file(tmp_path):
    taken = tmp_path / "state.json"
    taken.mkdir()  # a directory where the file should go: the rename fails
    with pytest.raises(IsADirectoryError):
        write_private(taken, b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"] and taken.is_dir()
