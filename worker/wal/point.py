"""A restore to a point, as the CLI asks for it: the target parsed, the database brought back.

The recovered database is dumped from the scratch instance (pg_dump -Fc); the dump goes to the
existing restore path (worker.wal.handoff), new database or replace with undo, so that the
project's code in it runs with its owner's rights only, as in every other restore. A whole
server (disaster recovery) is recovered into a directory the operator names, and kept there.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import tempfile
from pathlib import Path

from worker import errors
from worker.jobs.runtime import Runtime
from worker.postgres import source
from worker.wal import lsn, plan, recover, scratch, store


def parse_target(to_time: str | None, to_lsn: str | None, to_latest: bool) -> plan.Target:
    """Exactly one of --to-time, --to-lsn, --to-latest."""
    if sum((to_time is not None, to_lsn is not None, to_latest)) != 1:
        raise errors.InputError("give exactly one of --to-time, --to-lsn, --to-latest")
    if to_time is not None:
        try:
            when = dt.datetime.fromisoformat(to_time)
        except ValueError:
            raise errors.InputError(
                f"--to-time {to_time!r} is not a time like '2026-12-05 14:03:07+00'"
            ) from None
        if when.utcoffset() is None:
            raise errors.InputError(f"--to-time {to_time!r} needs a time zone, like +00")
        return plan.Target(time=when)
    if to_lsn is not None:
        return plan.Target(position=lsn.parse(to_lsn))
    return plan.Target()


def recovered_dump(
    rt: Runtime, server: str, database: str, target: plan.Target, run_as: str | None
) -> tuple[recover.Outcome, Path]:
    """`database` of `server` at `target`, dumped from a scratch instance (removed again).

    Returns the outcome and the dump's file; the caller removes the file's directory with
    `discard`.
    """
    outcome, _ = recovered(rt, server, database, target, run_as)
    assert outcome.archive is not None
    return outcome, outcome.archive


def recovered(
    rt: Runtime,
    server: str,
    database: str,
    target: plan.Target,
    run_as: str | None,
    *,
    dump: bool = True,
    count_rows: bool = False,
) -> tuple[recover.Outcome, Path]:
    """`database` of `server` recovered to `target` in a scratch instance under a new directory
    of the spool (the instance removed again): dumped there unless not `dump`, its rows
    counted when `count_rows`. Returns the outcome and that directory, which the caller
    removes with `discard`; a failure removes it.
    """
    source.validate_database_name(database)
    registered = rt.registry().get(server)
    chosen = recover.make_plan(rt.database, registered.name, target)
    rt.settings.backup_spool_dir.mkdir(parents=True, exist_ok=True)
    parent = Path(tempfile.mkdtemp(prefix="pitr-", dir=rt.settings.backup_spool_dir))
    parent.chmod(0o755)
    try:
        outcome = recover.recover(
            chosen,
            store.Store.from_runtime(rt, registered.name),
            parent / "scratch",
            user=registered.params().get("user") or "postgres",
            database=database,
            port=free_port(),
            run_as=run_as,
            dump=dump,
            count_rows=count_rows,
        )
    except BaseException:
        discard(parent)
        raise
    return outcome, parent


def recovered_server(
    rt: Runtime, server: str, target: plan.Target, into: Path, run_as: str | None
) -> tuple[recover.Outcome, Path]:
    """The whole of `server` at `target`, recovered into the new directory `into` (disaster
    recovery): its data directory, promoted and shut down cleanly, kept for the operator."""
    if into.exists() and any(into.iterdir()):
        raise errors.InputError(f"{into} is not empty: give a new directory for the recovery")
    registered = rt.registry().get(server)
    chosen = recover.make_plan(rt.database, registered.name, target)
    into.parent.mkdir(parents=True, exist_ok=True)
    user, port = registered.params().get("user") or "postgres", free_port()
    instance = scratch.Instance(into, user, run_as, port)
    try:
        outcome = recover.recover(
            chosen,
            store.Store.from_runtime(rt, registered.name),
            into,
            user=user,
            database=None,
            port=port,
            run_as=run_as,
        )
        instance.stop()
    except BaseException:
        # `into` was new or empty: what a failed recovery left there is nobody's, and a
        # half-recovered data directory must not be mistaken for a result.
        instance.remove()
        raise
    return outcome, instance.data


def discard(directory: Path) -> None:
    """Remove a recovery's directory (the scratch instance already removed)."""
    shutil.rmtree(directory, ignore_errors=True)


def free_port() -> int:
    """A free port number for the scratch instance's socket file name (it opens no TCP port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
