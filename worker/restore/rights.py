"""Whose rights a restore runs with: the project owner's (worker.postgres.ephemeral).

The owner is the existing target's owner, else the role that owned the database when the
backup was taken (backups.contents.owner, else the archive's DATABASE entry), if the target
server has it. A drill needs no owner: its scratch database belongs to the job's own role. An
owner that is the URL's own user needs no role of the job's own either: it has those rights.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from db import models
from db.queries import jobs as db_jobs
from worker import errors
from worker.jobs.runtime import Runtime
from worker.postgres import ephemeral, pgrestore, snapshot, source, target

log = logging.getLogger(__name__)


def owner(
    params: source.SourceParams,
    name: str,
    backup: models.Backup,
    job_id: uuid.UUID,
    *,
    archive: Path | None = None,
    program: str | None = None,
) -> str:
    """The project's owner, whose rights the restore runs with: the existing target's owner,
    else the owner the backup recorded, or (a backup older than that record, or one a catalog
    recovery brought back) the owner the checked `archive`'s DATABASE entry names, if the
    server has that role; RestoreError if none of them."""
    found = target.owner(params, name)
    contents = snapshot.Contents.from_json(backup.contents)
    recorded = contents.owner if contents is not None else None
    if found is None and recorded is None and archive is not None:
        # pg_dump wrote it from the catalog: an owner cannot make it name another role.
        recorded = pgrestore.database_owner(params, str(archive), program=program)
    if found is None and recorded is None:
        raise errors.RestoreError(
            f"backup {backup.id} does not record who owned its database: create {name} by "
            "hand, owned by the project's owner, and restore into it; the worker restores "
            "with the owner's rights only"
        )
    if found is None and recorded is not None and not ephemeral.role_exists(params, recorded):
        raise errors.RestoreError(
            f"role {recorded}, which owned {backup.database} when backup {backup.id} was taken, "
            f"does not exist on {params.described}: create it first (it owns the restored "
            "database, and the restore runs with its rights)"
        )
    owner = found or recorded
    assert owner is not None
    if ephemeral.is_superuser(params, owner):
        log.warning(
            "job %s: %s belongs to role %s, a superuser: the restore runs with a superuser's "
            "rights (give the database an owner that is no superuser)",
            job_id,
            name,
            owner,
        )
    return owner


def sweep(rt: Runtime, params: source.SourceParams) -> list[str]:
    """Drop the restore roles killed workers left on this server (ephemeral.sweep); their names."""

    def finished(job_id: uuid.UUID) -> bool | None:
        with rt.database.transaction() as session:
            job = db_jobs.get_job(session, job_id)
            return None if job is None else job.status not in models.UNFINISHED

    try:
        return ephemeral.sweep(params, finished)
    except errors.BackupWorkerError as exc:
        log.error("could not look for leftover restore roles on %s: %s", params.server, exc)
        return []


def sweep_servers(rt: Runtime) -> list[str]:
    """sweep() on every registered server: a killed worker's role must not wait for the next
    restore on its server, which may never come (the expiry sweep calls this)."""
    return [name for server in rt.registry() for name in sweep(rt, server.params())]


def drill_as(params: source.SourceParams, backup: models.Backup) -> str | None:
    """The URL's own user when it owned the drilled database (it holds the owner's rights: no
    role of the job's own is needed), else None (the drill gets one)."""
    contents = snapshot.Contents.from_json(backup.contents)
    recorded = contents.owner if contents is not None else None
    return recorded if recorded is not None and recorded == ephemeral.current_user(params) else None
