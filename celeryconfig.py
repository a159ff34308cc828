"""Celery settings under Celery's own names, filled from worker.settings.

Celery imports this module lazily (app.config_from_object), the first time the app's
configuration is read, so the environment is read once per process and never at import
of the worker package.
"""

from __future__ import annotations

from celery.schedules import crontab as _crontab
from kombu import Exchange as _Exchange
from kombu import Queue as _Queue

from worker import redisconn as _redisconn
from worker import settings as _settings
from worker.contract import tasks as _contract

_s = _settings.current()

broker_url = _s.celery_broker_url
result_backend = _s.celery_result_backend
broker_connection_retry_on_startup = True
# Redis redelivers an unacknowledged message after the visibility timeout: it must be longer
# than the longest backup, or a second worker would start the same job while the first runs.
# queue_order_strategy: a worker consuming several queues polls them in the order given, so
# one started without -Q takes asked-for work (the default queue) before scheduled backups.
# A sentinel:// URL (Redis Sentinel, docs/reliability.md "Broker failover") also needs the
# primary's name, for the broker and for the result backend.
broker_transport_options = {
    "visibility_timeout": _s.backup_visibility_timeout,
    "queue_order_strategy": "priority",
    **_redisconn.transport_options(_s.celery_broker_url, _s.redis_sentinel_master),
}
result_backend_transport_options = {
    "visibility_timeout": _s.backup_visibility_timeout,
    **_redisconn.transport_options(_s.celery_result_backend, _s.redis_sentinel_master),
}
result_expires = 7 * 24 * 3600  # seconds; the jobs table is the record, not the result backend
# Nobody reads a task's return value (the gateway and the CLI read the jobs table, docs/design.md),
# so storing one per step is two Redis writes per task for nothing; with track_started, three.
task_ignore_result = True

# Publishing (a chain's next step included) outlives a broker restart: kombu's default gives up
# after 3 tries within 0.6 s, and a lost callback leaves its job to the reaper (10 minutes).
# About a minute of retries here, so a restarting Redis loses no step.
task_publish_retry_policy = {
    "max_retries": 30,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 2,
}
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

# The one place the pool is chosen (Procfile, Compose and the tests pass no -P): threads in one
# process. A step waits on pg_dump (a subprocess), zstd and SHA-256 (both release the GIL) and
# HTTP, so threads overlap as well as processes, while each prefork child held its own ~100 MB
# of imports. Measured on the ~400 MB database (benchmarks.backup_speed, 2 slots), the tree
# (worker + pg_dump): prefork 300 MB RSS idle, 327 MB RSS / 205 MB PSS at peak; threads
# 113 MB idle, 143 MB RSS / 120 MB PSS at peak, the backup no slower. Threads have no time
# limits; no task sets one. Malloc growth under threads:
# worker.jobs.runtime.keep_big_buffers_mapped.
worker_pool = "threads"
worker_concurrency = _s.worker_concurrency

# A backup message is acknowledged only when its step has finished, so a crash never loses a
# job: messages of a worker that dies go back to the queue (Redis: after the visibility
# timeout), and the reaper re-runs a job whose heartbeat stopped. task_reject_on_worker_lost
# requeues at once when a prefork child dies under a living parent; threads have no such death
# (it acts only on a task raising a BaseException that is no Exception), so here it is nearly
# inert and harmless, kept for -P processes. One message per pool slot: a backup is long,
# prefetching would park other jobs behind it.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

# Asked-for work (the gateway, the CLI) on the default queue, the dispatcher's backups.create on
# "scheduled". The Procfile runs a process for each (docs/fleet.md, "User work first"): user
# work has slots of its own that a night of long scheduled backups cannot hold. A worker
# started without -Q consumes both, the default one first.
task_default_queue = _contract.DEFAULT_QUEUE
# Each bound as Celery binds a queue it creates itself (exchange and routing key its name).
# BROKER_QUEUE_TYPE=quorum (RabbitMQ only): both declared as quorum queues, replicated over
# the cluster's nodes; durable and never exclusive or auto-deleted, as quorum queues must be,
# and without priorities, which they do not have (no task here sets one). Celery then turns
# off global QoS itself (worker_detect_quorum_queues) and runs countdowns through RabbitMQ's
# delayed delivery.
task_default_queue_type = _s.broker_queue_type
_queue_arguments = {"x-queue-type": "quorum"} if _s.broker_queue_type == "quorum" else None
task_queues = tuple(
    _Queue(name, _Exchange(name), routing_key=name, queue_arguments=_queue_arguments)
    for name in (_contract.DEFAULT_QUEUE, _contract.SCHEDULED_QUEUE)
)

# Every worker also consumes its own queue "<nodename>.dq2": the chain's steps are sent there
# so that upload and record run on the host whose spool holds the parts.
worker_direct = True

# Events feed Flower; argument reprs are ids only (see tasks/), never secrets.
worker_send_task_events = True
task_send_sent_event = True
worker_hijack_root_logger = False

# Periodic work (tasks/maintenance.py), started by `celery -A worker.app beat`. Static entries
# only: per-project schedules live in control_plane.backup_schedules and schedules.dispatch reads
# them on every tick. Each message expires after one interval, so a backlog of ticks behind a
# busy worker runs once, not ten times. SCHEDULE_DISPATCH_INTERVAL=60 ticks on the minute.
_dispatch_every = (
    _crontab() if _s.schedule_dispatch_interval == 60 else _s.schedule_dispatch_interval
)
beat_schedule = {
    _contract.DISPATCH: {
        "task": _contract.DISPATCH,
        "schedule": _dispatch_every,
        "options": {"expires": _s.schedule_dispatch_interval},
    },
    _contract.SWEEP_EXPIRED: {
        "task": _contract.SWEEP_EXPIRED,
        "schedule": _s.sweep_interval,
        "options": {"expires": _s.sweep_interval},
    },
    _contract.REAP: {
        "task": _contract.REAP,
        "schedule": _s.maintenance_interval,
        "options": {"expires": _s.maintenance_interval},
    },
    _contract.CHECK_ALERTS: {
        "task": _contract.CHECK_ALERTS,
        "schedule": _s.maintenance_interval,
        "options": {"expires": _s.maintenance_interval},
    },
    _contract.RUN_DRILLS: {
        "task": _contract.RUN_DRILLS,
        "schedule": _s.maintenance_interval,
        "options": {"expires": _s.maintenance_interval},
    },
}
if _s.catalog_interval > 0:  # CATALOG_INTERVAL=0 turns the catalog off
    beat_schedule[_contract.PUBLISH_CATALOG] = {
        "task": _contract.PUBLISH_CATALOG,
        "schedule": _s.catalog_interval,
        "options": {"expires": _s.catalog_interval},
    }
# COPIES_REPAIR_INTERVAL=0 turns it off; with one copy, or no further repository, it has
# nothing to do.
if (
    _s.copies_repair_interval > 0
    and _s.backup_copies > 1
    and _s.telegram_repositories_file is not None
):
    beat_schedule[_contract.REPAIR_COPIES] = {
        "task": _contract.REPAIR_COPIES,
        "schedule": _s.copies_repair_interval,
        "options": {"expires": _s.copies_repair_interval},
    }
