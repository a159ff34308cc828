"""An index on schedule_runs by slot, for the sweep's prune of old runs.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04 00:00:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    # db.schedule_runs.prune_runs takes the oldest runs in (scheduled_for, schedule_id) order, a
    # batch at a time. The primary key leads with schedule_id: without this index each batch
    # read and sorted every run older than the horizon. IF NOT EXISTS: on a large table, build
    # it beforehand with CREATE INDEX CONCURRENTLY (the migrations run in one transaction, where
    # a plain build blocks the dispatcher's inserts until it ends); this step then skips it.
    op.create_index(
        op.f("ix_schedule_runs_scheduled_for"),
        "schedule_runs",
        ["scheduled_for", "schedule_id"],
        schema=SCHEMA,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_schedule_runs_scheduled_for"), "schedule_runs", schema=SCHEMA)
