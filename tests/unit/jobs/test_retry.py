"""Which failures are tried again, and when (worker.jobs.retry)."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from worker import errors, settings
from worker.jobs import retry


def config(**values: object) -> settings.Settings:
    return settings.Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "exc",
    [
        errors.DumpInterrupted("pg_dump was killed by SIGKILL"),
        errors.TelegramServerError("502"),
        errors.TelegramNetworkError("refused"),
        errors.TelegramRetryAfter("429", retry_after=3),
        errors.SpoolFull("full", attempt=1),
    ],
)
def test_cut_short_work_is_transient(exc: errors.BackupWorkerError) -> None:
    assert retry.transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        errors.DumpError('pg_dump failed: database "nope" does not exist'),
        errors.TelegramUnauthorized("401"),
        errors.TelegramBadRequest("400"),
        errors.InputError("bad"),
        errors.IntegrityError("sha"),
        ValueError("a bug"),
    ],
)
def test_deterministic_failures_are_not(exc: Exception) -> None:
    assert not retry.transient(exc)


def test_delays_double_with_each_attempt_and_stay_within_the_visibility_timeout() -> None:
    conf = config(
        backup_retry_delay=60, backup_telegram_retry_delay=100, backup_visibility_timeout=200
    )
    interrupted = errors.DumpInterrupted("cut")
    assert [retry.delay(interrupted, attempt, conf) for attempt in (1, 2, 3, 4)] == [
        60,
        120,
        200,
        200,
    ]


def test_telegram_outages_wait_longer_and_a_full_spool_waits_flat() -> None:
    conf = config(backup_telegram_retry_delay=300, backup_spool_retry_delay=45)
    assert retry.delay(errors.TelegramServerError("502"), 2, conf) == 600
    assert retry.delay(errors.SpoolFull("full", attempt=2), 2, conf) == 45


def test_a_lost_control_plane_is_retried_in_place_a_bounded_number_of_times() -> None:
    lost = sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    assert retry.control_plane_lost(lost)
    assert not retry.control_plane_lost(errors.DumpInterrupted("cut"))
    delays = [retry.in_place_delay(n) for n in range(len(retry.IN_PLACE_DELAYS) + 1)]
    assert delays[-1] is None
    assert all(d is not None and d > 0 for d in delays[:-1])


def test_a_first_delay_above_the_visibility_timeout_is_cut_to_it() -> None:
    conf = config(backup_visibility_timeout=120)  # below the 300 s Telegram default
    assert retry.delay(errors.TelegramServerError("502"), 1, conf) == 120
