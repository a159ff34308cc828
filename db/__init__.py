"""Storage: SQLAlchemy 2 models, engine and sessions, queries, Alembic migrations.

Below every package of worker/ but the bottom one: db imports nothing of worker/ except the
exception tree (worker.errors), and holds no policy: callers validate and compute, queries
take plain typed values defined here (db.schedules.ScheduleValues; a JSON payload in
db.schedule_runs.NewRun). Its own imports: SQLAlchemy, Alembic, psycopg2.
"""

from __future__ import annotations
