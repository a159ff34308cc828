"""Restore drills (issue 16): what each backup's snapshot held, and its last drill.

Revision ID: 0008_drills
Revises: 0007_parts_bot_chat
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_drills"
down_revision: str | None = "0007_parts_bot_chat"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"


ALERT_KINDS = ("'failed', 'overdue'", "'failed', 'overdue', 'drill'")


def _alert_kinds(kinds: str) -> None:
    op.drop_constraint(op.f("ck_backup_alerts_kind"), "backup_alerts", schema=SCHEMA)
    op.create_check_constraint(
        op.f("ck_backup_alerts_kind"), "backup_alerts", f"kind IN ({kinds})", schema=SCHEMA
    )


def upgrade() -> None:
    # Nullable columns without a default: added without rewriting the table.
    op.add_column("backups", sa.Column("contents", postgresql.JSONB()), schema=SCHEMA)
    op.add_column("backups", sa.Column("drilled_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("backups", sa.Column("drill_status", sa.Text()), schema=SCHEMA)
    op.add_column("backups", sa.Column("drill_report", postgresql.JSONB()), schema=SCHEMA)
    _alert_kinds(ALERT_KINDS[1])  # a failed restore drill is an incident of its own kind


def downgrade() -> None:
    op.execute(f"DELETE FROM {SCHEMA}.backup_alerts WHERE kind = 'drill'")
    _alert_kinds(ALERT_KINDS[0])
    for column in ("drill_report", "drill_status", "drilled_at", "contents"):
        op.drop_column("backups", column, schema=SCHEMA)
