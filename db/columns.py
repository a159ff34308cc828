"""What every model module shares: the JSON type, timestamp columns, CHECK lists, to_json."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import DateTime, func, inspect
from sqlalchemy.orm import Mapped, mapped_column

JSONObject = dict[str, Any]


def one_of(column: str, values: Iterable[str]) -> str:
    """A CHECK expression: `column` is one of `values`."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def columns_json(row: object) -> JSONObject:
    """A mapped row's columns as a JSON-ready dict (UUIDs and datetimes as text)."""
    data: JSONObject = {}
    for column in inspect(row).mapper.column_attrs:
        value = getattr(row, column.key)
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, dt.datetime):
            value = value.isoformat()
        data[column.key] = value
    return data


def timestamp() -> Mapped[dt.datetime | None]:
    """A nullable timestamptz column."""
    return mapped_column(DateTime(timezone=True))


def created() -> Mapped[dt.datetime]:
    """A timestamptz column set to now() on insert."""
    return mapped_column(DateTime(timezone=True), server_default=func.now())
