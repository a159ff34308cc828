"""Periodic tasks that beat starts (celeryconfig.beat_schedule): thin calls into worker/.

Each lives in worker/scheduling/ (dispatch, sweep, reaper, alerts):
- schedules.dispatch     due schedules -> pending jobs + backups.create
- backups.sweep_expired  expiry, GFS retention, deleteMessage of parts, old runs, leftover
                         restore roles (worker/restore/rights.py)
- jobs.reap              stale jobs resumed, re-run or failed, finished spool dirs removed
And one that each worker sends to its own queue when it (re)connects to the broker:
- jobs.resume            this host's jobs whose step message was lost, sent on from their step
- alerts.check           failed / overdue projects, failed drills, alerted once
- catalog.publish        the pinned catalog in each backup chat (worker/catalog/)
- drills.run             restore drills of the backups due (worker/restore/rotation.py)
- copies.repair          each backup back to BACKUP_COPIES copies (worker/backup/refill.py)
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable

import redis
from celery import Celery, Task
from kombu.exceptions import OperationalError

from tasks import steps
from worker.app import app
from worker.backup import refill
from worker.catalog import publish as catalog
from worker.contract import publish
from worker.contract import tasks as contract
from worker.jobs import runtime, state
from worker.restore import rights, rotation
from worker.scheduling import alerts, reaper, resume_pass, sweep
from worker.scheduling import dispatch as dispatcher


def publisher(celery_app: Celery, queue: str | None = None) -> publish.Publisher:
    """The publisher of the messages nobody waits on (beat's, the reaper's, the retries'):
    many at once over one producer, results not kept."""
    return publish.Publisher(
        celery_app.send_task,
        producer=celery_app.producer_or_acquire,
        queue=queue,
        ignore_result=True,
    )


@app.task(name=contract.DISPATCH)
def dispatch() -> dict[str, object]:
    """Enqueue a backup for every due schedule, once per slot."""
    # A queue of their own: the night's backups never hold up work a user asked for.
    scheduled = publisher(app, queue=contract.SCHEDULED_QUEUE)
    return dispatcher.dispatch(runtime.current(), scheduled).to_json()


@app.task(name=contract.SWEEP_EXPIRED)
def sweep_expired() -> dict[str, object]:
    """Expire backups, apply retention, delete their messages, prune old schedule runs; drop
    the per-job restore roles killed workers left."""
    rt = runtime.current()
    result = sweep.sweep(rt).to_json()
    result["restore_roles_dropped"] = rights.sweep_servers(rt)
    return result


log = logging.getLogger(__name__)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Workers:
    """The workers as the broker sees them (reaper.Hosts): Celery's ping and direct queues."""

    PING_TIMEOUT = 1.0  # seconds: a broadcast waits this long for every reply

    def __init__(self, celery_app: Celery) -> None:
        self.app = celery_app

    def answering(self, hostnames: Iterable[str]) -> set[str]:
        """Those of `hostnames` whose worker answers a ping now."""
        wanted = sorted(set(hostnames))
        replies = self.app.control.ping(destination=wanted, timeout=self.PING_TIMEOUT) or []
        return {name for reply in replies for name in reply} & set(wanted)

    def waiting(self, hostname: str) -> set[str] | None:
        """The job ids (text) whose step message `hostname` has reserved, runs or holds for a
        countdown, or that its own queue holds; None when that cannot be told (no answer, or a
        broker whose queues cannot be read without taking the messages: RabbitMQ)."""
        url = str(self.app.conf.broker_url or "")
        if not url.startswith(("redis://", "rediss://")):
            return None
        found: set[str] = set()
        try:
            # A connection of its own: the pool's may date from before a broker restart.
            with self.app.connection_for_write() as conn:
                inspect = self.app.control.inspect(
                    destination=[hostname], timeout=self.PING_TIMEOUT, connection=conn
                )
                for ask in (inspect.reserved, inspect.active, inspect.scheduled):
                    replies = ask() or {}
                    if hostname not in replies:
                        return None
                    found |= set(_UUID.findall(json.dumps(replies[hostname], default=str)))
            client = redis.Redis.from_url(url)
            try:
                queued = client.lrange(hostname + contract.DIRECT_QUEUE_SUFFIX, 0, -1)
            finally:
                client.close()
        except (redis.RedisError, OperationalError, OSError) as exc:
            log.warning("cannot tell which messages %s holds: %s", hostname, exc)
            return None
        # A message's headers carry its kwargs as text (kwargsrepr): the job id reads as is.
        for message in queued:
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            found |= set(_UUID.findall(text))
        return found

    def resume(self, hostname: str) -> None:
        """Send jobs.resume to `hostname`'s own queue."""
        self.app.send_task(
            contract.RESUME,
            ignore_result=True,
            queue=hostname + contract.DIRECT_QUEUE_SUFFIX,
            exchange=contract.DIRECT_EXCHANGE,
            routing_key=hostname,
        )


@app.task(name=contract.REAP)
def reap() -> dict[str, object]:
    """Resume, re-run or fail jobs whose worker went silent; clean this host's finished spool."""
    return reaper.reap(runtime.current(), publisher(app), Workers(app)).to_json()


@app.task(name=contract.RESUME, bind=True)
def resume(
    self: Task,  # type: ignore[type-arg]
    *,
    reconnected: bool = False,
    connected_at: object = None,
) -> dict[str, object]:
    """Send on this host's jobs whose next step's message the broker lost; `connected_at`
    (ISO 8601), the reconnection's time, when this worker sent it at a reconnection."""
    hostname = str(self.request.hostname)

    def send(host: str, job_id: uuid.UUID, names: tuple[str, ...], countdown: float) -> None:
        steps.chain_to(app, host, job_id, names, countdown=countdown)

    def waiting() -> set[str] | None:
        return Workers(app).waiting(hostname)

    rt = runtime.current()
    since = state.parse_when(connected_at) if reconnected else None
    return resume_pass.resume_host(
        rt, hostname, send, waiting, reconnected=reconnected, connected_at=since
    ).to_json()


@app.task(name=contract.CHECK_ALERTS)
def check_alerts() -> dict[str, object]:
    """Alert once per incident about failing or overdue projects."""
    return alerts.check(runtime.current()).to_json()


@app.task(name=contract.PUBLISH_CATALOG)
def publish_catalog() -> dict[str, object]:
    """Send and pin the catalog in each backup chat, when the active backups changed."""
    return catalog.publish_all(runtime.current())


@app.task(name=contract.RUN_DRILLS)
def run_drills(*, project_id: str | None = None) -> dict[str, object]:
    """Start the restore drills that are due (or, with project_id, that project's now)."""
    return rotation.run(runtime.current(), publisher(app), project_id=project_id).to_json()


@app.task(name=contract.REPAIR_COPIES)
def repair_copies() -> dict[str, object]:
    """Re-create, COPIES_REPAIR_PARTS at most, the copies missing from live repositories."""
    return refill.run(runtime.current())
