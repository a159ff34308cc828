"""Celery settings under Celery's own names, filled from worker.settings.

Celery imports this module lazily (app.config_from_object), the first time the app's
configuration is read, so the environment is read once per process and never at import
of the worker package.
"""

from __future__ import annotations

from worker import settings as _settings

_s = _settings.current()

broker_url = _s.celery_broker_url
result_backend = _s.celery_result_backend
broker_connection_retry_on_startup = True
# Redis redelivers an unacknowledged message after the visibility timeout: it must be longer
# than the longest backup, or a second worker would start the same job while the first runs.
broker_transport_options = {"visibility_timeout": _s.backup_visibility_timeout}
result_backend_transport_options = {"visibility_timeout": _s.backup_visibility_timeout}
result_expires = 7 * 24 * 3600  # seconds; the jobs table is the record, not the result backend

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

# A backup message is acknowledged only when its step has finished, and given back when the
# worker process dies, so a crash never loses a job. One message at a time per process: a
# backup is long, prefetching would park other jobs behind it.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_track_started = True

# Every worker also consumes its own queue "<nodename>.dq2": the chain's steps are sent there
# so that upload and record run on the host whose spool holds the parts.
worker_direct = True

# Events feed Flower; argument reprs are ids only (see tasks/), never secrets.
worker_send_task_events = True
task_send_sent_event = True
worker_hijack_root_logger = False
