"""A host's resume pass: its jobs whose step's message the broker lost, sent on from the step
where each stands (worker.jobs.resume), on this host, whose spool holds their files.

Each worker runs it (the task jobs.resume on its own queue) whenever it (re)connects to its
broker, and when the reaper asks a host that answers a ping about a quiet job
(worker.scheduling.reaper). A step waiting for its Telegram slot (worker.jobs.deferral) is
left to its countdown message until its time, and sent again for its kept slot when a
reconnection dropped that message.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from db import models
from db.queries import jobs as db_jobs
from db.queries import stale as db_stale
from worker.jobs import deferral, resume, spool
from worker.jobs.runtime import Runtime

log = logging.getLogger(__name__)

# A job whose row has not changed for this long, on a host that answers, may have lost its
# step's message without the host noticing (no reconnection): the host is asked to check.
QUIET = dt.timedelta(seconds=60)
# Sends a chain's remaining steps (task names) for a job to a host's own queue, the first
# after a countdown (seconds; 0: now).
SendSteps = Callable[[str, uuid.UUID, tuple[str, ...], float], None]


@dataclass
class Resumed:
    """What one resume pass on a host did, by job id."""

    resent: list[str] = field(default_factory=list)  # "<job id>: <step>" sent again
    running: list[str] = field(default_factory=list)  # a step of theirs runs: nothing to do
    queued: list[str] = field(default_factory=list)  # their next message waits on this host

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"resent": self.resent, "running": self.running, "queued": self.queued}


def resume_host(
    rt: Runtime,
    hostname: str,
    send_steps: SendSteps,
    waiting: Callable[[], set[str] | None] = lambda: None,
    *,
    reconnected: bool = False,
    connected_at: dt.datetime | None = None,
) -> Resumed:
    """Send on the jobs this host holds whose step runs nowhere and whose message is not
    waiting here: from the step where each stands when this host's spool holds what that step
    reads, else from the chain's first step.

    Run on the host itself (jobs.resume). `waiting()` names the jobs (ids as text) whose message
    this host has reserved or its own queue holds, None when that cannot be told. After a
    reconnection (`reconnected`) whatever the broker lost is sent again; when it cannot be told,
    every job without a running step; a step that deferred to its Telegram slot before the
    reconnection (`connected_at`) is sent again for its slot whatever `waiting` says (the
    worker dropped its countdown message: deferral.Deferral.dropped_at). When the reaper
    asks, only jobs whose row has not changed
    for QUIET; when it cannot be told, only those silent for JOB_HEARTBEAT_STALE. A copy of a
    message that was not lost after all finds the job's lock taken or its work done.
    """
    done = Resumed()
    stale = dt.timedelta(seconds=rt.settings.job_heartbeat_stale)
    with rt.database.transaction() as session:
        held = db_stale.held_by(session, hostname, resume.CHAIN_TYPES)
    queued: set[str] | None = None
    asked = False
    for job_id in held:
        if resume.step_running(rt, job_id):
            done.running.append(str(job_id))
            continue
        with rt.database.transaction() as session:
            job = db_jobs.get_job(session, job_id)
            if job is None or job.worker_hostname != hostname or not resume.needs_message(job):
                continue
            session.expunge(job)
        now = dt.datetime.now(dt.UTC)
        quiet_for = now - job.updated_at
        if not reconnected and quiet_for < QUIET:
            continue  # it moved a moment ago: its next message is on its way
        if not reconnected and deferred(job, now, QUIET):
            continue  # its step waits for its Telegram slot: its message is due then
        kept = deferral.Deferral.of(job)
        dropped = kept is not None and kept.dropped_at(connected_at)
        if not asked and not dropped:  # asked once, and only when some job may need it
            queued, asked = waiting(), True
        if not dropped and queued is not None and str(job_id) in queued:
            done.queued.append(str(job_id))
            continue
        if queued is None and not reconnected and quiet_for < stale:
            continue  # maybe queued behind other work: the stale threshold decides
        first = _send_on(rt, job, hostname, send_steps)
        done.resent.append(f"{job_id}: {resume.short(first)}")
    return done


def _send_on(rt: Runtime, job: models.Job, hostname: str, send_steps: SendSteps) -> str:
    """Send the job's chain on from where it stands (or from its start); the first step sent.

    A step that waited for its Telegram slot is sent for the slot's time: its run takes the
    slot the row keeps (worker.jobs.deferral), so no second one is booked for the part.
    """
    where = resume.position(job)
    silent = resume.silent_since(job)
    files = {"artifact": spool.artifact(rt, job.id), "archive": spool.archive(rt, job.id)}
    steps = where.steps
    kept = deferral.Deferral.of(job)
    countdown = 0.0
    if not resume.spool_holds(job, where, **files):
        steps = resume.chain_of(job)
        log.warning(
            "job %s: %s; its spool no longer holds what %s reads: sent again from %s",
            job.id,
            silent,
            where.step,
            resume.short(steps[0]),
        )
    elif kept is not None and resume.short(steps[0]) == kept.step:
        countdown = kept.countdown(dt.datetime.now(dt.UTC), rt.settings.telegram_pacer_max_sleep)
        log.warning(
            "job %s: %s; its message for its Telegram slot at %s was lost: sent again from %s, "
            "due in %.0f s with that slot",
            job.id,
            silent,
            kept.until.strftime("%H:%M:%S"),
            where.describe(),
            countdown,
        )
    else:
        log.warning("job %s: %s; sent again from %s", job.id, silent, where.describe())
    send_steps(hostname, job.id, steps, countdown)
    return steps[0]


def deferred(job: models.Job, now: dt.datetime, grace: dt.timedelta) -> bool:
    """Whether the job's step waits for its Telegram slot, with `grace` to show it ran."""
    kept = deferral.Deferral.of(job)
    return kept is not None and kept.pending(now, grace)
