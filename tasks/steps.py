"""What every job chain's tasks share: routing to this host, running a step, waiting for a row."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence

from celery import Signature, Task, chain
from celery.utils.nodenames import worker_direct

from worker import errors, intake, runtime

log = logging.getLogger(__name__)

MISSING_JOB_RETRIES = 5  # the gateway's insert may not be committed when its message arrives
MISSING_JOB_DELAY = 2  # seconds

Step = Callable[[runtime.Runtime, uuid.UUID], None]
Fail = Callable[[runtime.Runtime, uuid.UUID, BaseException], str]


def wait_for_row(task: Task, rt: runtime.Runtime, job_id: uuid.UUID) -> None:  # type: ignore[type-arg]
    """Retry the task until the caller's pending row is visible; NotFoundError after that."""
    if intake.job_exists(rt, job_id):
        return
    if task.request.retries < MISSING_JOB_RETRIES:
        raise task.retry(countdown=MISSING_JOB_DELAY, max_retries=MISSING_JOB_RETRIES)
    raise errors.NotFoundError(
        f"job {job_id} does not exist: the caller must insert it before enqueueing"
    )


def chain_here(hostname: str, job_id: uuid.UUID, steps: Sequence[Task]) -> None:  # type: ignore[type-arg]
    """Send `steps` as a chain to this worker's own queue: the spool is local to the host."""
    direct = worker_direct(hostname)
    # Names, not a kombu Queue: the routing options travel inside the chain's JSON message.
    signatures: list[Signature] = [
        step.si(job_id=str(job_id)).set(
            queue=direct.name, exchange=direct.exchange.name, routing_key=direct.routing_key
        )
        for step in steps
    ]
    chain(*signatures).apply_async()


def run(job_id: str, step: Step, fail: Fail) -> str:
    """Run one step; on an error end the job failed (via `fail`) and raise JobFailed."""
    rt = runtime.current()
    jid = uuid.UUID(job_id)
    try:
        step(rt, jid)
    except errors.AttemptSuperseded as exc:
        # Not a failure: the job lives on in its newer attempt, which owns spool and row.
        log.warning("job %s: %s; this step stops here", jid, exc.message)
    except Exception as exc:
        message = fail(rt, jid, exc)
        if isinstance(exc, errors.BackupWorkerError):
            log.error("job %s failed: %s", jid, message)
        else:
            log.exception("job %s failed with an unexpected error", jid)
        raise errors.JobFailed(message) from None
    return job_id
