"""Queries on wal_bundles and wal_base_backups (point-in-time recovery)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from db import models, wal_coverage, wal_models

Bundle = wal_models.WalBundle
BaseBackup = wal_models.BaseBackup
History = wal_models.WalHistory


def add_bundle(session: Session, bundle: Bundle) -> None:
    """Record a bundle whose parts are all in Telegram."""
    session.add(bundle)
    session.flush()


def add_base_backup(session: Session, backup: BaseBackup) -> None:
    """Record a base backup whose parts are all in Telegram."""
    session.add(backup)
    session.flush()


def add_history(session: Session, history: History) -> None:
    """Record a timeline's history file whose parts are all in Telegram."""
    session.add(history)
    session.flush()


def histories(
    session: Session, server: str, system_identifier: str | None = None
) -> Sequence[History]:
    """The server's timeline histories (of one system when named), by timeline."""
    query = select(History).where(History.server == server)
    if system_identifier is not None:
        query = query.where(History.system_identifier == system_identifier)
    return session.scalars(query.order_by(History.timeline)).all()


def recorded_end(session: Session, server: str, system_identifier: str) -> tuple[int, int] | None:
    """(timeline, end LSN) of the server's newest recorded bundle; None before the first."""
    row = session.execute(
        select(Bundle.timeline, Bundle.end_lsn)
        .where(Bundle.server == server, Bundle.system_identifier == system_identifier)
        .order_by(Bundle.timeline.desc(), Bundle.end_lsn.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def bundles_from(
    session: Session,
    server: str,
    system_identifier: str,
    timeline: int | None,
    start_lsn: int,
) -> Sequence[Bundle]:
    """The server's bundles on `timeline` (None: on every timeline) that end after
    `start_lsn`, in LSN order."""
    query = select(Bundle).where(
        Bundle.server == server,
        Bundle.system_identifier == system_identifier,
        Bundle.end_lsn > start_lsn,
    )
    if timeline is not None:
        query = query.where(Bundle.timeline == timeline)
    return session.scalars(query.order_by(Bundle.start_lsn, Bundle.timeline)).all()


def base_backups(session: Session, server: str) -> Sequence[BaseBackup]:
    """The server's base backups, oldest first."""
    return session.scalars(
        select(BaseBackup).where(BaseBackup.server == server).order_by(BaseBackup.stopped_at)
    ).all()


def newest_base_backup(session: Session, server: str) -> dt.datetime | None:
    """When the server's newest base backup stopped (None: it has none)."""
    return session.scalar(
        select(func.max(BaseBackup.stopped_at)).where(BaseBackup.server == server)
    )


def bundle_count(session: Session, server: str) -> int:
    """How many bundles the server has recorded."""
    return session.scalar(select(func.count()).where(Bundle.server == server)) or 0


def newest_covered(session: Session, server: str) -> dt.datetime | None:
    """The latest `covered_until` of the server's bundles."""
    return session.scalar(select(func.max(Bundle.covered_until)).where(Bundle.server == server))


def extend_coverage(
    session: Session, server: str, system_identifier: str, end_lsn: int, covered: dt.datetime
) -> None:
    """A quiet server: the bundle ending at `end_lsn` covers up to `covered` (never less)."""
    session.execute(
        update(Bundle)
        .where(
            Bundle.server == server,
            Bundle.system_identifier == system_identifier,
            Bundle.end_lsn == end_lsn,
            Bundle.covered_until < covered,
        )
        .values(covered_until=covered)
    )


def project_backup(session: Session, project_id: str) -> models.Backup | None:
    """The project's newest database backup: it names the project's server and database."""
    return session.scalars(
        select(models.Backup)
        .where(models.Backup.project_id == project_id, models.Backup.database.is_not(None))
        .order_by(models.Backup.created_at.desc())
        .limit(1)
    ).first()


def bundles_of(session: Session, server: str) -> Sequence[Bundle]:
    """Every bundle of the server, by timeline and position."""
    return session.scalars(
        select(Bundle).where(Bundle.server == server).order_by(Bundle.timeline, Bundle.start_lsn)
    ).all()


def coverages(session: Session) -> list[wal_coverage.Coverage]:
    """The window and holes of every server with WAL or a base backup recorded, by name."""
    names = set(session.scalars(select(Bundle.server).distinct()))
    names |= set(session.scalars(select(BaseBackup.server).distinct()))
    return [
        wal_coverage.coverage(
            name, base_backups(session, name), bundles_of(session, name), histories(session, name)
        )
        for name in sorted(names)
    ]


def expirable(session: Session, keep: int) -> tuple[list[BaseBackup], list[Bundle]]:
    """Each server's base backups beyond its `keep` newest, and the bundles none of the kept
    ones needs: those of a kept one's system that end at or before every kept one's start.

    LSNs only grow across a server's timelines, so one position bounds them all. The bundles of
    a system no kept base backup belongs to (a re-created server) are left alone.
    """
    dropped: list[BaseBackup] = []
    bundles: list[Bundle] = []
    for server in session.scalars(select(BaseBackup.server).distinct()).all():
        newest_first = list(reversed(base_backups(session, server)))
        kept, beyond = newest_first[:keep], newest_first[keep:]
        dropped.extend(beyond)
        starts: dict[str, int] = {}
        for base in kept:
            starts[base.system_identifier] = min(
                starts.get(base.system_identifier, base.start_lsn), base.start_lsn
            )
        for system, start in starts.items():
            bundles.extend(
                session.scalars(
                    select(Bundle)
                    .where(
                        Bundle.server == server,
                        Bundle.system_identifier == system,
                        Bundle.end_lsn <= start,
                    )
                    .order_by(Bundle.timeline, Bundle.start_lsn)
                )
            )
    return dropped, bundles


def forget(session: Session, row: BaseBackup | Bundle) -> None:
    """Delete the record of a base backup or bundle whose messages are gone."""
    model = type(row)
    session.execute(delete(model).where(model.id == row.id))


Mark = wal_models.WalMark


def add_mark(session: Session, mark: Mark) -> None:
    """Record a mark whose rows were counted."""
    session.add(mark)
    session.flush()


def marks(session: Session, server: str, database: str | None = None) -> Sequence[Mark]:
    """The server's marks (of one database when named), oldest first."""
    query = select(Mark).where(Mark.server == server)
    if database is not None:
        query = query.where(Mark.database == database)
    return session.scalars(query.order_by(Mark.position)).all()


def drilled(session: Session, mark_id: uuid.UUID, status: str, report: dict[str, object]) -> None:
    """Record a drill's verdict on its mark."""
    session.execute(
        update(Mark)
        .where(Mark.id == mark_id)
        .values(drilled_at=func.now(), drill_status=status, drill_report=report)
    )


def forget_unreachable_marks(session: Session) -> int:
    """Delete the marks before the end of the oldest base backup of their server's system: no
    recovery reaches them any more. Marks of a system with no base backup are left alone."""
    oldest = session.execute(
        select(  # a recovery reaches any position from a base backup's end on
            BaseBackup.server, BaseBackup.system_identifier, func.min(BaseBackup.stop_lsn)
        ).group_by(BaseBackup.server, BaseBackup.system_identifier)
    ).all()
    forgotten = 0
    for server, system, reached in oldest:
        done = session.execute(
            delete(Mark).where(
                Mark.server == server,
                Mark.system_identifier == system,
                Mark.position < reached,
            )
        )
        forgotten += int(getattr(done, "rowcount", 0) or 0)
    return forgotten
