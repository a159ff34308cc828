"""Where a job's files wait on this host: one directory per job id under BACKUP_SPOOL_DIR.

A backup's parts wait there for upload, a restore's downloaded artifact and the archive decoded
from it for pg_restore. The spool is local to a host, so every step of a job runs where its
directory is; the reaper removes the directories of finished jobs. Backup, restore and the
reaper share this layout.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from worker.jobs.runtime import Runtime

ARTIFACT = "artifact"  # a restore's parts joined into one file, in the job's directory
ARCHIVE = "archive.pgdump"  # the artifact decrypted and decompressed, for pg_restore --jobs


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
