"""The verify job's last step: read the checked artifact back without restoring it.

After the download step checked every part's SHA-256 and the whole artifact's, this step
decrypts and decompresses the artifact twice, streaming: once into `pg_restore --list` (the
table of contents, which stops reading early), once into `pg_restore --file=/dev/null`, which
reads every entry and data block to the end. Then the backup's verified_at and verify_status
are recorded with the job's completion.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import TypedDict

from db.queries import jobs as db_jobs
from db.queries import restores as db_restores
from worker import errors
from worker.artifact import keys as identity
from worker.artifact import unpack
from worker.jobs import spool, state
from worker.jobs.runtime import Runtime
from worker.postgres import clients, pgrestore
from worker.restore import job as rj
from worker.restore import steps

log = logging.getLogger(__name__)

_HEADER = re.compile(
    r"^;\s+(dbname|Format|Dumped from database version|Dumped by pg_dump version):\s*(.*)$",
    re.MULTILINE,
)
_ENTRY = re.compile(r"^\d+;\s+\d+\s+\d+\s+(.+)$", re.MULTILINE)
_KINDS = ("TABLE DATA", "TABLE", "INDEX", "SEQUENCE", "VIEW", "FUNCTION", "BLOB", "CONSTRAINT")


class Contents(TypedDict):
    """What `pg_restore --list` says about the archive."""

    entries: int
    database: str | None
    format: str | None
    server_version: str | None
    pg_dump_version: str | None
    kinds: dict[str, int]


def read_listing(listing: str) -> Contents:
    """The table of contents' header and a count of its entries by kind."""
    header = {key: value.strip() for key, value in _HEADER.findall(listing)}
    entries = _ENTRY.findall(listing)
    kinds: dict[str, int] = {}
    for entry in entries:
        kind = next((k for k in _KINDS if entry.startswith(k + " ")), None)
        if kind is not None:
            kinds[kind] = kinds.get(kind, 0) + 1
    return Contents(
        entries=len(entries),
        database=header.get("dbname"),
        format=header.get("Format"),
        server_version=header.get("Dumped from database version"),
        pg_dump_version=header.get("Dumped by pg_dump version"),
        kinds=kinds,
    )


def check_step(rt: Runtime, job_id: uuid.UUID) -> None:
    """Decrypt, decompress and read the archive to its end; record the verification."""
    job = rj.running_job(rt, job_id)
    if job is None:
        return
    req = rj.RestoreRequest.from_payload(rj.VERIFY, job.payload)
    now = state.RestoreState.of(job)
    path = steps.checked_artifact(rt, job_id, now)
    backup = rj.load_backup(rt, req.backup_id)
    keys = identity.load(rt.settings.backup_age_identity_file) if backup.encrypted else None
    params = rt.source()
    # PATH's pg_restore, unless the job names a server to read it as, or the archive's pg_dump
    # is known: then one at least as new as that pg_dump (and as the server).
    program = None
    dumped = backup.pg_dump_version
    if req.server is not None:
        params = rj.server_of(rt, req, backup).params()
        program = clients.for_server("pg_restore", params, archive=dumped).path
    elif dumped is not None:
        program = clients.choose("pg_restore", 0, archive=dumped).path
    reporter = rj.reporter(rt, job_id, rj.VERIFY)
    total = max(backup.size_bytes, 1)

    def read_into(args: list[str], share: tuple[float, float]) -> str:
        start, width = share
        try:
            with pgrestore.running(params, args, program=program) as pg:
                unpack.decode(
                    path,
                    pg.stdin,
                    compression=backup.compression,
                    identities=keys,
                    recipients=backup.encryption_recipients,
                    on_bytes=lambda done: reporter.update("verify", start + width * done / total),
                )
        except errors.RestoreError as exc:
            # The bytes are the ones the backup wrote (checksums passed): pg_restore refusing
            # them means the archive itself is unusable.
            raise errors.IntegrityError(f"the archive cannot be read: {exc.message}") from None
        return pg.listing

    reporter.update("verify", 0.0, force=True)
    contents = read_listing(read_into(pgrestore.LIST, (0.0, 0.05)))
    if contents["entries"] == 0:
        raise errors.IntegrityError("the archive's table of contents is empty")
    read_into(pgrestore.READ_ALL, (0.05, 0.95))
    summary: dict[str, object] = {
        "backup_id": str(backup.id),
        "status": db_restores.VERIFY_OK,
        "part_count": backup.part_count,
        "size_bytes": backup.size_bytes,
        "sha256": backup.sha256,
        "encrypted": backup.encrypted,
        "contents": dict(contents),
    }
    with rt.database.transaction() as session:
        db_restores.record_verification(session, backup.id, ok=True)
        result: dict[str, object] = {"verification": summary}
        if now.copies_used:
            result["copies_used"] = now.copies_used
        db_jobs.complete_job(session, job_id, result, replace=True)
    spool.remove(rt, job_id)
    log.info("job %s: backup %s verified, %d TOC entries", job_id, backup.id, contents["entries"])
