"""The row models of the contract (worker.contract.rows) against the real tables: every field a
column of the migrated control plane, of the column's type, nullable exactly when it is."""

from __future__ import annotations

import datetime as dt
import types
import typing
import uuid

import pytest
from pydantic import BaseModel
from sqlalchemy import create_engine, text

from db import models
from worker.contract import rows

# information_schema's data_type -> the Python type a field of that column has.
KINDS = {
    "uuid": uuid.UUID,
    "text": str,
    "smallint": int,
    "integer": int,
    "bigint": int,
    "boolean": bool,
    "timestamp with time zone": dt.datetime,
    "jsonb": BaseModel,  # a model, or a JSON object
}


def columns(url: str, table: str) -> dict[str, tuple[str, bool]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT column_name, data_type, is_nullable = 'YES' FROM"
                    " information_schema.columns"
                    " WHERE table_schema = 'control_plane' AND table_name = :table"
                ),
                {"table": table},
            )
            return {name: (kind, nullable) for name, kind, nullable in found}
    finally:
        engine.dispose()


def kind_of(annotation: object) -> tuple[type, bool]:
    """The field's type without None, and whether it admits None."""
    parts = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else ()
    nullable = type(None) in parts
    base = next((p for p in parts if p is not type(None)), annotation) if parts else annotation
    if typing.get_origin(base) is typing.Literal:
        return type(typing.get_args(base)[0]), nullable
    if isinstance(base, type) and issubclass(base, BaseModel):
        return BaseModel, nullable
    assert isinstance(base, type), annotation
    return base, nullable


@pytest.mark.parametrize(("model", "table"), [(rows.JobRow, "jobs"), (rows.BackupRow, "backups")])
def test_every_field_is_a_column_of_its_type_and_nullability(
    control_db_url: str, model: type[BaseModel], table: str
) -> None:
    real = columns(control_db_url, table)
    for name, field in model.model_fields.items():
        assert name in real, f"{model.__name__}.{name}: control_plane.{table} has no such column"
        kind, nullable = real[name]
        assert kind_of(field.annotation) == (KINDS[kind], nullable), (name, kind, nullable)


def test_the_gateways_job_columns_are_those_docs_contract_md_selects() -> None:
    # The jobs table section's SELECTs read these, and the result's `backup`.
    assert set(rows.JobRow.model_fields) == {
        "id",
        "type",
        "project_id",
        "status",
        "stage",
        "progress",
        "bytes_done",
        "bytes_total",
        "error",
        "result",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    }


def test_the_literals_are_the_tables_values() -> None:
    def values(literal: object) -> set[object]:
        return set(typing.get_args(literal))

    assert values(rows.JobType) == {t.value for t in models.JobType}
    assert values(rows.JobStatus) == {s.value for s in models.JobStatus}
    assert values(rows.BackupStatus) == {s.value for s in models.BackupStatus}
    backup_type = rows.BackupRow.model_fields["type"].annotation
    assert values(backup_type) == {t.value for t in models.BackupType}
