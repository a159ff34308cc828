"""The reaper: no job stays running (or claimed) forever when its message or its worker is gone.

A job whose heartbeat is older than JOB_HEARTBEAT_STALE, or that a host claimed and never
started for that long, has lost either its next step's message (a broker that restarted without
persistence) or its host. A host that still answers a ping is asked to resume its jobs
(worker.scheduling.resume_pass, the task jobs.resume on its own queue): each continues at the
step where it stands (worker.jobs.resume), on the host whose spool holds its files. Each worker
runs the same pass whenever it (re)connects to its broker, so after a broker restart a lost step
is sent again within seconds, not after the heartbeat threshold.

Only a job whose host does not answer starts over: a backup is handed back (pending, unclaimed)
and `backups.create` sent again with the same job id, if it has attempts left (its parts lie in
the dead host's spool, which nobody else can reach); otherwise it ends failed. A restore or
verify ends failed with what to run; a restore's databases are settled first
(worker/scheduling/switches.py).
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from db import models
from db.queries import drills as db_drills
from db.queries import jobs as db_jobs
from db.queries import scope as db_scope
from db.queries import stale as db_stale
from worker.contract import publish, tasks
from worker.jobs import intake, resume, spool, state
from worker.jobs.runtime import Runtime
from worker.scheduling import resume_pass, switches

log = logging.getLogger(__name__)

BATCH = 100  # stale jobs handled per run and per kind
QUIET = resume_pass.QUIET


class Hosts(Protocol):
    """The workers as the broker sees them: who answers, and asking one to resume its jobs."""

    def answering(self, hostnames: Iterable[str]) -> set[str]:
        """Those of `hostnames` whose worker answers a ping now."""

    def resume(self, hostname: str) -> None:
        """Send jobs.resume to `hostname`'s own queue."""


class NoHosts:
    """No worker answers: every silent job is treated as lost with its host."""

    def answering(self, hostnames: Iterable[str]) -> set[str]:
        """None of them."""
        return set()

    def resume(self, hostname: str) -> None:
        """Nothing to ask."""


@dataclass
class ReapResult:
    """What one reaper run did."""

    requeued: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)  # left to their live host's resume pass
    failed: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)  # restores whose switch was finished
    spool_removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "requeued": self.requeued,
            "resent": self.resent,
            "resumed": self.resumed,
            "failed": self.failed,
            "completed": self.completed,
            "spool_removed": self.spool_removed,
        }


def _reason(job: models.Job, max_attempts: int, rerunnable: bool) -> str:
    host = job.worker_hostname or "an unknown host"
    if job.status == models.JobStatus.RUNNING:
        step = resume.position(job).step if resume.has_chain(job) else job.stage or "start-up"
        lost = f"the worker on {host} stopped sending heartbeats during {step}"
    else:
        lost = f"{host} claimed the job but never started it"
    if rerunnable:
        return f"{lost}, and all {max_attempts} attempts are used"
    if job.type in (models.JobType.RESTORE.value, models.JobType.VERIFY.value):
        # What it downloaded lies in that host's spool: another host must start from scratch.
        if job.status == models.JobStatus.RUNNING:
            return f"{lost}; what it had done lies on that host: {_again(job)}"
        return f"{lost}, and does not answer: {_again(job)}"
    return f"{lost}; this job cannot be re-run automatically: start it again"


def _again(job: models.Job) -> str:
    """What a person runs to do a lost restore, verify or drill again."""
    backup = state.backup_id_of(job)
    if state.is_drill(job):
        return f"start the drill again (backup-worker drills run --project {job.project_id})"
    if job.type == models.JobType.VERIFY.value:
        return f"run backup-worker verify {backup} again"
    return f"run backup-worker restore {backup} again with the same target"


def reap(rt: Runtime, publisher: publish.Publisher, hosts: Hosts | None = None) -> ReapResult:
    """Resume, requeue or fail the stale jobs; then clean this host's spool of finished jobs."""
    hosts = hosts or NoHosts()
    stale = dt.timedelta(seconds=rt.settings.job_heartbeat_stale)
    max_attempts = rt.settings.backup_max_attempts
    result = ReapResult()
    to_resume: set[str] = set()
    now = dt.datetime.now(dt.UTC)
    with rt.database.transaction() as session:
        alive = db_stale.live_hosts(session, older_than=stale)
        # A step waiting for its Telegram slot beats no heartbeat until then: it is silent
        # only once that time is `stale` behind.
        jobs = [
            job
            for job in db_jobs.stale_jobs(session, older_than=stale, limit=BATCH)
            if job.worker_hostname not in alive and not resume_pass.deferred(job, now, stale)
        ]
        jobs += db_stale.claimed_pending_jobs(session, older_than=stale, limit=BATCH)
        # A host with no step to beat for is idle, not gone: ask it (a broadcast ping, once).
        held = {job.worker_hostname for job in jobs if job.worker_hostname is not None}
        quiet = db_stale.quiet_hosts(session, older_than=QUIET, job_types=resume.CHAIN_TYPES)
        answering = hosts.answering(held | quiet) if held | quiet else set()
        to_resume |= quiet & answering
        messages: list[tasks.CreateBackup] = []
        for job in jobs:
            silent = resume.silent_since(job) if resume.has_chain(job) else None
            if job.worker_hostname in answering and silent is not None:
                # Its step's message was lost, not its host: the host resumes it where it
                # stands, with the files its spool holds.
                to_resume.add(job.worker_hostname)
                result.resumed.append(str(job.id))
                log.warning("job %s: %s, which answers: asked it to resume", job.id, silent)
                continue
            again = state.BackupPayload.rerun(job)
            if again is not None and job.attempts < max_attempts:
                if db_stale.requeue_job(session, job.id, from_hostname=job.worker_hostname):
                    messages.append(again)
                    result.requeued.append(str(job.id))
                    log.warning(
                        "job %s: %s, which does not answer; sent again from the start "
                        "(attempt %d of %d)",
                        job.id,
                        silent,
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
    for hostname in sorted(to_resume):
        hosts.resume(hostname)
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
