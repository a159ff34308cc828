"""Per-process resources: settings, the control-plane database, the Telegram clients, the
source servers' registry and their dump slots in Redis.

Built lazily on first use in each process, and built again after a fork (the pid changes):
connection pools and HTTP sessions must never be shared between a Celery parent and its children.
The worker runs its tasks in threads (celeryconfig.worker_pool), so one runtime serves several
steps at once: it is built under a lock, and each thread gets a Bot API client of its own.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from db import session as db_session
from worker import errors, redisconn, settings
from worker.metrics import counters as metrics_counters
from worker.metrics import queues
from worker.postgres import servers, slots, source
from worker.telegram import arrival
from worker.telegram import counters as telegram_counters
from worker.telegram import pacer as fleetpacer
from worker.telegram import repositories as telegram_repositories

if TYPE_CHECKING:
    # Imported where a client is built: requests and tenacity cost ~50 ms, which a process
    # that only enqueues (the CLI) never needs.
    from worker.telegram import client as telegram
    from worker.telegram import sender as fleetsender


@dataclass
class Runtime:
    """What a task needs to do its work, passed to the domain functions."""

    settings: settings.Settings
    database: db_session.Database
    # Keyed by thread id: requests.Session is not documented as thread-safe (its cookie jar and
    # adapters are shared mutable state), so two steps uploading at once never share one. The
    # pool's threads live as long as the process; a later thread given an ended one's id takes
    # over its client, so the clients never outnumber the threads alive at once.
    # One client per bot in each thread; the pacer (one Redis pool) is shared by the threads.
    _telegram: dict[tuple[int, str], telegram.TelegramClient] = field(
        default_factory=dict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _registry: servers.Registry | None = field(default=None, repr=False)
    _repositories: telegram_repositories.Repositories | None = field(default=None, repr=False)
    _slots: slots.Slots | None = field(default=None, repr=False)
    _counters: telegram_counters.Counters | None = field(default=None, repr=False)

    def counters(self) -> telegram_counters.Counters:
        """The fleet's Telegram counters in the broker's Redis (none when it is not Redis)."""
        with self._lock:
            if self._counters is None:
                url = self.settings.celery_broker_url
                self._counters = (
                    metrics_counters.RedisCounters(
                        metrics_counters.client_for(url, self.settings.redis_sentinel_master)
                    )
                    if queues.is_redis(url)
                    else telegram_counters.NONE
                )
            return self._counters

    _pacer: list[fleetpacer.Pacer | None] = field(default_factory=list, repr=False)
    # The process's upload rate, which foresees when an upload will reach Telegram.
    _rate: arrival.Throughput = field(default_factory=arrival.Throughput, repr=False)

    def bots(self) -> tuple[str, ...]:
        """The configured bots' ids (token prefixes, never the secret), the first one first."""
        return tuple(
            fleetpacer.bot_id(t.get_secret_value()) for t in self.settings.telegram_bot_tokens
        )

    def telegram(self, bot: str | None = None) -> telegram.TelegramClient:
        """This thread's client for `bot` (None: the first configured bot, which also stands for
        parts recorded before bot ids were, docs/fleet.md); ConfigError for an unknown bot."""
        tokens = {
            fleetpacer.bot_id(t.get_secret_value()): t for t in self.settings.telegram_bot_tokens
        }
        if tokens and self.settings.telegram_repositories_file is not None:
            # The other repositories' bots: each reads back the copies it sent.
            for repo in self.repositories():
                tokens.update((fleetpacer.bot_id(t.get_secret_value()), t) for t in repo.bot_tokens)
        if not tokens:
            raise errors.ConfigError("TELEGRAM_BOT_TOKEN is not set: no chat to send backups to")
        bot = next(iter(tokens)) if bot is None else bot
        if bot not in tokens:
            raise errors.ConfigError(
                f"bot {bot} is not configured: add its token to TELEGRAM_BOT_TOKEN to reach "
                "the messages it sent (a file id works only for the bot that uploaded it)"
            )
        key = (threading.get_ident(), bot)
        client = self._telegram.get(key)
        if client is None:
            from worker.telegram import client as telegram
            from worker.telegram import downloads

            client = telegram.TelegramClient(
                tokens[bot].get_secret_value(),
                self.settings.telegram_api_url,
                timeout=self.settings.telegram_upload_timeout,
                max_attempts=self.settings.telegram_max_attempts,
                counters=self.counters(),
                download_policy=downloads.Policy(
                    self.settings.telegram_download_timeout,
                    self.settings.telegram_download_min_rate,
                    local_files_dir=self.settings.telegram_local_files_dir,
                ),
            )
            with self._lock:
                self._telegram[key] = client
        return client

    def pacer(self) -> fleetpacer.Pacer | None:
        """The fleet-wide pacer (None when no Redis is configured for it)."""
        counted = self.counters()  # before the lock: counters() takes it too
        with self._lock:
            if not self._pacer:
                self._pacer.append(fleetpacer.from_settings(self.settings, counted))
            return self._pacer[0]

    def repositories(self) -> telegram_repositories.Repositories:
        """The Telegram repositories, loaded and checked once per process; ConfigError."""
        if self._repositories is None:
            loaded = telegram_repositories.Repositories.load(self.settings)
            with self._lock:
                self._repositories = self._repositories or loaded
        return self._repositories

    def sender(self, repo: telegram_repositories.Repository | None = None) -> fleetsender.Sender:
        """This thread's paced sender over every bot of `repo` (None: TELEGRAM_BOT_TOKEN's)."""
        from worker.telegram import sender as fleetsender

        return fleetsender.Sender(
            self.telegram,
            bots=self.bots() if repo is None else repo.bot_ids,
            pacer=self.pacer(),
            max_attempts=self.settings.telegram_max_attempts,
            rate=self._rate,
            # Lateness a third of the margin covers; the rest is for the bytes still on the way.
            late_tolerance=self.settings.telegram_pacer_margin / 3,
        )

    def chat_ids(self) -> tuple[str, ...]:
        """The chats new parts go to (configured, not retired); ConfigError when none."""
        if not self.settings.active_chat_ids:
            raise errors.ConfigError("TELEGRAM_CHAT_ID is not set: no chat to send backups to")
        return self.settings.active_chat_ids

    def chat_id(self) -> str:
        """The first chat new parts may go to; ConfigError when missing."""
        return self.chat_ids()[0]

    def source(self) -> source.SourceParams:
        """libpq parameters of the server `default` (SOURCE_DATABASE_URL)."""
        return self.registry().default.params()

    def registry(self) -> servers.Registry:
        """The source servers, loaded and checked once per process; ConfigError naming the
        server and the key when SOURCE_SERVERS_FILE is wrong."""
        if self._registry is None:
            loaded = servers.Registry.load(self.settings)
            with self._lock:
                self._registry = self._registry or loaded
        return self._registry

    def slots(self) -> slots.Slots:
        """The fleet-wide dump slots per server, kept in the broker's Redis."""
        if self._slots is None:
            board = slots.Slots(
                redisconn.client(_redis_url(self.settings), self.settings.redis_sentinel_master),
                lease_seconds=self.settings.source_slot_lease,
            )
            with self._lock:
                self._slots = self._slots or board
        return self._slots

    def close_telegram(self) -> None:
        """Close every thread's HTTP session; the next telegram() call opens a new one."""
        with self._lock:
            clients = list(self._telegram.values())
            self._telegram.clear()
        for client in clients:
            client.close()

    def close(self) -> None:
        """Release the pool and the HTTP sessions."""
        self.close_telegram()
        self.database.dispose()


