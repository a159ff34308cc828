"""Whole-server schedules (database `*`), one run per database, pg_dump's version per backup.

- backup_schedules.exclude: the shell-style patterns a `*` schedule leaves out (JSON list);
  one schedule per project and database stays unique for ordinary schedules, one `*` schedule
  per server.
- schedule_runs.database: the database of a `*` schedule's run ('' for an ordinary schedule,
  whose database is its own); the key becomes (schedule_id, scheduled_for, database).
- backups.pg_dump_version: the pg_dump that wrote the archive, as it printed its version.

Revision ID: 0009_schedule_fanout
Revises: 0008_drills
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_schedule_fanout"
down_revision: str | None = "0008_drills"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"
ALL = "'*'"


def upgrade() -> None:
    # Constant defaults: the columns are added without rewriting the tables (PostgreSQL 11+).
    op.add_column(
        "backup_schedules",
        sa.Column(
            "exclude",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        schema=SCHEMA,
    )
    op.drop_constraint("uq_backup_schedules_project_id_database", "backup_schedules", schema=SCHEMA)
    op.create_index(
        "uq_backup_schedules_project_id_database",
        "backup_schedules",
        ["project_id", "database"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text(f"database <> {ALL}"),
    )
    op.create_index(
        "uq_backup_schedules_server_all",
        "backup_schedules",
        ["server"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text(f"database = {ALL}"),
    )
    op.add_column(
        "schedule_runs",
        sa.Column("database", sa.Text(), server_default=sa.text("''"), nullable=False),
        schema=SCHEMA,
    )
    op.drop_constraint("pk_schedule_runs", "schedule_runs", schema=SCHEMA)
    op.create_primary_key(
        "pk_schedule_runs",
        "schedule_runs",
        ["schedule_id", "scheduled_for", "database"],
        schema=SCHEMA,
    )
    op.add_column("backups", sa.Column("pg_dump_version", sa.Text()), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("backups", "pg_dump_version", schema=SCHEMA)
    # A `*` schedule's runs have no place in the old key: they go with their schedules.
    op.execute(f"DELETE FROM {SCHEMA}.backup_schedules WHERE database = {ALL}")
    op.drop_constraint("pk_schedule_runs", "schedule_runs", schema=SCHEMA)
    op.create_primary_key(
        "pk_schedule_runs", "schedule_runs", ["schedule_id", "scheduled_for"], schema=SCHEMA
    )
    op.drop_column("schedule_runs", "database", schema=SCHEMA)
    op.drop_index("uq_backup_schedules_server_all", "backup_schedules", schema=SCHEMA)
    op.drop_index("uq_backup_schedules_project_id_database", "backup_schedules", schema=SCHEMA)
    op.create_unique_constraint(
        "uq_backup_schedules_project_id_database",
        "backup_schedules",
        ["project_id", "database"],
        schema=SCHEMA,
    )
    op.drop_column("backup_schedules", "exclude", schema=SCHEMA)
