"""The restore job's load step: the checked artifact into a database of the job's own, then switch.

A restore never writes into a database that holds anything: it goes into the target itself when
this job created it, and otherwise into a fresh staging database (worker.postgres.switch.Names)
that is checked and then renamed into place. A failure drops the job's own database and touches
nothing else, so pg_restore needs no --single-transaction (and no more locks than a default
server has), and it runs with `--jobs` from the local archive the download step decoded
(worker.restore.archive).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from db import models
from db.queries import drills as db_drills
from db.queries import jobs as db_jobs
from db.queries import restores as db_restores
from worker import errors
from worker.contract import tasks
from worker.jobs import slot, spool, state
from worker.jobs.runtime import Runtime
from worker.postgres import clients, ephemeral, pgrestore, servers, source, switch, target
from worker.restore import drill as rd
from worker.restore import job as rj
from worker.restore import measure, rights, steps
from worker.restore import verify as rv

log = logging.getLogger(__name__)


def load_step(rt: Runtime, job_id: uuid.UUID) -> None:
    """Restore the checked artifact (into the new target, or staging and switch); complete."""
    job = rj.running_job(rt, job_id)
    if job is None:
        return
    req = rj.RestoreRequest.from_payload(rj.RESTORE, job.payload)
    now = state.RestoreState.of(job)
    archive = steps.checked_artifact(rt, job_id, now, decoded=True)
    backup = rj.load_backup(rt, req.backup_id)
    name = rj.check_target(rt, req, backup)
    server = rj.server_of(rt, req, backup)
    params = server.params()
    # At least as new as the server and the archive's pg_dump; else RestoreError naming them.
    program = clients.for_server("pg_restore", params, archive=backup.pg_dump_version).path
    names = switch.Names.of(name, job_id)
    reporter = rj.reporter(rt, job_id, rj.RESTORE)
    # Stage first, then look: of two restores racing into one target, at least one refuses.
    reporter.update("restore", 0.0, force=True)
    with rt.database.transaction() as session:
        others = db_restores.other_restores_into(session, name, job_id)
    if others:
        raise errors.RestoreError(
            f"job {others[0]} is restoring into {name} right now: wait for it to end"
        )
    if now.switch is not None:
        # A redelivered load: an earlier attempt may have stopped anywhere, the switch included.
        switch.recover(params, names)
    report = rd.new_report(server.name, name, backup) if req.mode == tasks.MODE_DRILL else None
    if report is not None:
        try:
            rd.check_extensions(params, report)  # before anything is created
        finally:
            _save_drill(rt, job_id, report)
    rights.sweep(rt, params)
    # A drill's scratch database belongs to the job's role itself: no owner's rights needed.
    owner = None
    if report is None:
        owner = rights.owner(params, name, backup, job_id, archive=archive, program=program)
    with ephemeral.holding(params, job_id, owner or rights.drill_as(params, backup)) as role:
        _load(rt, job_id, req, now, backup, name, names, server, role, owner, report, program)


def _load(
    rt: Runtime,
    job_id: uuid.UUID,
    req: rj.RestoreRequest,
    now: state.RestoreState,
    backup: models.Backup,
    name: str,
    names: switch.Names,
    server: servers.Server,
    role: ephemeral.Role,
    owner: str | None,
    report: rd.Report | None,
    program: str,
) -> None:
    """pg_restore as the job's `role` (SET ROLE `owner`), the checks, the switch; complete."""
    params = server.params()
    into, keep_undo = _prepare(rt, job_id, params, req, name, names, now, owner or role.name)
    archive = steps.checked_artifact(rt, job_id, now, decoded=True)
    started = time.monotonic()
    phases: dict[str, float] = {}
    if now.download_seconds is not None:
        phases["download"] = now.download_seconds
    try:
        with steps.heartbeat(rt, job_id), slot.holding(rt, job_id, server):
            jobs = rt.settings.restore_jobs or os.cpu_count() or 1
            # A drill checks data, not grants: its scratch server may lack the grantees.
            args = pgrestore.into_database(  # with --verbose, which measure.loading reads
                role.params, into, str(archive), jobs, role=owner, privileges=report is None
            )
            with (
                _phase(phases, "pg_restore"),
                measure.loading(rt, job_id, role.params, into, archive) as on_line,
                pgrestore.running(role.params, args, program=program, on_line=on_line),
            ):
                pass  # pg_restore reads the file itself, with `jobs` sessions
            with _phase(phases, "check"):
                _check(params, archive, into)
            if report is not None:
                try:
                    rd.check_rows(params, backup, report)
                finally:
                    _save_drill(rt, job_id, report)
    except Exception as exc:
        raise _after_failure(params, into, name, exc) from exc
    except BaseException:
        _drop_quietly(params, into)
        raise
    summary: dict[str, object] = {
        "backup_id": str(backup.id),
        "database": backup.database,
        "target_database": name,
        "target_server": server.name,
        "mode": req.mode,
        "clean": req.clean,
        "created": into == name,
        "size_bytes": backup.size_bytes,
        "part_count": backup.part_count,
        "encrypted": backup.encrypted,
        "seconds": round(time.monotonic() - started, 1),
        "phase_seconds": {phase: round(seconds, 2) for phase, seconds in phases.items()},
        "databases": {"project": name, "undo": None, "undo_expires_at": None},
    }
    result: dict[str, object] = {"restore": summary}
    if now.copies_used:
        result["copies_used"] = now.copies_used
    if report is not None:
        target.drop(params, into)  # a drill's scratch database never outlives it
        summary["databases"] = {"project": None, "undo": None, "undo_expires_at": None}
        result["drill"] = report
    elif into != name:
        summary = _switch(rt, job_id, params, names, summary, keep_undo=keep_undo)
    with rt.database.transaction() as session:
        # A restore that went through is the strongest verification there is.
        db_restores.record_verification(session, backup.id, ok=True)
        if report is not None:
            db_drills.record(session, backup.id, ok=True, report=rd.trimmed(report))
        db_jobs.complete_job(session, job_id, result, replace=True)
    spool.remove(rt, job_id)
    log.info(
        "job %s: restored backup %s into %s (%s) in %.1f s: %s",
        job_id,
        backup.id,
        name,
        req.mode,
        time.monotonic() - started,
        ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in phases.items()),
    )


