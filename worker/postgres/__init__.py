"""PostgreSQL as source and target: source servers and the programs run against them.

servers (the registry: SOURCE_SERVERS_FILE, and SOURCE_DATABASE_URL as `default`), source
(libpq parameters, database names, quick queries), slots (fleet-wide per-server limits in
Redis), clients (the pg_dump/pg_restore for a server's version), dump (pg_dump's checked
stream), pgrestore, target.

An adapter: may import db and the bottom layer (worker.errors, worker.settings,
worker.redact). Not worker.telegram or worker.artifact (independent siblings:
worker.backup.dump joins pg_dump's stream and the artifact pass), nothing above.
"""

from __future__ import annotations
