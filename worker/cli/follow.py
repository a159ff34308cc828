"""Following a job from the jobs row until it ends, with a progress bar on the terminal."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from db import models
from db.queries import jobs as db_jobs
from db.session import Database

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
) -> dict[str, object] | None:
    """Poll the job until it is finished (or `timeout` passes); returns its last state."""
    deadline = None if timeout is None else time.monotonic() + timeout
    bar = Progress(
        TextColumn("[bold]{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        disable=not show_bar,
    )
    state = read(database, job_id)
    with bar:
        task = bar.add_task("pending", total=100)
        while state is not None:
            stage = str(state.get("stage") or state["status"])
            bar.update(task, completed=float(str(state["progress"])), description=stage)
            if state["status"] in FINISHED:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            sleep(POLL_INTERVAL)
            state = read(database, job_id)
    return state
