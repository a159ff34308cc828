"""Alerts on a failed verification: backup_alerts.kind 'verify'.

Revision ID: 0010_verify_alerts
Revises: 0009_schedule_fanout
Create Date: 2026-12-09 00:00:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0010_verify_alerts"
down_revision: str | None = "0009_schedule_fanout"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"

ALERT_KINDS = ("'failed', 'overdue', 'drill'", "'failed', 'overdue', 'drill', 'verify'")


def _alert_kinds(kinds: str) -> None:
    op.drop_constraint(op.f("ck_backup_alerts_kind"), "backup_alerts", schema=SCHEMA)
    op.create_check_constraint(
        op.f("ck_backup_alerts_kind"), "backup_alerts", f"kind IN ({kinds})", schema=SCHEMA
    )


def upgrade() -> None:
    _alert_kinds(ALERT_KINDS[1])  # a backup that failed verification is an incident of its own


def downgrade() -> None:
    op.execute(f"DELETE FROM {SCHEMA}.backup_alerts WHERE kind = 'verify'")
    _alert_kinds(ALERT_KINDS[0])
