"""Where a job's files wait on this host: one directory per job id under BACKUP_SPOOL_DIR.

A backup's parts wait there for upload, a restore's downloaded artifact and the archive decoded
from it for pg_restore. The spool is local to a host, so every step of a job runs where its
directory is; the reaper removes the directories of finished jobs. Backup, restore and the
reaper share this layout.

The spool holds plaintext (a decrypted archive, unencrypted parts), so it is private: `prepare`
runs at worker start, creates the directory 0700 or refuses one that another user owns or may
write to (or that a symlink stands for), and sets the process umask to 077, so every directory
and file the worker writes there is 0700/0600 whichever module writes it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import BinaryIO

from worker import errors
from worker.jobs.runtime import Runtime

ARTIFACT = "artifact"  # a restore's parts joined into one file, in the job's directory
ARCHIVE = "archive.pgdump"  # the artifact decrypted and decompressed, for pg_restore --jobs
PRIVATE_UMASK = 0o077  # the worker's files: 0600, its directories: 0700
FILE_MODE = 0o600  # what a restore's own files are opened with, whatever the umask


def prepare(root: Path) -> Path:
    """Make `root` the worker's private spool, or ConfigError saying why it cannot be.

    Created 0700 when missing; an own directory others may only read is closed to them; one
    that someone else owns, that others may write to, or a symlink is refused, and so is one
    inside a directory where others may rename it away (group/world-writable, no sticky bit).
    """
    os.umask(PRIVATE_UMASK)
    named = f"BACKUP_SPOOL_DIR={root}"
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            root.mkdir(mode=0o700)
        found = root.lstat()
    except OSError as exc:
        raise errors.ConfigError(f"{named}: cannot create the spool: {exc.strerror}") from None
    refuse_unsafe(root, found)
    if stat.S_IMODE(found.st_mode) & 0o077:
        root.chmod(0o700)  # an older worker's spool, readable by others: close it
    return root


def refuse_unsafe(root: Path, found: os.stat_result) -> None:
    """ConfigError when the existing `root` (its lstat: `found`) cannot be a private spool, as
    `prepare` refuses it; changes nothing (`backup-worker check` calls it too)."""
    named = f"BACKUP_SPOOL_DIR={root}"
    for parent in root.absolute().parents:
        _refuse_open(parent, parent.stat(), f"{named}: its parent {parent}", sticky_ok=True)
    if stat.S_ISLNK(found.st_mode):
        raise errors.ConfigError(f"{named} is a symbolic link: name the directory itself")
    if not stat.S_ISDIR(found.st_mode):
        raise errors.ConfigError(f"{named} is not a directory")
    _refuse_open(root, found, named, sticky_ok=False)


def _refuse_open(path: Path, found: os.stat_result, named: str, *, sticky_ok: bool) -> None:
    if found.st_uid not in (os.geteuid(), 0) or (not sticky_ok and found.st_uid != os.geteuid()):
        raise errors.ConfigError(
            f"{named} is owned by uid {found.st_uid}, not by the worker's uid {os.geteuid()}: "
            "another user could read or replace what the spool holds"
        )
    writable = found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable and not (sticky_ok and found.st_mode & stat.S_ISVTX):
        raise errors.ConfigError(
            f"{named} is writable by its group or others: make it 0700 (or choose another "
            "BACKUP_SPOOL_DIR)"
        )


def private_file(path: Path, *, truncate: bool = False) -> BinaryIO:
    """`path` opened for reading and writing, created 0600 (and made so when it was not);
    a symlink in its place is refused (ELOOP)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_TRUNC if truncate else 0)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, "r+b")
    except BaseException:
        os.close(fd)
        raise


def directory(rt: Runtime, job_id: uuid.UUID) -> Path:
    """This job's directory in the spool (it may not exist yet)."""
    return rt.settings.backup_spool_dir / str(job_id)


def artifact(rt: Runtime, job_id: uuid.UUID) -> Path:
    """Where a restore joins the downloaded parts into one file."""
    return directory(rt, job_id) / ARTIFACT


def archive(rt: Runtime, job_id: uuid.UUID) -> Path:
    """Where a restore decodes the artifact into the archive pg_restore reads."""
    return directory(rt, job_id) / ARCHIVE


def remove(rt: Runtime, job_id: uuid.UUID) -> None:
    """Remove this job's directory and all in it; gone already is fine."""
    shutil.rmtree(directory(rt, job_id), ignore_errors=True)


def job_directories(rt: Runtime) -> dict[uuid.UUID, Path]:
    """The job directories in this host's spool, by job id (other entries are not ours)."""
    root = rt.settings.backup_spool_dir
    if not root.is_dir():
        return {}
    found: dict[uuid.UUID, Path] = {}
    for entry in root.iterdir():
        try:
            found[uuid.UUID(entry.name)] = entry
        except ValueError:
            continue
    return found
