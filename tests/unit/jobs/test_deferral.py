"""A deferred step as its jobs row keeps it (worker.jobs.deferral): read back whole or not at
all, pending until its start, dropped by a reconnection after it deferred, woken early."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from db import models
from worker.jobs import deferral

NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
SLOT = {"bot_id": "123456", "chat_id": "-1001", "id": "kept", "at_us": "1"}


def job_with(result: object) -> models.Job:
    return models.Job(id=uuid.uuid4(), type="backup", status="running", result=result)


def test_a_deferral_reads_back_as_written() -> None:
    kept = deferral.Deferral("upload", NOW + dt.timedelta(seconds=30), SLOT, NOW)
    assert deferral.Deferral.of(job_with({"deferred": kept.to_json()})) == kept


@pytest.mark.parametrize(
    "found",
    [
        None,
        "soon",
        {"step": "upload", "until": "not a time", "slot": SLOT, "noted": NOW.isoformat()},
        {"step": "upload", "until": NOW.isoformat(), "slot": "kept", "noted": NOW.isoformat()},
        {"step": "upload", "until": NOW.isoformat(), "slot": SLOT},
        {"step": 3, "until": NOW.isoformat(), "slot": SLOT, "noted": NOW.isoformat()},
    ],
)
def test_an_unreadable_deferral_is_none(found: object) -> None:
    assert deferral.Deferral.of(job_with({"deferred": found})) is None
    assert deferral.Deferral.of(job_with(None)) is None


def test_pending_until_its_start_plus_grace() -> None:
    kept = deferral.Deferral("upload", NOW, SLOT, NOW - dt.timedelta(seconds=40))
    assert kept.pending(NOW - dt.timedelta(seconds=1))
    assert not kept.pending(NOW)
    assert kept.pending(NOW + dt.timedelta(seconds=59), dt.timedelta(seconds=60))


def test_dropped_only_by_a_reconnection_after_it_deferred() -> None:
    kept = deferral.Deferral("upload", NOW + dt.timedelta(seconds=30), SLOT, NOW)
    assert kept.dropped_at(NOW + dt.timedelta(seconds=1))
    assert not kept.dropped_at(NOW - dt.timedelta(seconds=1))
    assert not kept.dropped_at(None)


def test_a_deferred_step_wakes_early_by_a_share_of_the_longest_sleep() -> None:
    assert deferral.wake(10.0, 0.5) == pytest.approx(10.0 - deferral.EARLY * 0.5)
    assert deferral.wake(0.2, 0.5) == 0.0
    kept = deferral.Deferral("upload", NOW + dt.timedelta(seconds=30), SLOT, NOW)
    assert kept.countdown(NOW + dt.timedelta(seconds=40), 0.5) == 0.0
