"""The contract with the api-gateway: task arguments validated once, stored as the job's payload.

May import what lies below it: the adapters, db and the bottom layer (worker.errors,
worker.settings, worker.redact); today only worker.postgres.source (database names) and
worker.errors. Not worker.jobs or anything above.
"""

from __future__ import annotations
