"""Every setting's default and the fixed limits they are checked against, as named constants
with their units (worker.settings reads the environment; this module reads nothing)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, Literal

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_SOURCE_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_RESULT_BACKEND = "redis://127.0.0.1:6379/1"
# RabbitMQ's queue type for the worker's queues; "quorum" replicates them (docs/reliability.md).
DEFAULT_BROKER_QUEUE_TYPE: Final = "classic"
TELEGRAM_CLOUD_API = "https://api.telegram.org"
# The cloud Bot API lets bots download files "of up to 20 MB"; reading MB as 10**6 is the safe side.
CLOUD_DOWNLOAD_LIMIT = 20_000_000  # bytes
LOCAL_SERVER_UPLOAD_LIMIT = 2_000_000_000  # bytes, telegram-bot-api --local
MIN_PART_SIZE = 64 * 1024  # bytes
DEFAULT_RETENTION_DAYS = 30
# "age": every backup is encrypted to BACKUP_AGE_RECIPIENTS, which the worker then requires at
# start; "off": backups go to Telegram in clear, said at start (docs/security.md).
DEFAULT_BACKUP_ENCRYPTION: Literal["age", "off"] = "age"
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_VISIBILITY_TIMEOUT = 12 * 3600  # seconds: longer than the longest backup
DEFAULT_ZSTD_LEVEL = 2  # with level 3's hash table and window (worker.artifact.stream)
DEFAULT_UPLOAD_TIMEOUT = 300  # seconds per sendDocument
DEFAULT_BACKUP_COPIES = 1  # repositories each backup is stored in (docs/fleet.md)
# copies.repair (docs/fleet.md, "Repair by beat"): every 15 minutes, at most 20 parts a run.
DEFAULT_COPIES_REPAIR_INTERVAL = 900
DEFAULT_COPIES_REPAIR_PARTS = 20
DEFAULT_TELEGRAM_MAX_ATTEMPTS = 8  # tries of one Bot API call (tenacity)
DEFAULT_SPOOL_RETRY_DELAY = 60  # seconds before a dump that found the spool full runs again
MAX_SPOOL_RETRY_DELAY = 3600  # seconds; the waiting message is held by a worker meanwhile
DEFAULT_RETRY_DELAY = 60  # seconds before a dump cut short (killed, server gone) runs again
DEFAULT_TELEGRAM_RETRY_DELAY = 300  # seconds before a backup Telegram refused to take runs again
DEFAULT_HEARTBEAT_STALE = 600  # seconds without heartbeat before a running job counts as dead
DEFAULT_PROGRESS_INTERVAL = 1.0  # seconds between two progress writes of one job's row
DEFAULT_PENDING_TIMEOUT = 86400  # seconds a pending row may wait for its message (the reaper)
DEFAULT_RESTORE_TARGET_NAMES = "{database}_*"  # new databases a restore may create (restore.md)
DEFAULT_WORKER_CONCURRENCY = 2  # steps one worker runs at once (threads, celeryconfig.py)
# Periodic work (tasks/maintenance.py; beat entries in celeryconfig.py).
DEFAULT_DISPATCH_INTERVAL = 60  # seconds between two schedules.dispatch runs
DEFAULT_MAINTENANCE_INTERVAL = 60  # seconds between two reaper / alert checks
DEFAULT_SWEEP_INTERVAL = 3600  # seconds between two expiry sweeps
# Source servers (worker/postgres/servers.py, slots.py, dump.py; docs/servers.md).
DEFAULT_SOURCE_MAX_DUMPS = 2  # dumps/restores at once on one server, fleet-wide
DEFAULT_LOCK_WAIT_TIMEOUT = 60  # seconds pg_dump waits for a table's ACCESS SHARE lock
DEFAULT_SLOT_LEASE = 60  # seconds a dump slot outlives its silent holder (a killed worker)
# Restores (worker/restore/load.py, worker/postgres/switch.py; docs/restore.md).
DEFAULT_RESTORE_UNDO_HOURS = 24  # hours a replaced database is kept as an undo point
DEFAULT_RESTORE_DOWNLOAD_THREADS = 4  # parts a restore or verify downloads at once
# The Prometheus exporter (worker/metrics/; docs/observability.md): this host only by default.
DEFAULT_EXPORTER_ADDRESS = "127.0.0.1"
DEFAULT_EXPORTER_PORT = 9808
DEFAULT_CATALOG_INTERVAL = 900  # seconds between two catalog.publish runs (worker/catalog/)
# The fleet pacer (worker/telegram/pacer.py, sender.py; docs/fleet.md): the Bots FAQ's limits.
DEFAULT_CHAT_PER_SECOND = 1  # messages per second into one chat
DEFAULT_GROUP_PER_MINUTE = 20  # messages per minute into one group, supergroup or channel
DEFAULT_BOT_PER_SECOND = 30  # messages per second from one bot, all chats together
# Seconds added to every budget's window. Slots are reserved for an upload's end and its last
# block is held until then (worker/telegram/arrival.py): the margin covers only what the worker
# cannot see, the bytes still queued on the way when the last block leaves, which differ between
# a full part and a short last one, and only until Telegram answers (Pacer.landed; docs/fleet.md).
DEFAULT_PACER_MARGIN = 0.3
# Seconds an upload step may sleep for its slot in its pool thread; longer, the step runs again
# by the slot (Celery retry with a countdown) and the thread serves other jobs meanwhile.
DEFAULT_PACER_MAX_SLEEP = 0.5
# Row counts in the dump's snapshot (worker/postgres/snapshot.py; docs/drills.md): databases up
# to this size are counted; "on" counts every one, "off" none.
DEFAULT_BACKUP_ROW_COUNTS = "100GB"
DEFAULT_DRILL_PERIOD_DAYS = 7  # each project's databases are drilled at least this often
DEFAULT_DRILL_CONCURRENCY = 1  # drills running at once, fleet-wide
DEFAULT_DOWNLOAD_TIMEOUT = 1800  # seconds per file, all attempts (20 MB at 20 KB/s: 1,000 s)
DEFAULT_DOWNLOAD_MIN_RATE = 16 * 1024  # bytes/s over each 30 s of a download (downloads.py)
SYSTEM_STATE_DIR = Path("/var/lib/backup-worker")


def default_spool_dir(system: Path = SYSTEM_STATE_DIR) -> Path:
    """The spool's default, never in a shared /tmp: `<system>/spool` when the worker may write
    there, else $XDG_STATE_HOME (or ~/.local/state)/backup-worker/spool."""
    if system.is_dir() and os.access(system, os.W_OK | os.X_OK):
        return system / "spool"
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "backup-worker" / "spool"


# Point-in-time recovery (docs/pitr.md).
DEFAULT_WAL_FLUSH_SECONDS = (
    60.0  # the RPO: a partial segment's new bytes go out at least this often
)
DEFAULT_WAL_BUNDLE_BYTES = 64 << 20  # WAL bytes per bundle (one artifact) on a busy server
DEFAULT_WAL_LEASE_SECONDS = 30.0  # a dead streamer's server is taken over within this
DEFAULT_WAL_BASEBACKUP_KEEP = 2  # base backups kept per server; older WAL expires with them
# Hours between two base backups the streamer takes of its server (0: by hand or cron only).
DEFAULT_WAL_BASEBACKUP_HOURS = 24.0
