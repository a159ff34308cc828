"""Restore to a time: one database of a server, or the whole server, from base backup and WAL.

The plan (worker.wal.plan) refuses an uncovered target first. Then the bundles are downloaded
and written into segment files, and the base backup unpacked and checked, before the scratch
instance starts (so its restore_command only copies). Once it has promoted at the target, the
one database is dumped from it (pg_dump -Fc) and restored as a new database on the target
server; the scratch instance is removed whatever happens. With no database, the recovered data
directory itself is the result (disaster recovery) and is kept.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from db import session as db_session
from db import wal_models
from db.queries import wal as db_wal
from worker import errors
from worker.postgres import snapshot, source
from worker.wal import basebackup, lsn, plan, receiver, scratch, spool, store, timeline


@dataclass(frozen=True)
class Outcome:
    """What the recovery did."""

    base_backup: str
    bundles: int
    settings: tuple[tuple[str, str], ...]
    archive: Path | None  # the dump of the one database, when one was asked for
    tables: dict[str, int] | None = None  # its rows per table at the target, when counted


def make_plan(database: db_session.Database, server: str, target: plan.Target) -> plan.Plan:
    """The plan for `target` from the control plane's records; OutsideWindow when uncovered."""
    with database.transaction() as session:
        bases = list(db_wal.base_backups(session, server))
        system = _system(bases) if bases else ""
        bundles = list(db_wal.bundles_from(session, server, system, None, 0))
        histories = list(db_wal.histories(session, server, system))
        chosen = plan.choose(server, target, bases, bundles, histories)
        session.expunge_all()
    return chosen


def _system(bases: Sequence[wal_models.BaseBackup]) -> str:
    return bases[-1].system_identifier


def fetch_wal(
    chosen: plan.Plan, target: store.Store, directory: Path, work: Path, size: int
) -> None:
    """Every bundle of the plan, written into segment files (of `size` bytes) in `directory`,
    and the history file of each timeline it crosses."""
    for bundle in chosen.bundles:
        sink = spool.SegmentWriter(directory, bundle.timeline, bundle.start_lsn, size)
        target.get(basebackup._stored(bundle), f"wal bundle {bundle.id}", sink, work)
    for history in chosen.histories:
        (directory / timeline.file_name(history.timeline)).write_text(history.content)
        _carry_prefix(directory, history, size)


def _carry_prefix(directory: Path, history: wal_models.WalHistory, size: int) -> None:
    """The child's segment holding the switch starts with the parent's bytes before it, as
    the promoted server's own file does: replay reads that segment from the child's file."""
    segment = lsn.segment_number(history.switch_lsn, size)
    offset = history.switch_lsn - segment * size
    parent = directory / lsn.segment_name(history.parent_timeline, segment, size)
    child = directory / lsn.segment_name(history.timeline, segment, size)
    if offset == 0 or not parent.exists() or not child.exists():
        return
    with parent.open("rb") as source, child.open("r+b") as sink:
        sink.write(source.read(offset))


def segment_size(data_dir: Path) -> int:
    """The WAL segment size of the cluster in `data_dir`, from its control file."""
    result = subprocess.run(
        [str(receiver.PG_BIN / "pg_controldata"), str(data_dir)],
        capture_output=True,
        check=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    )
    for line in result.stdout.decode().splitlines():
        if line.startswith("Bytes per WAL segment:"):
            return int(line.split(":")[1])
    raise errors.WalError(f"pg_controldata shows no WAL segment size for {data_dir}")


def recover(
    chosen: plan.Plan,
    target: store.Store,
    root: Path,
    *,
    user: str,
    database: str | None,
    port: int,
    run_as: str | None = None,
    dump: bool = True,
    count_rows: bool = False,
) -> Outcome:
    """Recover into a scratch instance under `root`; dump `database` from it into root/../
    (unless not `dump`), its rows per table counted first when `count_rows` (a drill)."""
    instance = scratch.Instance(root, user, run_as, port)
    instance.check_reachable()
    instance.prepare()
    work = root / "work"
    work.mkdir(mode=0o700)
    archive: Path | None = None
    tables: dict[str, int] | None = None
    try:
        basebackup.unpacked(chosen.base, target, instance.data, work)
        fetch_wal(chosen, target, instance.wal, work, segment_size(instance.data))
        instance.configure(chosen.settings)
        instance.start_and_recover()
        if database is not None and count_rows:
            tables = _counted(instance, database)
        if database is not None and dump:
            archive = root.parent / f"{root.name}.pgdump"
            result = subprocess.run(
                [
                    str(receiver.PG_BIN / "pg_dump"),
                    "-Fc",
                    "-f",
                    str(archive),
                    "-d",
                    instance.dsn(database),
                ],
                capture_output=True,
                check=False,
            )
            if result.returncode != 0:
                raise errors.WalError(
                    f"pg_dump of {database} from the recovered instance failed: "
                    f"{result.stderr.decode(errors='replace').strip()}"
                )
    finally:
        if database is not None:
            instance.remove()
        shutil.rmtree(work, ignore_errors=True)
    return Outcome(str(chosen.base.id), len(chosen.bundles), chosen.settings, archive, tables)


def _counted(instance: scratch.Instance, database: str) -> dict[str, int]:
    """Rows per table of `database` in the recovered instance (nobody else connects to it)."""
    try:
        # The database's own settings (a search_path of the owner's) must not choose count().
        connection = psycopg2.connect(instance.dsn(database), options=source.SAFE_OPTIONS)
    except psycopg2.Error as exc:
        raise errors.WalError(
            f"the recovered instance has no database {database} at the target: {exc}"
        ) from None
    connection.autocommit = True
    with contextlib.closing(connection), connection.cursor() as cursor:
        return snapshot.counts(cursor)
