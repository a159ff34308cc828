"""The reaper: no job stays running (or claimed) forever when its worker is gone.

A backup job whose heartbeat is older than JOB_HEARTBEAT_STALE, or that a host claimed and
never started for that long, is handed back (pending, unclaimed) and `backups.create` is sent
again with the same job id, if it has attempts left; otherwise it ends failed. The new run
starts over from the dump on whichever host claims it: the parts of the dead run lie in the
dead host's spool, which nobody else can reach. Other job types are ended failed; a restore's
databases are settled first (worker/scheduling/switches.py).
A dump that found the spool full is handed back the same way (worker.backup.ending.retry_later);
if its delayed message is lost, the reaper sends it again once it is due.

A pending row that no message claims within JOB_PENDING_TIMEOUT of its creation ends failed
with that reason (a gateway row whose message was lost or refused before naming it).
The reaper also removes, on its own host, the spool directories of jobs that are finished.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from db import models
from db.queries import drills as db_drills
from db.queries import jobs as db_jobs
from db.queries import scope as db_scope
from db.queries import stale as db_stale
from worker.contract import publish, tasks
from worker.jobs import intake, spool, state
from worker.jobs.runtime import Runtime
from worker.scheduling import switches

log = logging.getLogger(__name__)

BATCH = 100  # stale jobs handled per run and per kind


@dataclass
class ReapResult:
    """What one reaper run did."""

    requeued: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)  # restores whose switch was finished
    spool_removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "requeued": self.requeued,
            "resent": self.resent,
            "failed": self.failed,
            "completed": self.completed,
            "spool_removed": self.spool_removed,
        }


def _reason(job: models.Job, max_attempts: int, rerunnable: bool) -> str:
    host = job.worker_hostname or "an unknown host"
    if job.status == models.JobStatus.RUNNING:
        lost = f"the worker on {host} stopped sending heartbeats during {job.stage or 'start-up'}"
    else:
        lost = f"{host} claimed the job but never started it"
    if not rerunnable:
        return f"{lost}; this job cannot be re-run automatically: start it again"
    return f"{lost}, and all {max_attempts} attempts are used"


def reap(rt: Runtime, publisher: publish.Publisher) -> ReapResult:
    """Requeue or fail the stale jobs; then clean this host's spool of finished jobs."""
    stale = dt.timedelta(seconds=rt.settings.job_heartbeat_stale)
    max_attempts = rt.settings.backup_max_attempts
    result = ReapResult()
    with rt.database.transaction() as session:
        alive = db_stale.live_hosts(session, older_than=stale)
        jobs = [
            job
            for job in db_jobs.stale_jobs(session, older_than=stale, limit=BATCH)
            if job.worker_hostname not in alive
        ]
        jobs += db_stale.claimed_pending_jobs(session, older_than=stale, limit=BATCH)
        messages: list[tasks.CreateBackup] = []
        for job in jobs:
            again = state.BackupPayload.rerun(job)
            if again is not None and job.attempts < max_attempts:
                if db_stale.requeue_job(session, job.id, from_hostname=job.worker_hostname):
                    messages.append(again)
                    result.requeued.append(str(job.id))
                    log.warning(
                        "job %s: %s went silent; sent again (attempt %d of %d)",
                        job.id,
                        job.worker_hostname,
                        job.attempts + 1,
                        max_attempts,
                    )
                continue
            settled = switches.Settled()
            if job.type == models.JobType.RESTORE.value:
                settled = switches.settle(rt, job)
            if settled.result is not None:
                if db_jobs.complete_job(session, job.id, settled.result, replace=True):
                    result.completed.append(str(job.id))
                continue
            reason = _reason(job, max_attempts, again is not None) + settled.note
            if db_jobs.fail_job(session, job.id, reason):
                if state.is_drill(job) and (backup_id := state.backup_id_of(job)) is not None:
                    report = {**(state.RestoreState.of(job).drill or {}), "error": reason}
                    db_drills.record(session, backup_id, ok=False, report=report)
                result.failed.append(str(job.id))
                log.error("job %s failed: %s", job.id, reason)
        for job in db_stale.lost_pending_jobs(
            session, job_type=intake.JOB_TYPE, older_than=stale, limit=BATCH
        ):
            again = state.BackupPayload.rerun(job)
            if again is None or not _retry_due(job):
                # A gateway row without its arguments: only its own message can run it.
                # A job put back after a full spool has its delayed message on the way.
                continue
            db_stale.touch(session, job.id)
            messages.append(again)
            result.resent.append(str(job.id))
            log.warning("job %s: pending and unclaimed too long; its message sent again", job.id)
        result.failed += _age_out(rt, session)
        # Sent before the commit: if sending fails, the jobs stay as they were for the next
        # run. A worker that gets a message first waits on the row lock, then claims the job.
        if messages:
            publisher.send_all(publish.Delayed(message) for message in messages)
    result.spool_removed = clean_spool(rt)
    return result


def _age_out(rt: Runtime, session: Session) -> list[str]:
    """Fail the pending rows no message claimed within JOB_PENDING_TIMEOUT: their message was
    lost, refused before it could name the row, or never sent, and nothing else would end them."""
    timeout = rt.settings.job_pending_timeout
    failed = []
    for job in db_scope.unclaimed_pending(
        session, older_than=dt.timedelta(seconds=timeout), limit=BATCH
    ):
        reason = (
            f"no message claimed it within {timeout} s of its creation (JOB_PENDING_TIMEOUT): "
            "its task message was lost, refused, or never sent; enqueue it again"
        )
        if db_jobs.fail_job(session, job.id, reason):
            failed.append(str(job.id))
            log.error("job %s failed: %s", job.id, reason)
    return failed


def _retry_due(job: models.Job) -> bool:
    """Whether a job put back after a full spool (worker.backup.ending.retry_later) may run now."""
    due = state.BackupState.of(job).retry_at
    return due is None or due <= dt.datetime.now(dt.UTC)


def clean_spool(rt: Runtime) -> list[str]:
    """Remove this host's spool directories of finished (or unknown) jobs."""
    found = spool.job_directories(rt)
    if not found:
        return []
    with rt.database.transaction() as session:
        done = db_stale.finished_or_unknown(session, found)
    removed = []
    for job_id in sorted(done, key=str):
        shutil.rmtree(found[job_id], ignore_errors=True)
        removed.append(found[job_id].name)
    if removed:
        log.info("reaper: removed the spool of %d finished job(s)", len(removed))
    return removed
