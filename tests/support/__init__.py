"""The one harness of the acceptance tests, the chaos run and the benchmarks.

`procfile` (the Procfile's commands), `workers` (worker, beat and Flower processes), `scratch`
(databases and Redis databases of one's own on the shared servers), `services` (throwaway
PostgreSQL and Redis servers), `standin` (the Bot API stand-in as a process), `sources` (source
databases to back up) and `stack` (all of it wired together, enqueueing as the gateway does).
May import worker, db, tasks and standin; nothing here imports a test.
"""

from __future__ import annotations
