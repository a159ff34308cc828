"""backup_parts.bot_id: the bot that uploaded each part (several bots, issue 12).

Revision ID: 0007_parts_bot_chat
Revises: 0006_sent_messages
Create Date: 2026-12-01 00:00:00

backup_parts.chat_id exists since 0001 and is filled for every part. bot_id stays NULL for the
parts recorded before: a migration does not read the worker's settings (it must give the same
schema wherever it runs), and every such part was sent by the one bot configured then, which
the worker reads NULL as: the first bot of TELEGRAM_BOT_TOKEN (docs/fleet.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007_parts_bot_chat"
down_revision: str | None = "0006_sent_messages"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.add_column("backup_parts", sa.Column("bot_id", sa.Text(), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("backup_parts", "bot_id", schema=SCHEMA)
