"""The one exception tree of backup-worker.

* BackupWorkerError
  + ConfigError                 a setting is missing or malformed
  + InputError                  a task or CLI argument is invalid
  + NotFoundError               a job or backup id that does not exist
  + JobStateError               a job is not in a state that allows the step
    - AttemptSuperseded         the reaper gave the job to a newer attempt: stop quietly
  + DumpError                   pg_dump failed or its output was unusable
    - DumpInterrupted           killed by a signal, or its source server went away: try again
  + SlotTimeout                 no dump slot on the source server within the wait limit
  + SpoolError                  the spool directory cannot hold the parts
    - SpoolFull                 its filesystem filled up mid-dump: the job is tried again later
  + IntegrityError              a checksum or size does not match the record
  + PartCut                     a part sent while written ended short or stalled: not sent
  + JobFailed                   raised by a task after it wrote the reason into the jobs row
  + ControlPlaneUnavailable     the control-plane database went away mid-step: run it again here
  + PacerDeferred               a part's Telegram slot is far off: the step runs again then
  + RestoreError                pg_restore failed, or the target database cannot be used
    - DrillFailed               a drill's restore differs from what its backup recorded
  + WalError                    WAL streaming, a base backup or a recovery to a time failed
    - OutsideWindow             a recovery target no retained WAL covers (the window named)
  + TelegramError               anything the Bot API client raises
    x TelegramRetryable         worth another try: tenacity, or the paced sender, retries these
      - TelegramRetryAfter      429 flood control, carries retry_after
      - TelegramSlotMoved       an upload ended late, its next slot far: sent again, not counted
      - TelegramServerError     5xx, or an answer that is not the Bot API's JSON
      - TelegramNetworkError    timeout, refused or dropped connection
    x TelegramRejected          retrying cannot help: the job fails at once
      - TelegramBadRequest      400
        . TelegramMigrateToChat 400 with migrate_to_chat_id: the chat has a new id
      - TelegramUnauthorized    401: wrong or revoked bot token
      - TelegramForbidden       403: bot kicked or not allowed to post
      - TelegramNotFound        404: wrong API URL or method
      - TelegramEntityTooLarge  413: part above the upload limit
      - TelegramDownloadRefused a download broke its bounds: more bytes than recorded or
                                announced, a file_path outside the Bot API's files
      - TelegramDownloadTimeout a download not done within TELEGRAM_DOWNLOAD_TIMEOUT

Messages are written for the operator who reads the jobs row: what went wrong and what to do.
They never carry a secret; the Telegram client redacts the bot token before raising.
"""

from __future__ import annotations

import errno


class BackupWorkerError(Exception):
    """backup-worker failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or type(self).__name__).strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(BackupWorkerError):
    """A setting is missing or malformed."""


class InputError(BackupWorkerError):
    """An argument is invalid."""


class NotFoundError(BackupWorkerError):
    """The requested object does not exist."""


class JobStateError(BackupWorkerError):
    """The job is not in a state that allows this step."""


class DumpError(BackupWorkerError):
    """pg_dump failed."""


class DumpInterrupted(DumpError):
    """pg_dump was killed or lost its server mid-dump; another attempt can succeed."""


class SlotTimeout(BackupWorkerError):
    """No dump slot on the source server came free in time; the server is busy, retry later."""


class SpoolError(BackupWorkerError):
    """The spool directory cannot hold the backup parts."""


# The errno of a write that found the spool's filesystem full: out of space, or over quota.
SPOOL_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class SpoolFull(SpoolError):
    """The spool's filesystem is full; other jobs free space as they upload, so retry later."""

    def __init__(self, message: str | None = None, *, attempt: int) -> None:
        super().__init__(message)
        self.attempt = attempt  # the job's attempt that hit it: a stale one must not retry


class IntegrityError(BackupWorkerError):
    """A checksum or size does not match the record."""


class PartCut(BackupWorkerError):
    """A part sent while it was being written ended short (it is the last) or stopped growing:
    its request was dropped before its end, so Telegram has nothing, and it goes whole later."""


class TelegramError(BackupWorkerError):
    """The Telegram Bot API call failed."""

    def __init__(
        self, message: str | None = None, *, status: int | None = None, method: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method


class TelegramRetryable(TelegramError):
    """The Bot API call failed in a way another try may fix."""


class TelegramRetryAfter(TelegramRetryable):
    """Telegram flood control: too many requests."""

    def __init__(self, message: str | None = None, *, retry_after: float, method: str = "") -> None:
        super().__init__(message, status=429, method=method)
        self.retry_after = retry_after


class TelegramSlotMoved(TelegramRetryable):
    """An upload ended late and its chat's next free slot is far: dropped before its end."""


class TelegramServerError(TelegramRetryable):
    """The Bot API (or a proxy in front of it) answered with a server error."""


class TelegramNetworkError(TelegramRetryable):
    """The Bot API could not be reached, or the connection dropped."""


class TelegramRejected(TelegramError):
    """The Bot API refused the request; retrying cannot help."""


class TelegramBadRequest(TelegramRejected):
    """The Bot API refused the request as malformed."""


class TelegramMigrateToChat(TelegramBadRequest):
    """The group was upgraded to a supergroup and has a new chat id."""

    def __init__(self, message: str | None = None, *, new_chat_id: int, method: str = "") -> None:
        super().__init__(message, status=400, method=method)
        self.new_chat_id = new_chat_id


class TelegramUnauthorized(TelegramRejected):
    """The bot token is wrong or was revoked."""


class TelegramForbidden(TelegramRejected):
    """The bot may not act in this chat."""


class TelegramNotFound(TelegramRejected):
    """The Bot API URL or method does not exist."""


class TelegramEntityTooLarge(TelegramRejected):
    """The file is larger than the Bot API accepts."""


class TelegramDownloadRefused(TelegramRejected):
    """The Bot API's answer to a download broke the bounds the record and getFile set."""


class TelegramDownloadTimeout(TelegramRejected):
    """A download did not finish within its overall deadline, retries included."""


class JobFailed(BackupWorkerError):
    """The job failed; the jobs row holds the reason."""


class ControlPlaneUnavailable(BackupWorkerError):
    """The control-plane database could not be reached; the step runs again on this host."""


class RestoreError(BackupWorkerError):
    """pg_restore failed, or the target database cannot be restored into."""


class DrillFailed(RestoreError):
    """A restore drill's database differs from the backup's record (rows, extensions)."""


class WalError(BackupWorkerError):
    """WAL streaming, a base backup or a recovery to a point in time failed."""


class OutsideWindow(WalError):
    """A recovery target that no retained base backup and WAL cover."""


class AttemptSuperseded(JobStateError):
    """A newer attempt of this job runs elsewhere; this step stops without touching it."""


class PacerDeferred(BackupWorkerError):
    """A part's slot is far off: the step gives its pool slot back and runs again near the slot."""

    def __init__(self, message: str, *, seconds: float, slot: dict[str, str]) -> None:
        super().__init__(message)
        self.seconds = seconds  # until the upload should start
        self.slot = slot  # the reservation kept for the step's next run (Reservation.to_json)
