"""Where a job stands when its next message is lost, and what sends it on from there.

Every chain (backup: dump, upload, record; restore: download, load; verify: download, check)
writes its progress into the jobs row before the next step's message leaves: the dump's
manifest, each part sent (the ledger of worker.backup.sent), the checked download. So the row
says which step the job needs next, and a broker that lost that step's message costs the job
that step only, not its whole run: the step is sent again to the host whose spool holds what it
reads. Only the host can tell whether its spool still does (`spool_holds`), so the decision
whether to start over is the host's; a host that is gone cannot resume anything.

Sending a step twice is harmless: each step takes the job's advisory lock (worker.jobs.runner)
and skips work its row says is done, so a copy of a message that was not lost after all runs
nothing twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from db import models
from worker import errors
from worker.artifact import manifest
from worker.contract import tasks
from worker.jobs import runner, state
from worker.jobs.runtime import Runtime

BACKUP_STEPS = (tasks.DUMP, tasks.UPLOAD, tasks.RECORD)
RESTORE_STEPS = (tasks.DOWNLOAD, tasks.LOAD)
VERIFY_STEPS = (tasks.DOWNLOAD, tasks.CHECK)
_CHAINS = {
    models.JobType.BACKUP.value: BACKUP_STEPS,
    models.JobType.RESTORE.value: RESTORE_STEPS,
    models.JobType.VERIFY.value: VERIFY_STEPS,
}
CHAIN_TYPES = tuple(_CHAINS)


def chain_of(job: models.Job) -> tuple[str, ...]:
    """The job's whole chain, from its first step."""
    return _CHAINS[job.type]


@dataclass(frozen=True)
class Position:
    """The steps a job still needs, the first being where it stands."""

    steps: tuple[str, ...]
    parts_left: tuple[int, ...] = ()  # 1-based numbers of the parts not yet sent (upload)
    part_count: int = 0

    @property
    def step(self) -> str:
        """The step the job stands at, by its short name (upload, not backups.upload)."""
        return short(self.steps[0])

    def describe(self) -> str:
        """`upload (parts 3-7 of 7)`, `record`, `download`: for the reaper's log and reasons."""
        if not self.parts_left:
            return self.step
        return f"{self.step} ({_parts(self.parts_left)} of {self.part_count})"


def short(name: str) -> str:
    """A step's short name: the task name's last word."""
    return name.rsplit(".", 1)[-1]


def _parts(numbers: tuple[int, ...]) -> str:
    first, last = numbers[0], numbers[-1]
    if len(numbers) == 1:
        return f"part {first}"
    if last - first + 1 == len(numbers):
        return f"parts {first}\u2013{last}"
    return "parts " + ", ".join(str(n) for n in numbers)


def has_chain(job: models.Job) -> bool:
    """Whether the job runs as one of the chains above (an undo, for one, does not)."""
    return job.type in _CHAINS


def needs_message(job: models.Job) -> bool:
    """Whether the job waits for a step's message: claimed by a host, or running there."""
    if not has_chain(job) or job.worker_hostname is None:
        return False
    return job.status in (models.JobStatus.RUNNING, models.JobStatus.PENDING)


def position(job: models.Job) -> Position:
    """Where the job stands, read from its row (a claimed job that never started: the start)."""
    chain = _CHAINS.get(job.type)
    if chain is None:
        raise ValueError(f"job {job.id} of type {job.type} runs no chain")
    if job.status != models.JobStatus.RUNNING:
        return Position(chain)
    if job.type == models.JobType.BACKUP.value:
        now = state.BackupState.of(job)
        if now.artifact is None:
            return Position(chain)
        try:
            art = manifest.Artifact.from_json(now.artifact)
        except errors.InputError:
            return Position(chain)  # an unreadable manifest: only a new dump can follow
        # A part is left while copy 0 or any further copy the dump named lacks it.
        sent = [now.uploaded, *now.copies.values()]
        left = tuple(p.index + 1 for p in art.parts if any(str(p.index) not in s for s in sent))
        if left:
            return Position(chain[1:], left, len(art.parts))
        return Position(chain[2:])
    if state.RestoreState.of(job).checked is None:
        return Position(chain)
    return Position(chain[1:])


def spool_holds(job: models.Job, where: Position, *, artifact: Path, archive: Path) -> bool:
    """Whether this host's spool holds what the job's next step reads (checked on its host).

    A backup's upload reads the parts not yet sent; its record and its dump read nothing. A
    restore's load reads the decoded archive, a verify's check the downloaded artifact.
    """
    if where.steps[0] == tasks.UPLOAD:
        now = state.BackupState.of(job)
        art = manifest.Artifact.from_json(now.artifact or {})
        wanted = set(where.parts_left) or {p.index + 1 for p in art.parts}
        return all(p.path.is_file() for p in art.parts if p.index + 1 in wanted)
    if where.steps[0] == tasks.LOAD:
        return archive.is_file()
    if where.steps[0] == tasks.CHECK:
        return artifact.is_file()
    return True


def done_here(job: models.Job, hostname: str, *, artifact: Path, archive: Path) -> bool:
    """Whether the job's first step (dump, download) is done on `hostname` and what it left
    is in this host's spool: a copy of that step's message (sent again by a resume pass while
    the first was not lost after all) then has nothing to do."""
    if job.status != models.JobStatus.RUNNING or job.worker_hostname != hostname:
        return False
    if not has_chain(job):
        return False
    where = position(job)
    if where.steps[0] == chain_of(job)[0]:
        return False
    return spool_holds(job, Position(chain_of(job)[1:2]), artifact=artifact, archive=archive)


def step_running(rt: Runtime, job_id: uuid.UUID) -> bool:
    """Whether a step of the job runs right now, on any host (it holds the job's lock)."""
    with runner.exclusive(rt, job_id) as alone:
        return not alone


def silent_since(job: models.Job) -> str:
    """`upload went silent on celery@vm`: the start of the reaper's lines about a job."""
    host = job.worker_hostname or "an unknown host"
    if job.status != models.JobStatus.RUNNING:
        return f"claimed by {host} but never started"
    return f"{position(job).describe()} went silent on {host}"
