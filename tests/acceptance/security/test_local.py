"""Local hardening against a hostile host neighbour and a hostile Bot API (issue #20, item 4).

Real worker processes, PostgreSQL and the stand-in: the spool is private, a download that lies
about its size, drips or points outside the Bot API fails its job with a clear message while the
worker goes on, template databases are no targets, and logged values are bounded.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest

from tests.acceptance.conftest import Stack
from tests.acceptance.restore.support import (
    PART_SIZE,
    follow,
    make_backup,
    new_target,
    send,
    send_restore,
    targets,
)
from tests.support.sources import admin_execute, drop_database, make_source_database
from tests.support.stack import job_row
from worker import logs
from worker.contract import tasks

__all__ = ["targets"]  # a fixture, used by name

NOBODY = 65534


@pytest.fixture(scope="module")
def small_db() -> Iterator[str]:
    name = f"bw_sec_{uuid.uuid4().hex[:8]}"
    make_source_database(name, rows=20000)
    yield name
    drop_database(name)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _watch(root: Path, names: set[str], seconds: float) -> dict[str, int]:
    """The modes of the files called `names` under `root` and of their directories, as seen
    while a job runs."""
    seen: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not names <= set(seen):
        for path in root.rglob("*"):
            with contextlib.suppress(FileNotFoundError):
                if path.name in names:
                    seen[path.name] = _mode(path)
                    seen[path.parent.name] = _mode(path.parent)
        time.sleep(0.02)
    return seen


def _modes(root: Path) -> dict[Path, tuple[bool, int]]:
    """(is a directory, mode) of everything under `root` now."""
    found: dict[Path, tuple[bool, int]] = {}
    for path in root.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            info = path.lstat()
            found[path] = (stat.S_ISDIR(info.st_mode), stat.S_IMODE(info.st_mode))
    return found


def test_the_parts_of_a_backup_wait_in_a_private_spool(stack: Stack, small_db: str) -> None:
    stack.start_worker(BACKUP_PART_SIZE=PART_SIZE)  # unencrypted: the parts are plaintext
    stack.standin.set_faults(["delay:3"], methods=["sendDocument"])
    job_id = stack.send(project_id="proj-sec", database=small_db)
    spool = stack.tmp / "spool"
    modes: dict[Path, tuple[bool, int]] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(not d for d, _ in modes.values()):
        modes = _modes(spool)
        time.sleep(0.02)
    assert {mode for is_dir, mode in modes.values() if not is_dir} == {0o600}, modes
    assert {mode for is_dir, mode in modes.values() if is_dir} == {0o700}, modes
    assert stack.wait_job(job_id)["status"] == "completed"


def test_the_spool_of_an_encrypted_restore_is_private(
    stack: Stack, small_db: str, targets: list[str], tmp_path: Path
) -> None:
    identity = pyrage.x25519.Identity.generate()
    key = tmp_path / "key.txt"
    key.write_text(f"# test key\n{identity}\n")
    stack.start_worker(
        BACKUP_PART_SIZE=PART_SIZE,
        BACKUP_AGE_RECIPIENTS=str(identity.to_public()),
        BACKUP_AGE_IDENTITY_FILE=str(key),
    )
    spool = stack.tmp / "spool"
    assert _mode(spool) == 0o700
    backup = make_backup(stack, small_db)
    assert backup["encrypted"] is True
    # One part's download waits: the artifact and the plaintext archive sit in the spool.
    stack.standin.set_faults(["delay:3"], methods=["download"])
    target = new_target(targets)
    job_id = send_restore(stack, backup_id=str(backup["id"]), target_database=target)
    seen = _watch(spool, {"artifact", "archive.pgdump"}, 30)
    assert seen.get("artifact") == 0o600, seen
    assert seen.get("archive.pgdump") == 0o600, seen
    assert seen.get(job_id) == 0o700, seen
    assert stack.wait_job(job_id)["status"] == "completed"


@pytest.mark.parametrize("how", ["someone else's", "group-writable", "a symlink"])
def test_the_worker_refuses_a_spool_it_cannot_keep_private(
    stack: Stack, tmp_path: Path, how: str
) -> None:
    spool = tmp_path / "planted"
    spool.mkdir(mode=0o700)
    if how == "someone else's":
        os.chown(spool, NOBODY, NOBODY)
    elif how == "group-writable":
        spool.chmod(0o770)
    else:
        real, spool = spool, tmp_path / "link"
        spool.symlink_to(real)
    with pytest.raises(RuntimeError) as caught:
        stack.start_worker(BACKUP_SPOOL_DIR=str(spool))
    assert f"BACKUP_SPOOL_DIR={spool}" in str(caught.value)
    assert "cannot start" in str(caught.value)


def _restore_fails(stack: Stack, backup_id: str, targets: list[str]) -> dict[str, object]:
    target = new_target(targets)
    job_id = send_restore(stack, backup_id=backup_id, target_database=target)
    follow(stack, job_id, timeout=60)
    row = job_row(stack.database, job_id)
    assert row is not None
    assert row["status"] == "failed", row
    return row


def test_a_download_longer_than_the_record_fails_the_restore_not_the_worker(
    stack: Stack, small_db: str, targets: list[str]
) -> None:
    worker = stack.start_worker(BACKUP_PART_SIZE=PART_SIZE)
    backup = make_backup(stack, small_db)
    stack.standin.set_faults(["oversize:30000000"], methods=["download"])
    row = _restore_fails(stack, str(backup["id"]), targets)
    error = str(row["error"])
    assert "more than" in error, error
    assert "bytes recorded" in error, error
    assert worker.proc.poll() is None
    # The lie sent 30 MB; the worker read the part's own size and stopped.
    stack.standin.set_faults(["size:3000"], methods=["getFile"])
    row = _restore_fails(stack, str(backup["id"]), targets)
    assert "getFile says 3000 bytes" in str(row["error"]), row["error"]
    target = new_target(targets)
    job_id = send_restore(stack, backup_id=str(backup["id"]), target_database=target)
    assert stack.wait_job(job_id)["status"] == "completed"


def test_a_dripping_download_fails_at_the_deadline(
    stack: Stack, small_db: str, targets: list[str]
) -> None:
    worker = stack.start_worker(BACKUP_PART_SIZE=PART_SIZE, TELEGRAM_DOWNLOAD_TIMEOUT="3")
    backup = make_backup(stack, small_db)
    stack.standin.set_faults(["drip:0.5"] * 50, methods=["download"])
    started = time.monotonic()
    row = _restore_fails(stack, str(backup["id"]), targets)
    assert time.monotonic() - started < 30
    assert "TELEGRAM_DOWNLOAD_TIMEOUT=3" in str(row["error"]), row["error"]
    assert worker.proc.poll() is None


@pytest.mark.parametrize("path", ["/etc/hostname", "documents/../../../etc/hostname"])
def test_a_file_path_outside_the_bot_api_fails_the_restore(
    stack: Stack, small_db: str, targets: list[str], path: str
) -> None:
    worker = stack.start_worker(BACKUP_PART_SIZE=PART_SIZE)
    backup = make_backup(stack, small_db)
    stack.standin.set_faults([f"path:{path}"], methods=["getFile"])
    row = _restore_fails(stack, str(backup["id"]), targets)
    assert "file_path" in str(row["error"]), row["error"]
    assert worker.proc.poll() is None


@pytest.mark.parametrize("how", ["IS_TEMPLATE true", "ALLOW_CONNECTIONS false"])
def test_a_template_or_closed_database_is_no_clean_restore_target(
    stack: Stack, targets: list[str], how: str
) -> None:
    # A database an earlier restore of this project created is one the project scope lets a
    # clean restore into, so the refusal seen here is the template check's, not the scope's.
    stack.start_worker(BACKUP_PART_SIZE=PART_SIZE)
    source_db = new_target(targets, "src")
    make_source_database(source_db, rows=100)
    backup = make_backup(stack, source_db)
    own = new_target(targets, "tmpl")
    first = send(
        stack, tasks.RestoreBackup(str(backup["project_id"]), uuid.UUID(str(backup["id"])), own)
    )
    follow(stack, first, timeout=60)
    done = job_row(stack.database, first)
    assert done is not None
    assert done["status"] == "completed", done
    admin_execute(f'ALTER DATABASE "{own}" {how}')
    try:
        message = tasks.RestoreBackup(
            str(backup["project_id"]), uuid.UUID(str(backup["id"])), own, clean=True
        )
        job_id = send(stack, message)
        follow(stack, job_id, timeout=60)
        row = job_row(stack.database, job_id)
        assert row is not None
        assert row["status"] == "failed", row
        assert "refusing to restore into" in str(row["error"]), row["error"]
        assert ("template" if "TEMPLATE" in how else "connections") in str(row["error"])
    finally:
        admin_execute(f'ALTER DATABASE "{own}" IS_TEMPLATE false ALLOW_CONNECTIONS true')


def test_a_huge_project_id_is_logged_bounded(stack: Stack, small_db: str) -> None:
    worker = stack.start_worker()
    huge = "p" * 10_000
    stack.client.send_task(
        tasks.CREATE, kwargs={"project_id": huge, "database": small_db, "job_id": str(uuid.uuid4())}
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "backups.create" not in worker.log().split("ready")[-1]:
        time.sleep(0.2)
    time.sleep(1)  # the task's own lines after its receipt
    lines = worker.log().splitlines()
    assert any("p" * 100 in line for line in lines)  # it was logged, and so it was cut:
    assert max(len(line) for line in lines) <= logs.MAX_MESSAGE + 200
    assert huge[: logs.MAX_MESSAGE + 1] not in worker.log()
    assert worker.proc.poll() is None
