"""Thin Celery tasks: the backup chain, restore and verify, the periodic maintenance.

A task reads ids, calls the domain (worker.backup, worker.restore, worker.scheduling,
worker.jobs.runner) and routes chains; steps holds the shared Celery glue. May import
worker.app (for @app.task) and everything below it; only worker.cli imports tasks.
"""

from __future__ import annotations
