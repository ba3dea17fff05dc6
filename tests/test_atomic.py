import os
import stat

import pytest

from kb.atomic import atomic_path


def test_replaces_only_on_success_with_ordinary_permissions(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_missing_directory_and_directory_target(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "nope" / "x.txt"):
            pass
    with pytest.raises(IsADirectoryError):
        with atomic_path(tmp_path):
            pass
