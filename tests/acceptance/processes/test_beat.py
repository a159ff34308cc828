"""A real `celery beat` and a real worker run schedules end to end; beat is killed and restarted.

Beat ticks every 5 s (SCHEDULE_DISPATCH_INTERVAL=5) and the schedule runs every 10 s, so a
minute of wall time stands for an hour of a one-minute tick.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text, update

from db import schedule_models
from db.queries import schedules as db_schedules
from tests.acceptance.conftest import Stack
from tests.support import workers
from worker.scheduling import spec as schedule_spec

TICK = 5  # seconds between two schedules.dispatch
EVERY = 10  # seconds between two runs of the schedule
RUN_BEFORE_KILL = 32  # seconds
RUN_AFTER_RESTART = 32  # seconds


def start_beat(stack: Stack) -> workers.Process:
    """The Procfile's beat, ticking every TICK seconds.

    -s: its schedule file in the test's directory (the Procfile's beat keeps it in the working
    directory); a restarted beat reads the same file, as on a host.
    """
    schedule = str(stack.tmp / "beat-schedule")
    return stack.start_beat("-s", schedule, SCHEDULE_DISPATCH_INTERVAL=str(TICK))


@pytest.fixture
def beats(stack: Stack) -> Iterator[list[workers.Process]]:
    started: list[workers.Process] = []
    yield started
    for beat in started:
        beat.kill()
    with stack.database.engine.begin() as conn:
        conn.execute(text("DELETE FROM control_plane.backup_schedules"))


def add_schedule(stack: Stack, project: str, every: int) -> uuid.UUID:
    spec = schedule_spec.ScheduleSpec.build(
        project_id=project,
        database=stack.source_db,
        every=every,
        min_interval=dt.timedelta(seconds=TICK),
    )
    with stack.database.transaction() as session:
        return schedule_spec.create(session, spec).id


def runs(stack: Stack, schedule_id: uuid.UUID) -> list[dict[str, object]]:
    with stack.database.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT r.scheduled_for, j.id AS job_id, j.status, j.error,"
                " j.created_at AS dispatched_at, b.created_at AS backup_at"
                " FROM control_plane.schedule_runs r"
                " JOIN control_plane.jobs j ON j.id = r.job_id"
                " LEFT JOIN control_plane.backups b ON b.job_id = j.id"
                " WHERE r.schedule_id = :id ORDER BY r.scheduled_for"
            ),
            {"id": schedule_id},
        ).mappings()
        return [dict(row) for row in rows]


def wait_finished(stack: Stack, schedule_id: uuid.UUID, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(r["status"] in ("pending", "running") for r in runs(stack, schedule_id)):
        if time.monotonic() > deadline:
            raise AssertionError(f"runs did not finish: {runs(stack, schedule_id)}")
        time.sleep(0.5)


@pytest.mark.timeout(240)
def test_beat_runs_schedules_on_time_and_a_restart_loses_and_repeats_nothing(
    stack: Stack, beats: list[workers.Process]
) -> None:
    # Both Procfile workers: `worker` runs beat's periodic tasks (schedules.dispatch), and
    # the backups they dispatch go to the `scheduled` queue, which its own process runs.
    stack.start_worker(SCHEDULE_DISPATCH_INTERVAL=str(TICK))
    stack.start_scheduled(SCHEDULE_DISPATCH_INTERVAL=str(TICK))
    regular = add_schedule(stack, "proj-beat", EVERY)
    late = add_schedule(stack, "proj-late", 60)
    with stack.database.transaction() as session:
        start = db_schedules.db_now(session)
        missed_slot = start - dt.timedelta(seconds=3 * 60 + 20)  # three periods behind
        session.execute(
            update(schedule_models.BackupSchedule)
            .where(schedule_models.BackupSchedule.id == late)
            .values(next_run_at=missed_slot)
        )

    beats.append(start_beat(stack))
    time.sleep(RUN_BEFORE_KILL)
    beats[0].kill()
    killed_at = time.monotonic()
    beats.append(start_beat(stack))
    print(f"beat down for {time.monotonic() - killed_at:.1f} s")
    time.sleep(RUN_AFTER_RESTART)
    beats[1].kill()
    wait_finished(stack, regular)
    wait_finished(stack, late)

    done = runs(stack, regular)
    slots = [r["scheduled_for"] for r in done]
    assert isinstance(slots[0], dt.datetime)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]  # type: ignore[operator]
    # Every slot, each once: nothing lost across the kill, nothing dispatched twice.
    assert gaps == [EVERY] * len(gaps), slots
    expected = (RUN_BEFORE_KILL + RUN_AFTER_RESTART) / EVERY
    assert expected - 2 <= len(done) <= expected + 2, len(done)
    for run in done:
        assert run["status"] == "completed", run["error"]
        lag = (run["dispatched_at"] - run["scheduled_for"]).total_seconds()  # type: ignore[operator]
        assert 0 <= lag <= 2 * TICK + 5, run  # the tick, plus beat's restart once
        assert run["backup_at"] is not None
    backups_at = [r["backup_at"] for r in done]
    spacing = [(b - a).total_seconds() for a, b in itertools.pairwise(backups_at)]  # type: ignore[operator]
    assert all(0 < s < 2 * EVERY + TICK for s in spacing), spacing
    assert abs(sum(spacing) / len(spacing) - EVERY) < 2, spacing

    # Three periods behind: one catch-up backup for the oldest missed slot, not four.
    caught_up = runs(stack, late)
    assert caught_up[0]["scheduled_for"] == missed_slot
    assert all(r["scheduled_for"] > start for r in caught_up[1:])  # type: ignore[operator]
    assert all(r["status"] == "completed" for r in caught_up)

    with stack.database.engine.connect() as conn:
        jobs = conn.execute(
            # Backup jobs: beat's drills.run may have started a restore drill of one.
            text(
                "SELECT count(*) FROM control_plane.jobs"
                " WHERE project_id = 'proj-beat' AND type = 'backup'"
            )
        ).scalar_one()
        backups = conn.execute(
            text("SELECT count(*) FROM control_plane.backups WHERE project_id = 'proj-beat'")
        ).scalar_one()
    assert jobs == backups == len(done)
