"""User work first: a backup the gateway asks for never waits behind the scheduled ones.

The Procfile's two worker processes: `worker` consumes the default queue, `scheduled` the
dispatcher's queue (docs/fleet.md, "User work first").
"""

from __future__ import annotations

import datetime as dt

from tests.acceptance.conftest import Stack
from worker.contract import publish, tasks
from worker.jobs import intake

SCHEDULED = 12  # more than the scheduled process's two slots get through in the test's time


def test_an_asked_for_backup_starts_while_scheduled_ones_still_queue(stack: Stack) -> None:
    # --concurrency=1: one slot each, so twelve scheduled backups do queue up.
    stack.start_worker("--concurrency=1")
    stack.start_scheduled("--concurrency=1")
    nightly = publish.Publisher(stack.client.send_task, queue=tasks.SCHEDULED_QUEUE)
    scheduled = []
    for n in range(SCHEDULED):
        message = tasks.CreateBackup.from_kwargs(
            {"project_id": f"proj-night-{n}", "database": stack.source_db}
        )
        scheduled.append(str(intake.job_id_for_task(nightly.send(message))))
    asked_at = dt.datetime.now(dt.UTC)
    asked = stack.send(project_id="proj-user", database=stack.source_db)
    row = stack.wait_job(asked, timeout=120)
    assert row["status"] == "completed", row["error"]
    started = row["started_at"]
    assert isinstance(started, dt.datetime)
    assert (started - asked_at).total_seconds() < 10
    # The scheduled ones were still queued when it was done: it did not wait for them.
    finished_after = [stack.wait_job(job, timeout=300) for job in scheduled]
    finished = row["finished_at"]
    assert isinstance(finished, dt.datetime)
    later = [n["finished_at"] for n in finished_after if isinstance(n["finished_at"], dt.datetime)]
    assert sum(1 for when in later if when > finished) >= SCHEDULED // 2
    assert all(night["status"] == "completed" for night in finished_after)
    hosts = {str(night["worker_hostname"]) for night in finished_after}
    assert len(hosts) == 1
    assert hosts.pop().startswith("scheduled@")
    assert str(row["worker_hostname"]).startswith("celery@")  # the Procfile's `worker`
