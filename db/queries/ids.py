"""Ids by a prefix of their printed form, as an operator copies them from a table."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Mapped, Session

HEX_DIGITS = 32  # of a UUID


def starting_with(
    session: Session, id_column: Mapped[uuid.UUID], hex_prefix: str, *, limit: int
) -> list[uuid.UUID]:
    """Up to `limit` ids of `id_column` whose hex digits begin with `hex_prefix`, in order.

    A range on the column, not a LIKE on its text: the primary key's index answers it.
    """
    low = uuid.UUID(hex_prefix.ljust(HEX_DIGITS, "0"))
    high = uuid.UUID(hex_prefix.ljust(HEX_DIGITS, "f"))
    query = (
        select(id_column)
        .where(id_column >= low, id_column <= high)
        .order_by(id_column)
        .limit(limit)
    )
    return list(session.scalars(query))
