"""The source server of each backup and schedule (issue 13, many PostgreSQL servers).

Revision ID: 0005_backups_server
Revises: 0004
Create Date: 2026-12-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_backups_server"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"
TABLES = ("backups", "backup_schedules")


def upgrade() -> None:
    # Every row written before is of the one server there was: SOURCE_DATABASE_URL, `default`.
    # A constant default adds the column without rewriting the table (PostgreSQL 11+).
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("server", sa.Text(), server_default=sa.text("'default'"), nullable=False),
            schema=SCHEMA,
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "server", schema=SCHEMA)
