"""`backup-worker drills run`: start restore drills now, as beat's drills.run does, and follow.

The drills run in the workers (backups.restore, mode drill); this command inserts their pending
jobs and sends their messages (worker.restore.rotation), then, with --wait, follows them. One
drill prints as `restore --json` does, its `drill` the report (every table's recorded and
restored rows); several print as {"drills": [...]}, one such object each.
"""

from __future__ import annotations

import sys
import uuid

import click

from worker import errors
from worker.cli import common, outcome
from worker.contract import publish
from worker.restore import rotation


@click.group()
def drills() -> None:
    """Restore drills: restore backups into scratch databases and check their row counts."""


@drills.command("run")
@click.option("--project", "project_id", default=None, help="drill this project's newest backups")
@click.option("--wait", is_flag=True, help="follow the drills until they end")
@click.option("--timeout", type=float, default=None, help="with --wait: give up after seconds")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def drills_run(project_id: str | None, wait: bool, timeout: float | None, as_json: bool) -> None:
    """Drill the backups that are due, or with --project that project's newest, now."""
    from worker.app import app

    rt = common.build_runtime()
    result = rotation.run(rt, publish.Publisher(app.send_task), project_id=project_id)
    started = [uuid.UUID(job) for job in result.started]
    if project_id is not None and not started:
        raise errors.NotFoundError(f"project {project_id} has no active database backup to drill")
    if len(started) == 1 and project_id is not None:
        common.follow(rt, started[0], wait=wait, timeout=timeout, as_json=as_json, key="drill")
        return
    if not wait:
        if as_json:
            queued = [{"job_id": str(j), "status": "pending"} for j in started]
            common.emit({"drills": queued}, True)
        else:
            outcome.echo([each for j in started for each in outcome.queued(j)] or ["no drill due"])
        return
    from worker.cli import follow as watch

    outcomes = []
    for job_id in started:
        state = watch.wait(rt.database, job_id, console=common.err, timeout=timeout)
        if state is None:
            raise errors.NotFoundError(f"job {job_id} disappeared")
        outcomes.append(common.summary(job_id, state, "drill"))
        if not as_json:
            outcome.echo(outcome.job_lines(state, "drill"))
    if as_json:
        common.emit({"drills": outcomes}, True)
    if any(outcome["status"] != "completed" for outcome in outcomes):
        sys.exit(common.EXIT_FAILED)
