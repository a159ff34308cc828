"""A job's bytes done and bytes in all in its current stage, beside its percentage, so that a
progress display can show amounts, a rate and a time left.

Revision ID: 0012_job_bytes
Revises: 0011_catalog_heads
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012_job_bytes"
down_revision: str | None = "0011_catalog_heads"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    # Nullable without a default: adding them rewrites nothing, whatever the table's size.
    op.add_column("jobs", sa.Column("bytes_done", sa.BigInteger(), nullable=True), schema=SCHEMA)
    op.add_column("jobs", sa.Column("bytes_total", sa.BigInteger(), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("jobs", "bytes_total", schema=SCHEMA)
    op.drop_column("jobs", "bytes_done", schema=SCHEMA)
