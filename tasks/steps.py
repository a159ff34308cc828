"""Celery glue every job chain's tasks share: routing to this host, waiting for a row, and
running a step again when the control-plane database cut it off.

The step runner itself (the job's lock, the heartbeat, failing the job) is plain job logic in
worker.jobs.runner; the tasks call it through `run` with their step.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from celery import Celery, Signature, Task, chain
from celery.exceptions import Retry

from worker import errors, redisconn
from worker.contract import tasks as contract
from worker.jobs import deferral, events, intake, runner, runtime
from worker.jobs import retry as retry_policy

log = logging.getLogger(__name__)

MISSING_JOB_RETRIES = 5  # the gateway's insert may not be committed when its message arrives
MISSING_JOB_DELAY = 2  # seconds
DIRECT_QUEUE_SUFFIX = contract.DIRECT_QUEUE_SUFFIX
DIRECT_EXCHANGE = contract.DIRECT_EXCHANGE
# The steps that open a job's heavy work (a dump, a download). On a Redis broker they go to the
# host queue's lowest priority list, so a worker takes the next step of every job already under
# way (an upload, a record, a restore's load) before it opens another one: a FIFO queue put a
# finished dump's upload behind every dump queued before it (docs/fleet.md, "Step order").
OPENING_STEPS = frozenset({contract.DUMP, contract.DOWNLOAD})
OPENING_PRIORITY = 9  # kombu's Redis transport: 0 is taken first, 9 last


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
    signatures = [_to_host(step.app, step.si(job_id=str(job_id)), hostname) for step in steps]
    chain(*signatures).apply_async()


def _to_host(app: Celery, signature: Signature, hostname: str) -> Signature:
    # Names, not a kombu Queue: the routing options travel inside the chain's JSON message.
    routed = signature.set(
        queue=hostname + DIRECT_QUEUE_SUFFIX, exchange=DIRECT_EXCHANGE, routing_key=hostname
    )
    # RabbitMQ reads a priority the other way round, and only on queues declared for it: there
    # the host queue stays first in, first out.
    if signature.task in OPENING_STEPS and redisconn.is_redis(str(app.conf.broker_url)):
        routed = routed.set(priority=OPENING_PRIORITY)
    return routed


def chain_to(
    app: Celery, hostname: str, job_id: uuid.UUID, names: Sequence[str], *, countdown: float = 0
) -> None:
    """Send the steps `names` (task names) of a job as a chain to `hostname`'s own queue, the
    first after `countdown` seconds: a resume pass sends on a job from the step where it
    stands (worker.jobs.resume), a step that waited for its Telegram slot for that slot."""
    first, *rest = step_signatures(app, hostname, job_id, names)
    if countdown > 0:
        first = first.set(countdown=countdown)
    chain(first, *rest).apply_async()


def step_signatures(
    app: Celery, hostname: str, job_id: uuid.UUID, names: Sequence[str]
) -> list[Signature]:
    """The chain's steps by name, as chain_here makes them: immutable (a step takes only
    job_id, never the result of the step before) and routed to `hostname`."""
    return [
        _to_host(app, app.signature(name, kwargs={"job_id": str(job_id)}, immutable=True), hostname)
        for name in names
    ]


def run(
    task: Task,  # type: ignore[type-arg]
    job_id: str,
    step: runner.Step,
    fail: runner.Fail,
    retry: runner.Retry | None = None,
) -> str:
    """runner.run; a step the control-plane database cut off is sent again to this host.

    Task.retry re-sends the same message, to the same queue (this worker's own) and with the
    rest of its chain, after a growing countdown. Past the last one the error propagates: the
    job stays running with a stale heartbeat, and the reaper re-runs it once the database is
    back.
    """
    try:
        return runner.run(job_id, step, fail, retry)
    except errors.ControlPlaneUnavailable as exc:
        delay = retry_policy.in_place_delay(task.request.retries)
        if delay is None:
            log.error("job %s: %s; left to the reaper", job_id, exc.message)
            raise
        log.warning("job %s: %s; the step runs again in %g s", job_id, exc.message, delay)
        raise task.retry(countdown=delay, max_retries=None) from None


def defer(
    task: Task,  # type: ignore[type-arg]
    job_id: str,
    exc: errors.PacerDeferred,
    *,
    max_sleep: float,
) -> Retry:
    """The task's retry by its Telegram slot, carrying the slot kept for it (docs/fleet.md); the
    jobs row keeps it too (worker.jobs.deferral), for a message sent again if this one is lost.

    Celery reads max_retries=None as the task's default of 3: a deferral is no failure, so one
    more retry than so far is allowed each time. It wakes a little before its start, by
    `max_sleep` (TELEGRAM_PACER_MAX_SLEEP): deferral.wake.
    """
    log.info("job %s: %s; the step goes on then", job_id, exc.message)
    events.deferring(task.request.id)
    return task.retry(
        countdown=deferral.wake(exc.seconds, max_sleep),
        kwargs={**(task.request.kwargs or {}), "job_id": job_id, "slot": exc.slot},
        max_retries=task.request.retries + 1,
    )
