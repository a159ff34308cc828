"""The Celery application.

Run a worker with `celery -A worker.app worker`. Creating the app opens nothing: Celery reads
celeryconfig (and so the settings) only when the configuration is first used.

Its layer (worker/__init__.py): below worker.cli and tasks, above worker.logs and the domain,
which never import it.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
from typing import Any

from celery import Celery, bootsteps, signals
from kombu.exceptions import OperationalError

from worker import broker, errors, logs, settings
from worker.contract import tasks as contract
from worker.jobs import runtime
from worker.metrics import counters, queues, workers
from worker.postgres import privileges

log = logging.getLogger(__name__)

TASK_MODULES: tuple[str, ...] = ("tasks.backup",)
TASK_MODULES += ("tasks.restore",)
TASK_MODULES += ("tasks.maintenance",)


def create_app() -> Celery:
    """Build the Celery app with its configuration module and task modules."""
    # Before any connection: redis:// then means the transport that survives a lost broker.
    broker.install()
    celery_app = Celery("backup_worker", include=list(TASK_MODULES))
    celery_app.config_from_object("celeryconfig")
    # Logging set-up and job-event lines come from Celery's signals (worker/logs.py).
    logs.install()
    signals.worker_init.connect(
        check_encryption, weak=False, dispatch_uid="backup-worker.encryption"
    )
    signals.worker_init.connect(check_servers, weak=False, dispatch_uid="backup-worker.servers")
    signals.worker_init.connect(check_spool, weak=False, dispatch_uid="backup-worker.spool")
    signals.worker_ready.connect(
        warn_superusers, weak=False, dispatch_uid="backup-worker.superusers"
    )
    signals.worker_ready.connect(start_heartbeat, weak=False, dispatch_uid="backup-worker.beat")
    signals.worker_shutdown.connect(stop_heartbeat, weak=False, dispatch_uid="backup-worker.beat")
    celery_app.steps["consumer"].add(ResumeOnConnect)
    return celery_app


def check_encryption(**_: object) -> None:
    """At worker start: refuse without age recipients unless BACKUP_ENCRYPTION=off says so,
    and say in the log when it does (an operator's explicit choice, never a silent default)."""
    try:
        config = settings.current()
        config.require_encryption()
    except errors.ConfigError as exc:
        print(f"backup-worker: cannot start: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None
    if config.backup_encryption == "off":
        log.warning(
            "BACKUP_ENCRYPTION=off: backups go to Telegram unencrypted; anyone who can read "
            "the chat can read them (set BACKUP_AGE_RECIPIENTS to encrypt)"
        )


class ResumeOnConnect(bootsteps.StartStopStep):
    """At each connection to the broker, the first and every one after a loss: send
    jobs.resume to this worker's own queue, which sends on the jobs of this host whose step's
    message the broker lost (worker.scheduling.resume_pass.resume_host).

    A consumer bootstep (Celery's public `app.steps` API): its `start` runs each time the
    consumer starts its connection again, before the event loop.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, parent: Any) -> None:
        """Send jobs.resume to this worker's own queue; a failure is only logged."""
        try:
            hostname = str(parent.hostname)
            parent.app.send_task(
                contract.RESUME,
                kwargs={"reconnected": True, "connected_at": dt.datetime.now(dt.UTC).isoformat()},
                ignore_result=True,
                queue=hostname + contract.DIRECT_QUEUE_SUFFIX,
                exchange=contract.DIRECT_EXCHANGE,
                routing_key=hostname,
            )
        except (OperationalError, OSError) as exc:  # the next connection, or the reaper, retries
            log.warning("could not send %s to this worker: %s", contract.RESUME, exc)


def check_servers(**_: object) -> None:
    """At worker start: load the source servers (SOURCE_SERVERS_FILE) and the Telegram
    repositories (TELEGRAM_REPOSITORIES_FILE, BACKUP_COPIES) or refuse to start.

    Celery logs and swallows a signal handler's Exception; SystemExit stops the worker.
    """
    try:
        runtime.current().registry()
        rt = runtime.current()
        if rt.settings.telegram_repositories_file is not None or rt.settings.backup_copies > 1:
            rt.repositories()
    except errors.ConfigError as exc:
        print(f"backup-worker: cannot start: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None


def check_spool(**_: object) -> None:
    """At worker start: make the spool private (worker.jobs.spool.prepare) or refuse to start."""
    from worker.jobs import spool

    try:
        spool.prepare(runtime.current().settings.backup_spool_dir)
    except errors.ConfigError as exc:
        print(f"backup-worker: cannot start: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None


def warn_superusers(**_: object) -> None:
    """Once the worker is up: one warning per server whose URL connects as a superuser.

    In a thread: a server that does not answer must not hold the worker up.
    """
    threading.Thread(target=_warn_superusers, name="superuser-check", daemon=True).start()


def _warn_superusers() -> None:
    try:
        registry = runtime.current().registry()
    except errors.BackupWorkerError:
        return  # check_servers stopped the worker already
    for server in registry:
        user = privileges.superuser_name(server.params())
        if user is not None:
            log.warning(
                "server %s (%s) connects as the superuser %s: run the worker as a least-"
                "privilege role instead (backup-worker roles sql prints the SQL)",
                server.name,
                server.location,
                user,
            )


_beating: list[workers.Heartbeat] = []


def start_heartbeat(sender: object = None, **_: object) -> None:
    """Once the worker consumes: its heartbeat for the exporter (worker.metrics.workers).

    The sender is Celery's consumer, read by duck typing (celery.worker is off limits).
    """
    config = runtime.current().settings
    if not queues.is_redis(config.celery_broker_url):
        return
    consumer = getattr(sender, "task_consumer", None)
    names = [str(queue.name) for queue in getattr(consumer, "queues", None) or ()]
    heartbeat = workers.Heartbeat(
        counters.client_for(config.celery_broker_url, config.redis_sentinel_master),
        str(getattr(sender, "hostname", None) or "unknown"),
        [name for name in names if not name.endswith(queues.DIRECT_SUFFIX)],
        config.backup_spool_dir,
    )
    heartbeat.start()
    _beating.append(heartbeat)


def stop_heartbeat(**_: object) -> None:
    """At warm shutdown: stop beating and leave the hash, so no alert counts a stop as a loss."""
    while _beating:
        _beating.pop().stop()


app = create_app()
