"""The catalog's own messages per chat (its pinned head and its parts), so that only those are
ever deleted, and never ids read from the chat.

Revision ID: 0011_catalog_heads
Revises: 0010_verify_alerts
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011_catalog_heads"
down_revision: str | None = "0010_verify_alerts"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.create_table(
        "catalog_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), server_default="current", nullable=False),
        sa.Column(
            "sent_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("kind IN ('head', 'part')", name=op.f("ck_catalog_messages_kind")),
        sa.CheckConstraint(
            "state IN ('current', 'superseded', 'deleted', 'undeletable')",
            name=op.f("ck_catalog_messages_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_messages")),
        sa.UniqueConstraint("chat_id", "message_id", name="uq_catalog_messages_message"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_catalog_messages_live",
        "catalog_messages",
        ["chat_id"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("state IN ('current', 'superseded')"),
    )


def downgrade() -> None:
    op.drop_index("ix_catalog_messages_live", table_name="catalog_messages", schema=SCHEMA)
    op.drop_table("catalog_messages", schema=SCHEMA)
