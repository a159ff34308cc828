"""One reading of the fleet's state: the control-plane database and Redis, at one moment.

Both the exporter (at every scrape) and `backup-worker status` read it. A source that cannot be
read leaves its part empty and is named in `failed`, so the rest is still shown.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time

import redis
import sqlalchemy.exc

from db import session as db_session
from db import wal_coverage
from db.queries import health, wal
from worker.metrics import counters, history, queues, workers
from worker.postgres import slots

DATABASE = "database"
REDIS = "redis"
_log = logging.getLogger(__name__)


@dataclasses.dataclass
class Snapshot:
    """What the exporter and the status screen show."""

    now: dt.datetime
    projects: list[health.ProjectHealth] = dataclasses.field(default_factory=list)
    jobs: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    queues: dict[str, int] = dataclasses.field(default_factory=dict)
    telegram: counters.Totals | None = None
    slots: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)  # in use, waiting
    durations: dict[tuple[str, str], history.Durations] = dataclasses.field(default_factory=dict)
    previous_sizes: dict[history.Key, int] = dataclasses.field(default_factory=dict)
    verify_failed: dict[history.Key, int] = dataclasses.field(default_factory=dict)
    wal: list[wal_coverage.Coverage] = dataclasses.field(default_factory=list)  # per server
    heartbeats: list[workers.Beat] = dataclasses.field(default_factory=list)
    clock: float = dataclasses.field(default_factory=time.time)  # the heartbeats' clock
    redis_read: bool = False  # the broker is Redis and this reading got through
    failed: list[str] = dataclasses.field(default_factory=list)  # sources not read: DATABASE, REDIS


def read(database: db_session.Database, client: redis.Redis | None) -> Snapshot:
    """Read every source once; `client` None when the broker is not Redis."""
    found = Snapshot(now=dt.datetime.now(dt.UTC))
    try:
        with database.sessionmaker() as session:
            found.now = health.now(session)
            found.projects = health.projects(session)
            found.jobs = health.job_counts(session)
            found.durations = history.durations(session)
            found.previous_sizes = history.previous_sizes(session)
            found.verify_failed = history.failed_verifications(session)
            found.wal = wal.coverages(session)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        _log.warning("metrics: cannot read the control-plane database: %s", type(exc).__name__)
        found.failed.append(DATABASE)
    if client is not None:
        try:
            found.queues = queues.depths(client)
            found.telegram = counters.read(client)
            found.slots = dump_slots(client)
            found.heartbeats = workers.read(client, found.clock)
            found.redis_read = True
        except redis.RedisError as exc:
            _log.warning("metrics: cannot read Redis: %s", type(exc).__name__)
            found.failed.append(REDIS)
    return found


def dump_slots(
    client: redis.Redis, *, prefix: str = slots.KEY_PREFIX
) -> dict[str, tuple[int, int]]:
    """Server -> (slots in use, waiters), for each server with slot keys in Redis."""
    servers: set[str] = set()
    for key in client.scan_iter(match=f"{prefix}:{{*}}:*", count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        inner = name[len(prefix) + 1 :]
        if inner.startswith("{") and "}" in inner:
            servers.add(inner[1 : inner.index("}")])
    reader = slots.Slots(client, prefix=prefix)
    return {server: reader.counts(server) for server in sorted(servers)}
