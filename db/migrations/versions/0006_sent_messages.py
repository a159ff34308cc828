"""The ledger of sent part messages, so that orphans in Telegram are found and deleted.

Revision ID: 0006_sent_messages
Revises: 0005_backups_server
Create Date: 2026-12-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_sent_messages"
down_revision: str | None = "0005_backups_server"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.create_table(
        "sent_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.Text(), nullable=True),
        sa.Column(
            "sent_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("state", sa.Text(), server_default="sent", nullable=False),
        sa.CheckConstraint(
            "state IN ('sent', 'kept', 'deleted', 'undeletable')",
            name=op.f("ck_sent_messages_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_messages")),
        sa.UniqueConstraint("chat_id", "message_id", name="uq_sent_messages_message"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_sent_messages_unsettled",
        "sent_messages",
        ["sent_at"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'sent'"),
    )


def downgrade() -> None:
    op.drop_index("ix_sent_messages_unsettled", table_name="sent_messages", schema=SCHEMA)
    op.drop_table("sent_messages", schema=SCHEMA)