@contextlib.contextmanager
def _phase(phases: dict[str, float], name: str) -> Iterator[None]:
    """Time the block into phases[name] (the restore summary says where its time went)."""
    started = time.monotonic()
    try:
        yield
    finally:
        phases[name] = time.monotonic() - started


def _save_drill(rt: Runtime, job_id: uuid.UUID, report: rd.Report) -> None:
    with rt.database.transaction() as session:
        state.save(session, job_id, state.RestorePatch(drill=dict(report)))


def _prepare(
    rt: Runtime,
    job_id: uuid.UUID,
    params: source.SourceParams,
    req: rj.RestoreRequest,
    name: str,
    names: switch.Names,
    now: state.RestoreState,
    owner: str,
) -> tuple[str, bool]:
    """The database to restore into (the new target or staging, owned by `owner`), and
    whether to keep undo."""
    if req.mode == tasks.MODE_REPLACE:
        if not target.exists(params, name):
            raise errors.RestoreError(
                f"database {name} does not exist: a replace swaps an existing database; "
                "restore without replace to create it"
            )
        keep_undo = True
    elif now.target_created:
        target.drop(params, name)  # an earlier attempt's partial restore
        target.create(params, name, owner)
        return name, False
    elif not target.exists(params, name) and target.create(params, name, owner):
        with rt.database.transaction() as session:
            state.save(session, job_id, state.RestorePatch(target_created=True))
        return name, False
    else:
        if not req.clean:
            steps.refuse_if_not_empty(params, name)
        keep_undo = req.clean  # an empty target is dropped after the switch
    record = state.SwitchRecord(
        databases=names.to_json(), phase=switch.RESTORING, keep_undo=keep_undo, summary={}
    )
    with rt.database.transaction() as session:
        state.save(session, job_id, state.RestorePatch(switch=record))
    target.drop(params, names.staging)  # left by an earlier attempt, if any
    if not target.create(params, names.staging, owner):
        raise errors.RestoreError(f"staging database {names.staging} exists already")
    return names.staging, keep_undo


def _switch(
    rt: Runtime,
    job_id: uuid.UUID,
    params: source.SourceParams,
    names: switch.Names,
    summary: dict[str, object],
    *,
    keep_undo: bool,
) -> dict[str, object]:
    """Rename staging into place, recording each phase first; the summary with its names."""
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=rt.settings.restore_undo_hours)
    summary["databases"] = {
        "project": names.project,
        "undo": names.undo if keep_undo else None,
        "undo_expires_at": expires.isoformat() if keep_undo else None,
    }
    record = state.SwitchRecord(
        databases=names.to_json(), phase=switch.STAGED, keep_undo=keep_undo, summary=summary
    )

    def on_phase(phase: str) -> None:
        record["phase"] = phase
        with rt.database.transaction() as session:
            state.save(session, job_id, state.RestorePatch(switch=record))

    on_phase(switch.STAGED)
    switch.switch(params, names, on_phase=on_phase, pause=rt.settings.restore_switch_pause)
    if not keep_undo:
        target.drop(params, names.undo)
    return summary


def _check(params: source.SourceParams, archive: Path, database: str) -> None:
    """The restored database holds as many tables as the archive's table of contents lists."""
    with pgrestore.running(params, [*pgrestore.LIST, str(archive)]) as listing:
        pass
    expected = rv.read_listing(listing.listing)["kinds"].get("TABLE", 0)
    found = target.tables(params, database)
    if found != expected:
        raise errors.RestoreError(
            f"the restored database holds {found} table(s) where the archive lists {expected}"
        )


def _after_failure(
    params: source.SourceParams, into: str, name: str, exc: Exception
) -> errors.BackupWorkerError:
    if isinstance(exc, errors.BackupWorkerError):
        reason = exc.message
    else:
        log.error("restore into %s failed unexpectedly", into, exc_info=exc)
        reason = f"internal error ({type(exc).__name__}); the worker log has the details"
    dropped = _drop_quietly(params, into)
    what = "the target database" if into == name else f"the staging database of {name}"
    where = (
        f"{what} {into}, created for this restore, was dropped again"
        if dropped
        else f"{what} {into} may hold a partial restore: dropping it failed, drop it by hand"
    )
    if into != name:
        where += f"; {name} was not touched"
    kind = type(exc) if isinstance(exc, errors.BackupWorkerError) else errors.RestoreError
    try:
        return kind(f"{reason}; {where}")
    except TypeError:  # an error class whose constructor wants more than a message
        return errors.RestoreError(f"{reason}; {where}")


def _drop_quietly(params: source.SourceParams, name: str) -> bool:
    try:
        target.drop(params, name)
    except errors.BackupWorkerError as exc:
        log.error("could not drop %s after a failed restore: %s", name, exc.message)
        return False
    return True
