"""The dispatcher: due schedules become pending jobs and `backups.create` messages.

Beat sends `schedules.dispatch` every SCHEDULE_DISPATCH_INTERVAL seconds; any worker may run it,
several at once. Each batch is one transaction: the due schedules are claimed with
FOR UPDATE SKIP LOCKED (a concurrent dispatcher takes other rows or none), every claimed slot
gets a jobs row whose id is derived from (schedule, slot), a schedule_runs row keyed on the same
pair, and the schedule's next_run_at moves past now. The messages are sent before the commit:
a failed send rolls the whole batch back, and a message that arrives before the commit finds
its job a moment later (backups.create waits for the row). Run twice for one slot, every step
maps to the same job, so nothing is enqueued twice.

A schedule that missed several runs (beat or workers down) gets one run for its oldest missed
slot, and next_run_at jumps to the first slot after now: one catch-up backup, not a burst.

A schedule whose database is `*` lists its server's databases when its slot is due
(worker.jobs.fanout, the rule of `backup --all`) and gets one run and job per database, keyed
(schedule, slot, database). When the server cannot be listed, the schedule stays due and the
next tick tries again.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field

from db import schedule_models
from db.queries import schedule_runs as db_schedule_runs
from db.queries import schedules as db_schedules
from worker import errors
from worker.contract import publish, request, tasks
from worker.jobs import fanout
from worker.jobs.runtime import Runtime
from worker.scheduling import spec as schedule_spec

log = logging.getLogger(__name__)

# Job ids of scheduled runs are uuid5(RUN_NAMESPACE, "<schedule id>/<slot, UTC ISO>").
RUN_NAMESPACE = uuid.UUID("0c6f3e0e-58a4-4c55-b0d1-5f1f6ac3c2a9")
BATCH = 100  # schedules claimed per transaction: small, so concurrent dispatchers share
MAX_SPREAD = 60.0  # seconds: enqueues are spread over at most a minute


@dataclass
class DispatchResult:
    """What one dispatch did."""

    claimed: int = 0
    enqueued: int = 0
    unlisted: int = 0  # `*` schedules left due: their server could not be listed
    job_ids: list[uuid.UUID] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """JSON-ready summary (ids left out: a thousand of them help nobody)."""
        return {"claimed": self.claimed, "enqueued": self.enqueued, "unlisted": self.unlisted}


def run_job_id(schedule_id: uuid.UUID, scheduled_for: dt.datetime, database: str = "") -> uuid.UUID:
    """The job id of one slot of one schedule (and one database of a `*` schedule): the same
    on every host and every retry."""
    slot = scheduled_for.astimezone(dt.UTC).isoformat()
    name = f"{schedule_id}/{slot}" + (f"/{database}" if database else "")
    return uuid.uuid5(RUN_NAMESPACE, name)


def spread_offset(schedule_id: uuid.UUID, spread: float) -> float:
    """Seconds to delay this schedule's message: stable per schedule, uniform over `spread`.

    A thousand schedules due at 03:00 then start over the minute, not in one burst at
    Telegram's rate limits, whichever dispatcher happens to claim them.
    """
    if spread <= 0:
        return 0.0
    return (schedule_id.int % 1_000_003) / 1_000_003 * spread


def plan(
    row: schedule_models.BackupSchedule, now: dt.datetime, chat_id: str, thread_id: int | None
) -> db_schedule_runs.NewRun:
    """The run for a claimed schedule's due slot, and where the schedule goes next."""
    scheduled_for = row.next_run_at
    next_run_at = schedule_spec.when_of(row).next_after(now, anchor=scheduled_for)
    req = request.BackupRequest(
        project_id=row.project_id,
        database=row.database,
        expires_in_days=schedule_spec.expires_in_days(row),
        server=row.server,
    )
    return db_schedule_runs.NewRun(
        schedule_id=row.id,
        scheduled_for=scheduled_for,
        job_id=run_job_id(row.id, scheduled_for),
        next_run_at=next_run_at,
        project_id=row.project_id,
        payload=req.payload(chat_id, thread_id),
    )


