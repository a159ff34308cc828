"""One log line per job event: a task started, succeeded, failed or will be retried.

Connected to Celery's task signals by `worker.logs.install()`. Each line names the job, its
project, the stage (the task's last name part: create, dump, upload, record, ...) and, at the
end, the duration; JSON logs carry the same fields as keys. Tasks stay free of logging code.
Only ids travel in task arguments, so nothing here can print a secret; error texts still pass
through the log handler's redaction.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from celery import signals

from worker.contract import tasks
from worker.jobs import intake, runtime

log = logging.getLogger("backup_worker.jobs")

MAX_ERROR = 300  # characters of an error quoted in a line
# Tasks that create their job when the caller gave no job_id, with an id derived from the task id.
ACCEPTING_TASKS = (tasks.CREATE, tasks.RESTORE, tasks.VERIFY)
_OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "will retry"}
_DISPATCH = "backup-worker.jobs.events"


@dataclass
class _Running:
    started: float
    job_id: str | None
    project_id: str | None
    stage: str


# Keyed by task id, so the pool's threads never touch each other's entries; a single dict
# get, set or pop is atomic in CPython, so no lock is needed. Log context needs no per-thread
# state here: Celery's current task (worker.logs) is already thread-local.
_running: dict[str, _Running] = {}
_errors: dict[str, str] = {}
_deferred: set[str] = set()  # tasks whose retry waits for their Telegram slot


def deferring(task_id: str | None) -> None:
    """The task's coming retry waits for its Telegram slot (tasks/steps.py `defer`): the pacer's
    ordinary course, logged at INFO, where any other retry is a WARNING."""
    if task_id is not None:
        _deferred.add(task_id)


def _job_id(task_name: str, task_id: str, kwargs: Mapping[str, object]) -> str | None:
    given = kwargs.get("job_id")
    if isinstance(given, str) and given:
        return given
    if task_name in ACCEPTING_TASKS:
        return str(intake.job_id_for_task(task_id))
    return None


def _project_of(job_id: str | None, kwargs: Mapping[str, object]) -> str | None:
    project = kwargs.get("project_id")
    if isinstance(project, str):
        return project
    if job_id is None:
        return None
    return _project_of_job(job_id)


@functools.lru_cache(maxsize=1024)
def _project_of_job(job_id: str) -> str | None:
    # A job's project never changes: one read per job and process, not one per step
    # (measured: ~10 ms of each small backup's overhead).
    try:
        from db.queries import jobs as db_jobs

        rt = runtime.current()
        with rt.database.transaction() as session:
            job = db_jobs.get_job(session, uuid.UUID(job_id))
            return None if job is None else job.project_id
    except Exception:  # noqa: BLE001 - a log line must never break the task it describes
        return None


def event_fields(
    event: str, running: _Running, task_name: str, task_id: str, **more: object
) -> dict[str, object]:
    """The fields of one job event, as JSON logs carry them."""
    fields: dict[str, object] = {
        "event": event,
        "job_id": running.job_id,
        "project_id": running.project_id,
        "stage": running.stage,
        "task": task_name,
        "task_id": task_id,
    }
    fields.update(more)
    return fields


def _line(running: _Running, what: str) -> str:
    return (
        f"job {running.job_id or '-'} project={running.project_id or '-'} "
        f"stage={running.stage}: {what}"
    )


def _task_name(task: object) -> str:
    return str(getattr(task, "name", None) or "unknown")


def on_prerun(
    task_id: str | None = None,
    task: object = None,
    kwargs: Mapping[str, object] | None = None,
    **_: object,
) -> None:
    """Remember when the task started; log the start."""
    if task_id is None:
        return
    name = _task_name(task)
    kw = kwargs or {}
    job_id = _job_id(name, task_id, kw)
    running = _Running(time.monotonic(), job_id, _project_of(job_id, kw), name.rsplit(".", 1)[-1])
    _running[task_id] = running
    fields = event_fields("job.started", running, name, task_id)
    log.info(_line(running, "started"), extra={"job_event": fields})


def on_failure(
    task_id: str | None = None, exception: BaseException | None = None, **_: object
) -> None:
    """Keep the error text for the line task_postrun writes."""
    if task_id is not None and exception is not None:
        text = str(exception) or type(exception).__name__
        _errors[task_id] = f"{type(exception).__name__}: {text}"[:MAX_ERROR]


def on_postrun(
    task_id: str | None = None,
    task: object = None,
    kwargs: Mapping[str, object] | None = None,
    retval: object = None,
    state: str | None = None,
    **_: object,
) -> None:
    """Log the end of the task: outcome, duration and, on failure, the error."""
    if task_id is None:
        return
    name = _task_name(task)
    running = _running.pop(task_id, None)
    if running is None:
        running = _Running(time.monotonic(), None, None, name.rsplit(".", 1)[-1])
    if running.job_id is None and isinstance(retval, str):
        with contextlib.suppress(ValueError):
            running.job_id = str(uuid.UUID(retval))
    if running.project_id is None and running.job_id is not None:
        # A job the task itself created (a restore): its row exists now.
        running.project_id = _project_of(running.job_id, {})
    duration = round(time.monotonic() - running.started, 3)
    error = _errors.pop(task_id, None)
    deferred = state == "RETRY" and task_id in _deferred
    _deferred.discard(task_id)
    outcome = "deferred" if deferred else _OUTCOMES.get(state or "", (state or "ended").lower())
    fields = event_fields(
        f"job.{outcome.replace(' ', '_')}", running, name, task_id, duration_s=duration
    )
    what = f"{outcome} in {duration:.2f}s"
    level = logging.INFO
    if deferred:
        what = f"deferred to its Telegram slot after {duration:.2f}s"
    elif error is not None and state != "RETRY":
        fields["error"] = error
        what += f": {error}"
        level = logging.ERROR
    elif state == "RETRY":
        level = logging.WARNING
    log.log(level, _line(running, what), extra={"job_event": fields})


def install() -> None:
    """Connect the task signals (idempotent)."""
    signals.task_prerun.connect(on_prerun, weak=False, dispatch_uid=_DISPATCH + ".prerun")
    signals.task_failure.connect(on_failure, weak=False, dispatch_uid=_DISPATCH + ".failure")
    signals.task_postrun.connect(on_postrun, weak=False, dispatch_uid=_DISPATCH + ".postrun")
