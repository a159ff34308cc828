"""Periodic work: schedules (when, spec, retention), the dispatcher, the sweep, the reaper, alerts.

The policy of schedules lives here (spec validates and builds them; db.queries.schedules only stores
plain values). May import worker.jobs, worker.contract, the adapters, db, worker.errors and
worker.settings; not worker.backup or worker.restore (independent siblings), not Celery,
worker.app or tasks.
"""

from __future__ import annotations
