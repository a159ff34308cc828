"""Following a job from the jobs row until it ends, with a progress bar on the terminal: the
stage, the job's percentage, and the stage's bytes with their rate and time left (cli/speed.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from db import models
from db.queries import jobs as db_jobs
from db.session import Database
from worker.cli import speed

POLL_INTERVAL = 0.25  # seconds between two reads of the jobs row
FINISHED = frozenset({"completed", "failed", "cancelled"})


def read(database: Database, job_id: uuid.UUID) -> dict[str, object] | None:
    """The job as JSON, or None when it does not exist."""
    with database.transaction() as session:
        job = db_jobs.get_job(session, job_id)
        return None if job is None else models.job_json(job)


def wait(
    database: Database,
    job_id: uuid.UUID,
    *,
    console: Console,
    timeout: float | None = None,
    show_bar: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, object] | None:
    """Poll the job until it is finished (or `timeout` passes); returns its last state."""
    deadline = None if timeout is None else time.monotonic() + timeout
    bar = Progress(
        TextColumn("[bold]{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[amount]}"),
        console=console,
        disable=not show_bar,
    )
    pace = speed.Speed()
    state = read(database, job_id)
    with bar:
        task = bar.add_task("pending", total=100, amount="")
        while state is not None:
            stage = str(state.get("stage") or state["status"])
            completed = float(str(state["progress"]))
            amount = shown(state, stage, pace, clock())
            bar.update(task, completed=completed, description=stage, amount=amount)
            if state["status"] in FINISHED:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            sleep(POLL_INTERVAL)
            state = read(database, job_id)
    return state


def shown(state: dict[str, object], stage: str, pace: speed.Speed, now: float) -> str:
    """The stage's bytes, rate and time left beside the bar, `pace` fed with the row at `now`."""
    done, total = _amount(state, "bytes_done"), _amount(state, "bytes_total")
    pace.add(stage, now, done)
    if state["status"] in FINISHED:  # no rate or time left for what is over
        return speed.describe(done, total, None, None)
    return speed.describe(done, total, pace.rate(), pace.left(total))


def _amount(state: dict[str, object], key: str) -> int | None:
    value = state.get(key)
    return value if isinstance(value, int) else None
