"""PostgreSQL source servers and the programs run against them.

servers.py (the registry: SOURCE_SERVERS_FILE and SOURCE_DATABASE_URL as `default`), source.py
(libpq parameters, database names, quick queries), slots.py (fleet-wide per-server limits in
Redis), clients.py (the pg_dump/pg_restore for a server's version), dump.py, pgrestore.py,
target.py. Imports only worker.errors, worker.settings and worker.artifact.
"""

from __future__ import annotations
