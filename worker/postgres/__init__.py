"""PostgreSQL as source and target: source servers, pg_dump's stream, pg_restore, targets.

An adapter: may import db and the bottom layer (worker.errors, worker.settings,
worker.redact); today only worker.errors. Not worker.telegram or worker.artifact (independent
siblings: worker.backup.dump joins pg_dump's stream and the artifact pass), nothing above.
"""

from __future__ import annotations
