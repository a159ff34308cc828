"""The restore and verify jobs' steps as plain functions: download, load, check, failure.

May import worker.jobs, worker.contract, the adapters (worker.telegram, worker.artifact,
worker.postgres), db, worker.errors and worker.settings; not worker.backup or
worker.scheduling (independent siblings), not Celery, worker.app or tasks.
"""

from __future__ import annotations
