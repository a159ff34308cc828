"""Pruning schedule_runs on real PostgreSQL: what goes, what stays, and exactly-once after it."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, text, update

from db import models, schedule_models, session
from db.queries import backups
from db.queries import schedule_runs as db_schedule_runs
from db.queries import schedules as db_schedules
from tests.integration.scheduling.test_schedules import make_runtime
from tests.support.fake_send import FakeSend
from worker.jobs import runtime
from worker.scheduling import dispatch as dispatcher
from worker.scheduling import spec as schedule_spec
from worker.scheduling import sweep

DAY = dt.timedelta(days=1)
Schedule = schedule_models.BackupSchedule


@pytest.fixture
def rt(database: session.Database) -> Iterator[runtime.Runtime]:
    built = make_runtime(database.url)
    yield built
    built.close()


def db_now(db: session.Database) -> dt.datetime:
    with db.transaction() as s:
        return db_schedules.db_now(s)


def add_schedule(db: session.Database, project: str = "proj-1") -> uuid.UUID:
    spec = schedule_spec.ScheduleSpec.build(project_id=project, database="app", every="1d")
    with db.transaction() as s:
        return schedule_spec.create(s, spec).id


class History:
    """Runs recorded as the dispatcher records them: the job id is the slot's run_job_id."""

    def __init__(self, db: session.Database, make_backup: Callable[..., backups.NewBackup]):
        self.db = db
        self.make_backup = make_backup
        self.now = db_now(db)

    def run(
        self,
        schedule_id: uuid.UUID,
        age: dt.timedelta,
        *,
        job: str = "completed",
        backup: str | None = None,
    ) -> dt.datetime:
        """A run `age` before now whose job is in state `job`, with a backup in state `backup`."""
        slot = self.now - age
        job_id = dispatcher.run_job_id(schedule_id, slot)
        with self.db.transaction() as s:
            s.execute(
                text(
                    "INSERT INTO control_plane.jobs (id, type, project_id, status)"
                    " VALUES (:id, 'backup', 'proj-1', :status)"
                ),
                {"id": job_id, "status": job},
            )
            s.execute(
                text(
                    "INSERT INTO control_plane.schedule_runs (schedule_id, scheduled_for, job_id)"
                    " VALUES (:s, :slot, :j)"
                ),
                {"s": schedule_id, "slot": slot, "j": job_id},
            )
            if backup is not None:
                row, _ = backups.record_backup(s, self.make_backup(job_id=job_id))
                s.execute(
                    update(models.Backup)
                    .where(models.Backup.id == row.id)
                    .values(status=backup, created_at=slot)
                )
        return slot

    def slots(self, schedule_id: uuid.UUID) -> list[dt.datetime]:
        with self.db.transaction() as s:
            return [r.scheduled_for for r in db_schedule_runs.runs_of(s, schedule_id)]


@pytest.fixture
def history(
    database: session.Database, make_new_backup: Callable[..., backups.NewBackup]
) -> History:
    return History(database, make_new_backup)


def point_back(db: session.Database, schedule_id: uuid.UUID, slot: dt.datetime) -> None:
    """What a redelivered dispatch or a stale next_run_at does: the slot is due once more."""
    with db.transaction() as s:
        s.execute(update(Schedule).where(Schedule.id == schedule_id).values(next_run_at=slot))


def test_old_runs_go_recent_newest_and_still_needed_ones_stay(
    rt: runtime.Runtime, history: History
) -> None:
    plain = add_schedule(rt.database, "proj-plain")
    for days in (60, 45, 31):
        history.run(plain, days * DAY, backup="expired")
    recent = [history.run(plain, days * DAY) for days in (29, 1)]

    quiet = add_schedule(rt.database, "proj-quiet")  # no run for 40 days: a paused schedule
    history.run(quiet, 50 * DAY)
    newest = history.run(quiet, 40 * DAY)

    busy = add_schedule(rt.database, "proj-busy")
    pending = history.run(busy, 50 * DAY, job="pending")
    running = history.run(busy, 48 * DAY, job="running")
    active = history.run(busy, 45 * DAY, backup="active")
    history.run(busy, 40 * DAY, job="failed")
    history.run(busy, 35 * DAY, job="cancelled", backup="deleted")
    latest = history.run(busy, DAY)

    # Batches of 2 among 11 old runs, 4 of them kept: the cursor must step over them.
    assert sweep.prune_runs(rt, batch=2) == 6

    assert history.slots(plain) == recent
    assert history.slots(quiet) == [newest]
    assert history.slots(busy) == [pending, running, active, latest]
    assert sweep.prune_runs(rt, batch=2) == 0


def test_a_run_with_no_job_left_goes(rt: runtime.Runtime, history: History) -> None:
    schedule_id = add_schedule(rt.database)
    old = history.run(schedule_id, 40 * DAY)
    history.run(schedule_id, DAY)
    with rt.database.transaction() as s:
        s.execute(
            delete(models.Job).where(models.Job.id == dispatcher.run_job_id(schedule_id, old))
        )
    assert sweep.prune_runs(rt) == 1
    assert len(history.slots(schedule_id)) == 1


