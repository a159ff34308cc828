"""Which failures of a backup step are worth another run, and after how long: decided here once.

Three kinds, by exception type only:
- the control-plane database went away (SQLAlchemy's OperationalError, InterfaceError): nothing
  is wrong with the job, and nothing can be written about it either, so the same step runs
  again on the same host a little later (the task layer re-sends its message); its parts stay
  in the spool and in Telegram, and no attempt is spent;
- the work was cut short by something outside it: pg_dump killed by a signal (the OOM killer)
  or its source server restarting or failing over (DumpInterrupted), Telegram unreachable past
  the client's own retries (TelegramRetryable), the spool full (SpoolFull): the job goes back to
  pending and starts over from the dump on any worker, after a delay that doubles with each
  attempt, counted in BACKUP_MAX_ATTEMPTS;
- anything else (an unknown database, a refused login, a 4xx from Telegram, a bug) fails the
  job at once: another run would fail the same way.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from worker import errors, settings

# The control plane's driver errors that mean "not reachable now", not "the statement is wrong".
CONTROL_PLANE_LOST = (sa_exc.OperationalError, sa_exc.InterfaceError)
IN_PLACE_DELAYS = (2, 5, 10, 20, 30, 60)  # seconds between runs of a step the database cut off

TRANSIENT = (errors.SpoolFull, errors.DumpInterrupted, errors.TelegramRetryable)


def control_plane_lost(exc: BaseException) -> bool:
    """Whether `exc` says the control-plane database could not be reached."""
    return isinstance(exc, CONTROL_PLANE_LOST)


def in_place_delay(retries: int) -> float | None:
    """Seconds before the `retries`+1-th run of a step on this host; None: stop trying."""
    return float(IN_PLACE_DELAYS[retries]) if retries < len(IN_PLACE_DELAYS) else None


def transient(exc: BaseException) -> bool:
    """Whether the job is worth starting over after `exc`."""
    return isinstance(exc, TRANSIENT)


def delay(exc: BaseException, attempt: int, config: settings.Settings) -> int:
    """Seconds before the job runs again after its `attempt`-th run ended with `exc`.

    The spool-full delay is flat (other jobs free space as they upload); the others double
    with each attempt. Every delay stays within the visibility timeout, or Redis would hand the
    waiting message to a second worker before it is due.
    """
    if isinstance(exc, errors.SpoolFull):
        return config.backup_spool_retry_delay
    base = (
        config.backup_telegram_retry_delay
        if isinstance(exc, errors.TelegramRetryable)
        else config.backup_retry_delay
    )
    grown: int = base * 2 ** max(attempt - 1, 0)
    return min(grown, config.backup_visibility_timeout)
