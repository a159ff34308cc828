"""The spool is private: created 0700, refused when someone else could reach into it."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker import defaults, errors, settings
from worker.jobs import spool

NOBODY = 65534


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_spool_is_created_private_and_so_is_what_the_worker_writes(tmp_path: Path) -> None:
    root = tmp_path / "state" / "spool"
    assert spool.prepare(root) == root
    assert _mode(root) == 0o700
    (root / "job").mkdir()
    (root / "job" / "part").write_bytes(b"x")
    assert _mode(root / "job") == 0o700
    assert _mode(root / "job" / "part") == 0o600


def test_an_own_spool_readable_by_others_is_closed(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    spool.prepare(root)
    assert _mode(root) == 0o700


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("owner", "owned by uid 65534"),
        ("group", "writable by its group or others"),
        ("world", "writable by its group or others"),
        ("symlink", "a symbolic link"),
        ("file", "not a directory"),
        ("parent", "writable by its group or others"),
    ],
)
def test_a_spool_others_could_reach_into_is_refused(tmp_path: Path, how: str, reason: str) -> None:
    root = tmp_path / "spool"
    if how == "file":
        root.write_bytes(b"")
    elif how == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        root.symlink_to(tmp_path / "elsewhere")
    elif how == "parent":
        parent = tmp_path / "open"
        parent.mkdir()
        parent.chmod(0o777)  # no sticky bit: anyone may rename the spool away
        root = parent / "spool"
    else:
        root.mkdir(mode=0o700)
        if how == "owner":
            os.chown(root, NOBODY, NOBODY)
        else:
            root.chmod(0o770 if how == "group" else 0o703)
    with pytest.raises(errors.ConfigError) as caught:
        spool.prepare(root)
    assert f"BACKUP_SPOOL_DIR={root}" in caught.value.message
    assert reason in caught.value.message


def test_the_default_spool_is_not_under_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    config = settings.Settings(_env_file=None)
    assert not config.backup_spool_dir.is_relative_to(tempfile.gettempdir())
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    found = defaults.default_spool_dir(system=tmp_path / "not-there")
    assert found == tmp_path / "state" / "backup-worker" / "spool"
    system = tmp_path / "var-lib"
    system.mkdir()
    assert defaults.default_spool_dir(system=system) == system / "spool"