def plan_every(
    rt: Runtime,
    row: schedule_models.BackupSchedule,
    now: dt.datetime,
    chat_id: str,
    thread_id: int | None,
) -> list[db_schedule_runs.NewRun]:
    """The runs of a `*` schedule's due slot: one per database its server lists now that a
    backup takes; DumpError (or InputError for an unknown server) when it cannot say."""
    scheduled_for = row.next_run_at
    next_run_at = schedule_spec.when_of(row).next_after(now, anchor=scheduled_for)
    runs: list[db_schedule_runs.NewRun] = []
    for item in fanout.plan(rt, rt.registry().get(row.server), row.exclude):
        if item.project_id is None:
            log.info("schedule %s: %s skipped: %s", row.id, item.database, item.skipped)
            continue
        req = request.validate(
            item.project_id, item.database, schedule_spec.expires_in_days(row), server=row.server
        )
        runs.append(
            db_schedule_runs.NewRun(
                schedule_id=row.id,
                scheduled_for=scheduled_for,
                job_id=run_job_id(row.id, scheduled_for, item.database),
                next_run_at=next_run_at,
                project_id=item.project_id,
                payload=req.payload(chat_id, thread_id),
                database=item.database,
            )
        )
    return runs


def message(run: db_schedule_runs.NewRun, spread: float) -> publish.Delayed:
    """The backups.create message of a run, as the gateway would send it.

    The runs of a `*` schedule are spread by job id, not all at its schedule's second.
    """
    create = tasks.CreateBackup.of(request.BackupRequest.from_payload(run.payload), run.job_id)
    key = run.job_id if run.database else run.schedule_id
    return publish.Delayed(create, spread_offset(key, spread))


@dataclass
class Batch:
    """The runs of one batch of claimed schedules, and the `*` schedules it left due."""

    runs: list[db_schedule_runs.NewRun] = field(default_factory=list)
    empty: list[tuple[uuid.UUID, dt.datetime]] = field(default_factory=list)  # nothing to take
    unlisted: set[uuid.UUID] = field(default_factory=set)


def plan_batch(
    rt: Runtime,
    due: list[schedule_models.BackupSchedule],
    now: dt.datetime,
    chat_id: str,
    thread_id: int | None,
) -> Batch:
    """The runs of every claimed schedule's due slot."""
    batch = Batch()
    for row in due:
        if row.database != schedule_models.ALL:
            batch.runs.append(plan(row, now, chat_id, thread_id))
            continue
        try:
            fanned = plan_every(rt, row, now, chat_id, thread_id)
        except errors.BackupWorkerError as exc:
            log.error(
                "schedule %s: cannot list the databases of server %s, trying again next tick: %s",
                row.id,
                row.server,
                exc.message,
            )
            batch.unlisted.add(row.id)
            continue
        batch.runs.extend(fanned)
        if not fanned:
            after = schedule_spec.when_of(row).next_after(now, anchor=row.next_run_at)
            batch.empty.append((row.id, after))
    return batch


def dispatch(rt: Runtime, publisher: publish.Publisher, *, batch: int = BATCH) -> DispatchResult:
    """Claim every due schedule (in batches), record its runs and enqueue their backups."""
    chat_id = rt.chat_id()
    thread_id = rt.settings.telegram_thread_id
    spread = min(rt.settings.schedule_dispatch_interval, MAX_SPREAD)
    result = DispatchResult()
    unlisted: set[uuid.UUID] = set()  # left due, and not claimed again by this call
    while True:
        with rt.database.transaction() as session:
            now = db_schedules.db_now(session)
            due = db_schedules.claim_due(session, limit=batch, skip=unlisted)
            planned = plan_batch(rt, due, now, chat_id, thread_id)
            runs = planned.runs
            new = db_schedule_runs.record_runs(session, runs, empty=planned.empty)
            messages = [message(run, spread) for run in runs if run.job_id in new]
            if messages:
                publisher.send_all(messages)
        unlisted |= planned.unlisted
        result.claimed += len(due)
        result.enqueued += len(messages)
        result.job_ids.extend(run.job_id for run in runs if run.job_id in new)
        if len(due) < batch:
            break
    result.unlisted = len(unlisted)
    if result.claimed:
        log.info("dispatched %d scheduled backup(s) of %d due", result.enqueued, result.claimed)
    return result
