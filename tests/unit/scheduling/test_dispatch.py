"""worker.scheduling.dispatch's pure parts: job ids per slot, the spread, one run per schedule."""

from __future__ import annotations

import datetime as dt
import statistics
import uuid

import pytest

from db import schedule_models
from worker import errors
from worker.contract import publish
from worker.scheduling import dispatch
from worker.scheduling import spec as schedule_spec

NOW = dt.datetime(2025, 6, 1, 3, 0, 20, tzinfo=dt.UTC)


def row(**overrides: object) -> schedule_models.BackupSchedule:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "project_id": "proj-1",
        "database": "app",
        "cron": None,
        "interval_seconds": 3600,
        "timezone": "UTC",
        "period_seconds": 3600,
        "retention_days": None,
        "keep_last": None,
        "keep_daily": None,
        "keep_weekly": None,
        "keep_monthly": None,
        "enabled": True,
        "next_run_at": dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.UTC),
    }
    values.update(overrides)
    return schedule_models.BackupSchedule(**values)


def test_job_id_is_the_same_for_the_same_slot_whatever_the_zone() -> None:
    schedule_id = uuid.uuid4()
    slot = dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.UTC)
    same_slot = slot.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert dispatch.run_job_id(schedule_id, slot) == dispatch.run_job_id(schedule_id, same_slot)
    assert dispatch.run_job_id(schedule_id, slot) != dispatch.run_job_id(
        schedule_id, slot + dt.timedelta(hours=1)
    )
    assert dispatch.run_job_id(schedule_id, slot) != dispatch.run_job_id(uuid.uuid4(), slot)


def test_spread_is_stable_per_schedule_and_covers_the_window() -> None:
    ids = [uuid.uuid4() for _ in range(2000)]
    offsets = [dispatch.spread_offset(i, 60.0) for i in ids]
    assert all(0 <= o < 60 for o in offsets)
    assert offsets == [dispatch.spread_offset(i, 60.0) for i in ids]
    # Roughly uniform: no more than ~1/60 of them in any one second.
    per_second = [sum(1 for o in offsets if int(o) == s) for s in range(60)]
    assert max(per_second) < 2000 / 60 * 2
    assert 25 < statistics.mean(offsets) < 35
    assert dispatch.spread_offset(ids[0], 0) == 0.0


def test_plan_runs_the_due_slot_and_jumps_past_now() -> None:
    late = row(next_run_at=NOW - dt.timedelta(hours=3, seconds=20))  # three periods behind
    run = dispatch.plan(late, NOW, "-100123", 7)
    assert run.scheduled_for == late.next_run_at
    assert run.next_run_at == dt.datetime(2025, 6, 1, 4, 0, tzinfo=dt.UTC)
    assert run.job_id == dispatch.run_job_id(late.id, late.next_run_at)
    assert run.payload["chat_id"] == "-100123"
    assert run.payload["thread_id"] == 7


def test_the_message_is_the_gateway_contract() -> None:
    run = dispatch.plan(row(retention_days=14), NOW, "-100123", None)
    item = dispatch.message(run, 60.0)
    assert publish.kwargs_of(item.message) == {
        "project_id": "proj-1",
        "database": "app",
        "job_id": str(run.job_id),
        "expires_in_days": 14,
    }
    assert 0 <= item.countdown < 60


def test_gfs_without_retention_days_keeps_backups_long_enough() -> None:
    assert schedule_spec.expires_in_days(row(keep_monthly=12)) == 403
    assert schedule_spec.expires_in_days(row(keep_last=5)) is None
    assert schedule_spec.expires_in_days(row(keep_monthly=12, retention_days=30)) == 30


def test_cron_rows_advance_in_their_time_zone() -> None:
    tokyo = row(
        cron="0 3 * * *",
        interval_seconds=None,
        timezone="Asia/Tokyo",
        next_run_at=dt.datetime(2025, 5, 31, 18, 0, tzinfo=dt.UTC),
    )
    run = dispatch.plan(tokyo, NOW, "-1", None)
    assert run.next_run_at == dt.datetime(2025, 6, 1, 18, 0, tzinfo=dt.UTC)


def test_spec_validation_names_the_bad_field() -> None:
    with pytest.raises(errors.InputError, match="project id"):
        schedule_spec.ScheduleSpec.build(project_id="bad id", database="app", every="1h")
    with pytest.raises(errors.InputError, match="retention_days"):
        schedule_spec.ScheduleSpec.build(
            project_id="p", database="app", every="1h", retention_days=0
        )
    with pytest.raises(errors.InputError, match="keep_weekly"):
        schedule_spec.ScheduleSpec.build(project_id="p", database="app", every="1h", keep_weekly=-1)
    spec = schedule_spec.ScheduleSpec.build(project_id="p", database="app", cron="@daily")
    assert spec.values(NOW).period_seconds == 86400