def test_after_pruning_no_slot_is_enqueued_twice(rt: runtime.Runtime, history: History) -> None:
    schedule_id = add_schedule(rt.database)
    for days in (70, 60, 50):
        history.run(schedule_id, days * DAY)
    # Down for 40 days: dispatch runs the oldest missed slot, one catch-up job.
    late = history.now - 40 * DAY
    point_back(rt.database, schedule_id, late)
    sent = FakeSend()
    assert dispatcher.dispatch(rt, sent.publisher()).enqueued == 1
    with rt.database.transaction() as s:
        s.execute(
            update(models.Job)
            .where(models.Job.id == dispatcher.run_job_id(schedule_id, late))
            .values(status="completed")
        )

    assert sweep.prune_runs(rt) == 3
    assert history.slots(schedule_id) == [late]  # 40 days old, but the newest

    # The same moment again, then a stale next_run_at pointing at that slot: nothing is enqueued.
    assert dispatcher.dispatch(rt, sent.publisher()).claimed == 0
    point_back(rt.database, schedule_id, late)
    result = dispatcher.dispatch(rt, sent.publisher())
    assert (result.claimed, result.enqueued) == (1, 0)
    assert [kw["job_id"] for kw in sent.kwargs] == [str(dispatcher.run_job_id(schedule_id, late))]


@pytest.mark.timeout(120)
def test_prune_alongside_two_dispatchers_keeps_exactly_once(
    database: session.Database,
) -> None:
    """500 schedules due at a new slot, 500 pointing back at their newest (old) run."""
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.backup_schedules"
                " (project_id, database, interval_seconds, period_seconds, next_run_at)"
                " SELECT 'proj-' || i, 'app', 86400, 86400,"
                "  CASE WHEN i <= 500 THEN now() - interval '10 minutes'"
                "       ELSE now() - interval '40 days' END"
                " FROM generate_series(1, 1000) AS i"
            )
        )
        # Every schedule ran 60, 50 and 40 days ago (jobs completed, no backup kept); now() is
        # the same all transaction long, so the stale half points exactly at its 40-day run.
        conn.execute(
            text(
                "CREATE TEMP TABLE old_runs AS"
                " SELECT s.id AS schedule_id, now() - n * interval '1 day' AS slot,"
                "  gen_random_uuid() AS job_id"
                " FROM control_plane.backup_schedules s, unnest(ARRAY[60, 50, 40]) AS n"
            )
        )
        conn.execute(
            text(
                "INSERT INTO control_plane.jobs (id, type, project_id, status)"
                " SELECT job_id, 'backup', 'p', 'completed' FROM old_runs"
            )
        )
        conn.execute(
            text(
                "INSERT INTO control_plane.schedule_runs (schedule_id, scheduled_for, job_id)"
                " SELECT schedule_id, slot, job_id FROM old_runs"
            )
        )
    runtimes = [make_runtime(database.url) for _ in range(3)]
    start = threading.Barrier(3)
    sent = FakeSend()
    pruned: list[int] = []
    failures: list[BaseException] = []

    def dispatch(rt: runtime.Runtime) -> None:
        try:
            start.wait()
            dispatcher.dispatch(rt, sent.publisher(), batch=50)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    def prune(rt: runtime.Runtime) -> None:
        try:
            start.wait()
            pruned.append(sweep.prune_runs(rt, batch=100))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=dispatch, args=(rt,)) for rt in runtimes[:2]]
    threads.append(threading.Thread(target=prune, args=(runtimes[2],)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for rt in runtimes:
        rt.close()
    assert not failures, failures

    with database.engine.connect() as conn:
        still_due = conn.execute(
            text("SELECT count(*) FROM control_plane.backup_schedules WHERE next_run_at <= now()")
        ).scalar_one()
        new_runs = set(
            conn.execute(
                text(
                    "SELECT job_id FROM control_plane.schedule_runs"
                    " WHERE scheduled_for > now() - interval '1 day'"
                )
            ).scalars()
        )
        stale_kept = conn.execute(
            text(
                "SELECT count(*) FROM control_plane.schedule_runs r"
                " JOIN control_plane.backup_schedules s ON s.id = r.schedule_id"
                " WHERE split_part(s.project_id, '-', 2)::int > 500"
                " AND r.scheduled_for < now() - interval '39 days'"
            )
        ).scalar_one()
        total = conn.execute(text("SELECT count(*) FROM control_plane.schedule_runs")).scalar_one()
    ids = [uuid.UUID(kw["job_id"]) for kw in sent.kwargs]
    assert len(ids) == len(set(ids)) == 500
    assert set(ids) == new_runs
    assert still_due == 0
    # Each stale schedule keeps exactly its newest run, the 40-day one it points at.
    assert stale_kept == 500
    # The 60- and 50-day runs go; a due schedule's 40-day run too if the prune already saw the
    # newer run dispatch gave it.
    assert 2_000 <= pruned[0] <= 2_500
    assert total == 3_500 - pruned[0]


def test_the_sweep_reports_the_pruned_runs(
    rt: runtime.Runtime, history: History, caplog: pytest.LogCaptureFixture
) -> None:
    schedule_id = add_schedule(rt.database)
    for days in (50, 40, 1):
        history.run(schedule_id, days * DAY)
    with caplog.at_level(logging.INFO, logger=sweep.__name__):
        result = sweep.sweep(rt)
    assert result.runs_pruned == 2
    assert result.to_json()["runs_pruned"] == 2
    assert "'runs_pruned': 2" in caplog.text


def test_the_sweep_command_prints_the_pruned_runs(
    database: session.Database, history: History, tmp_path: Path
) -> None:
    schedule_id = add_schedule(database)
    for days in (50, 40, 1):
        history.run(schedule_id, days * DAY)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_"))
    }
    env["DATABASE_URL"] = database.url
    done = subprocess.run(
        [str(Path(sys.executable).with_name("backup-worker")), "sweep", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["runs_pruned"] == 2