def _redis_url(config: settings.Settings) -> str:
    # The broker's Redis; with RabbitMQ as the broker, the result backend's.
    for url in (config.celery_broker_url, config.celery_result_backend):
        if redisconn.is_redis(url):
            return url
    raise errors.ConfigError(
        "the per-server dump slots live in Redis: CELERY_BROKER_URL or CELERY_RESULT_BACKEND "
        "must be a redis:// URL"
    )


# glibc's mallopt parameter M_MMAP_THRESHOLD (malloc.h), and the value it is fixed at: glibc's
# default, 128 KiB, which glibc otherwise raises to the size of every mmapped block freed.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024  # bytes


def keep_big_buffers_mapped() -> bool:
    """Fix glibc's mmap threshold, so that freed big buffers go back to the system at once.

    Once glibc has raised the threshold, the 1 MiB chunks that a dump streams through (pipe
    reads, zstd output, part writes) are carved from the threads' heaps and stay resident.
    Measured on the threads pool, six rounds of two concurrent ~400 MB backups: by default the
    idle worker grew from 112 to 181 MB and its peak from 175 to 204 MB RSS; with the threshold
    fixed, 112 MB idle after every round and a 165-169 MB peak, at the same speed.
    MALLOC_ARENA_MAX=2 only slowed the growth (peak 180 MB) and adds nothing on top of this.
    False where the C library has no mallopt (not glibc): nothing to tune there.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


# (pid, runtime), swapped as one reference so that a reader never sees half of an update.
_current: tuple[int, Runtime] | None = None
# Two pool threads may ask for the runtime at once; without the lock each would build its own
# engine, and one of the two pools would leak.
_lock = threading.Lock()


def build(config: settings.Settings) -> Runtime:
    """A runtime for the given settings (used by tests and the CLI)."""
    # Every running step holds one connection (its advisory lock) and, at moments, one or two
    # more (progress, heartbeat, the part sender): the pool grows with the worker's slots.
    pool = db_session.POOL_SIZE + 2 * config.worker_concurrency
    return Runtime(
        settings=config, database=db_session.Database(config.database_url, pool_size=pool)
    )


def current() -> Runtime:
    """This process's runtime, built on first use after start or fork (which also sets the
    process's malloc policy, keep_big_buffers_mapped)."""
    global _current  # noqa: PLW0603 - one runtime per process, by design
    built = _current
    if built is not None and built[0] == os.getpid():
        return built[1]
    with _lock:
        if _current is None or _current[0] != os.getpid():
            keep_big_buffers_mapped()
            _current = (os.getpid(), build(settings.current()))
        return _current[1]
