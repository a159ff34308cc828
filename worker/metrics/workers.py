"""Worker heartbeats: which workers are alive, which queues they consume, how full their spools are.

Celery's own heartbeats travel as events that nothing stores, and kombu's Redis transport keeps
no list of a queue's consumers, so the exporter could not tell a dead worker from an idle one.
Each worker process therefore writes one field of a Redis hash every INTERVAL seconds, named
after its Celery node name:

    backup-worker:metrics:workers   <nodename> -> {"at", "queues", "spool_free", "spool_size"}

The exporter counts the fresh ones per queue (`backup_worker_workers`) and exposes each one's
spool space. A worker that stops cleanly removes its field; a field older than FORGET (a worker
that died and whose host is gone) is dropped by the next read. Writes never raise: a Redis
error loses one beat and logs at debug level.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import redis

KEY = "backup-worker:metrics:workers"
INTERVAL = 30.0  # seconds between two beats of a worker
STALE = 120.0  # seconds: a worker not heard of for this long does not count as consuming
FORGET = 86400.0  # seconds: a field this old is removed (its worker is gone for good)
# The queues the Procfile's workers consume (worker.contract.tasks' default and scheduled queues,
# which this layer cannot import; a test holds them equal): each is exported even at 0 workers.
CONSUMED_QUEUES = ("celery", "scheduled")
_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Beat:
    """One worker as last heard of."""

    name: str
    at: float  # Unix time of the beat
    queues: tuple[str, ...]
    spool_free: int | None  # bytes free on the spool's file system; None when unreadable
    spool_size: int | None

    def fresh(self, now: float) -> bool:
        """Heard of within STALE seconds."""
        return now - self.at <= STALE


def beat(client: redis.Redis, name: str, queues: Iterable[str], spool: Path) -> None:
    """Write this worker's field once."""
    free: int | None
    size: int | None
    try:
        usage = shutil.disk_usage(spool)
        free, size = usage.free, usage.total
    except OSError:
        free = size = None
    value = {"at": time.time(), "queues": sorted(queues), "spool_free": free, "spool_size": size}
    try:
        client.hset(KEY, name, json.dumps(value))
    except redis.RedisError as exc:
        _log.debug("worker heartbeat not written: %s", exc)


def forget(client: redis.Redis, name: str) -> None:
    """Remove this worker's field: it stops on purpose."""
    try:
        client.hdel(KEY, name)
    except redis.RedisError as exc:
        _log.debug("worker heartbeat not removed: %s", exc)


def read(client: redis.Redis, now: float) -> list[Beat]:
    """Every worker heard of within FORGET seconds, by name; older or unreadable fields go."""
    found: list[Beat] = []
    gone: list[str] = []
    for raw_name, raw_value in client.hgetall(KEY).items():
        name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
        try:
            value = json.loads(raw_value)
            seen = Beat(
                name=name,
                at=float(value["at"]),
                queues=tuple(str(queue) for queue in value["queues"]),
                spool_free=_size(value.get("spool_free")),
                spool_size=_size(value.get("spool_size")),
            )
        except (ValueError, KeyError, TypeError):
            gone.append(name)
            continue
        if now - seen.at > FORGET:
            gone.append(name)
        else:
            found.append(seen)
    if gone:
        client.hdel(KEY, *gone)
    return sorted(found, key=lambda seen: seen.name)


def _size(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


class Heartbeat:
    """A daemon thread beating every `interval` seconds until `stop`."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        queues: Iterable[str],
        spool: Path,
        *,
        interval: float = INTERVAL,
    ) -> None:
        self._client, self._name, self._spool = client, name, spool
        self._queues = tuple(queues)
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)

    def start(self) -> None:
        """Beat now, then every interval."""
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove the field."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(self._interval)
        forget(self._client, self._name)

    def _run(self) -> None:
        while True:
            beat(self._client, self._name, self._queues, self._spool)
            if self._stopped.wait(self._interval):
                return
