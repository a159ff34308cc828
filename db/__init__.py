"""Storage: SQLAlchemy 2 models (models, schedule_models, ledger; columns), engine and sessions
(session), Alembic migrations (migrate, migrations/) and the queries (queries/).

Below every package of worker/ but the bottom one: db imports nothing of worker/ except the
exception tree (worker.errors), and holds no policy: callers validate and compute, queries
take plain typed values defined here (db.queries.schedules.ScheduleValues; a JSON payload in
db.queries.schedule_runs.NewRun). Its own imports: SQLAlchemy, Alembic, psycopg2.
"""

from __future__ import annotations
