"""The catalog's content: the rows of backups, backup_parts and backup_part_copies, as JSON
and back.

A part with further copies (docs/fleet.md, "Copies") lists them under `copies`; a part without
has no such key, so a catalog with one copy reads as it always did.

Every column of the two tables goes in, whatever the models hold at the time (a later migration's
columns, such as a part's bot id, come along without a change here). Only active backups are
listed. Recovery inserts the rows with `job_id` cleared: the jobs table is not in the catalog,
and the gateway's job ids mean nothing in a rebuilt database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

from sqlalchemy import DateTime, Table, Uuid, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db import models
from worker import errors

FORMAT = "backup-worker-catalog"
VERSION = 1
BACKUPS: Table = models.Backup.__table__  # type: ignore[assignment]
PARTS: Table = models.BackupPart.__table__  # type: ignore[assignment]
COPIES: Table = models.BackupPartCopy.__table__  # type: ignore[assignment]
Row = dict[str, object]


def _encode(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _decode(table: Table, row: Row) -> Row:
    decoded: Row = {}
    for name, raw in row.items():
        if name not in table.c:
            continue  # a column this database does not have (yet)
        kind = table.c[name].type
        value = raw
        if raw is not None and isinstance(kind, DateTime):
            value = dt.datetime.fromisoformat(str(raw))
        elif raw is not None and isinstance(kind, Uuid):
            value = uuid.UUID(str(raw))
        decoded[name] = value
    return decoded


def build(session: Session) -> Row:
    """The catalog of every active backup with its parts, ordered, without a timestamp."""
    active = session.execute(
        select(BACKUPS)
        .where(BACKUPS.c.status == models.BackupStatus.ACTIVE.value)
        .order_by(BACKUPS.c.created_at, BACKUPS.c.id)
    ).mappings()
    backups = [{name: _encode(value) for name, value in row.items()} for row in active]
    ids = [uuid.UUID(str(row["id"])) for row in backups]
    parts: dict[str, list[Row]] = {str(backup_id): [] for backup_id in ids}
    if ids:
        found = session.execute(
            select(PARTS)
            .where(PARTS.c.backup_id.in_(ids))
            .order_by(PARTS.c.backup_id, PARTS.c["index"])
        ).mappings()
        for part in found:
            parts[str(part["backup_id"])].append(
                {name: _encode(value) for name, value in part.items()}
            )
        _add_copies(session, ids, parts)
    for backup in backups:
        backup["parts"] = parts[str(backup["id"])]
    return {"format": FORMAT, "version": VERSION, "backups": backups}


def _add_copies(session: Session, ids: list[uuid.UUID], parts: dict[str, list[Row]]) -> None:
    copies: dict[tuple[str, int], list[Row]] = {}
    found = session.execute(
        select(COPIES)
        .where(COPIES.c.backup_id.in_(ids))
        .order_by(COPIES.c.backup_id, COPIES.c["index"], COPIES.c.copy)
    ).mappings()
    for copy in found:
        key = (str(copy["backup_id"]), int(copy["index"]))
        copies.setdefault(key, []).append({name: _encode(value) for name, value in copy.items()})
    for backup_id, listed in parts.items():
        for part in listed:
            held = copies.get((backup_id, int(str(part["index"]))))
            if held:
                part["copies"] = held


def dumps(catalog: Row) -> bytes:
    """Canonical JSON: the same catalog gives the same bytes."""
    return json.dumps(catalog, sort_keys=True, separators=(",", ":")).encode()


def fingerprint(catalog: Row) -> str:
    """A short digest of the catalog, to tell whether it changed since the last one sent."""
    return hashlib.sha256(dumps(catalog)).hexdigest()[:16]


def loads(data: bytes) -> Row:
    """A catalog read back; InputError when it is not one this version understands."""
    try:
        catalog = json.loads(data)
    except ValueError as exc:
        raise errors.InputError(f"the catalog is not JSON: {exc}") from None
    if not isinstance(catalog, dict) or catalog.get("format") != FORMAT:
        raise errors.InputError("the document is not a backup-worker catalog")
    if catalog.get("version") != VERSION:
        raise errors.InputError(f"catalog version {catalog.get('version')} is not {VERSION}")
    if not isinstance(catalog.get("backups"), list):
        raise errors.InputError("the catalog lists no backups")
    return catalog


def restore_rows(session: Session, catalog: Row) -> tuple[int, int]:
    """Insert the catalog's backups, parts and their copies (existing ids are left alone);
    returns the counts of backups and parts."""
    backups = catalog["backups"]
    assert isinstance(backups, list)
    backup_rows: list[Row] = []
    part_rows: list[Row] = []
    copy_rows: list[Row] = []
    for backup in backups:
        parts = backup.get("parts", [])
        row = _decode(BACKUPS, {k: v for k, v in backup.items() if k != "parts"})
        row["job_id"] = None
        backup_rows.append(row)
        part_rows += [_decode(PARTS, part) for part in parts]
        copy_rows += [_decode(COPIES, copy) for part in parts for copy in part.get("copies", [])]
    inserted = parts_inserted = 0
    if backup_rows:
        statement = insert(BACKUPS).values(backup_rows).on_conflict_do_nothing()
        inserted = len(session.execute(statement.returning(BACKUPS.c.id)).all())
    if part_rows:
        statement = insert(PARTS).values(part_rows).on_conflict_do_nothing()
        parts_inserted = len(session.execute(statement.returning(PARTS.c.backup_id)).all())
    if copy_rows:
        session.execute(insert(COPIES).values(copy_rows).on_conflict_do_nothing())
    return inserted, parts_inserted
