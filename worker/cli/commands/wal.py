"""`backup-worker wal …`: stream WAL, take base backups, show the window (a restore to a time
is `backup-worker restore --project P --to-time …`, worker/cli/commands/restore.py).

`wal stream` is the long-running process (Procfile `wal`): one thread per server of
WAL_SERVERS, each streaming only while it holds that server's fleet-wide lease.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import uuid
from pathlib import Path

import click
import redis

from db.queries import wal as db_wal
from worker import errors
from worker.cli import common
from worker.jobs.runtime import Runtime
from worker.postgres import servers
from worker.wal import basebackup, lease, lsn, plan, schedule, store, streamer

log = logging.getLogger(__name__)


@click.group()
def wal() -> None:
    """Point-in-time recovery: WAL streaming, base backups, the covered window."""


def _spool(rt: Runtime, server: str) -> Path:
    base = rt.settings.wal_spool_dir or rt.settings.backup_spool_dir / "wal"
    return base / server


def _lease_client(rt: Runtime) -> redis.Redis:
    url = rt.settings.pacer_url
    if url is None:
        raise errors.ConfigError(
            "the WAL streamer's lease needs Redis: set PACER_REDIS_URL or a Redis CELERY_BROKER_URL"
        )
    return redis.Redis.from_url(url)


def _newest_base_backup(rt: Runtime, server: str) -> dt.datetime | None:
    with rt.database.transaction() as session:
        return db_wal.newest_base_backup(session, server)


def _stream_one(rt: Runtime, server: servers.Server, stop: threading.Event) -> None:
    params = server.params()
    config = streamer.Config(
        server.name,
        params.conninfo(),
        _spool(rt, server.name),
        flush_seconds=rt.settings.wal_flush_seconds,
        bundle_bytes=rt.settings.wal_bundle_bytes,
        lease_seconds=rt.settings.wal_lease_seconds,
        password=params.password,
    )
    hours = rt.settings.wal_basebackup_hours
    basebackups = (
        schedule.BaseBackups(
            server.name,
            hours * 3600,
            lambda: basebackup.take(
                server.name,
                params.conninfo(),
                rt.database,
                store.Store.from_runtime(rt, server.name),
                params.password,
            ),
            lambda: _newest_base_backup(rt, server.name),
        )
        if hours > 0
        else None
    )
    while not stop.is_set():
        try:
            streamer.Streamer(
                config,
                rt.database,
                store.Store.from_runtime(rt, server.name),
                lease.Lease(_lease_client(rt), server.name, config.lease_seconds),
                stop=stop,
                basebackups=basebackups,
            ).run()
        except errors.BackupWorkerError as exc:
            log.error("wal: server %s: %s; trying again", server.name, exc)
        stop.wait(config.lease_seconds / 3)


@wal.command("stream")
@click.option("--server", "names", multiple=True, help="a server to stream (default: WAL_SERVERS)")
@common.guard
def stream_command(names: tuple[str, ...]) -> None:
    """Stream WAL of each server into Telegram while this host holds the server's lease."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    rt = common.build_runtime()
    chosen = [rt.registry().get(name) for name in names or rt.settings.wal_servers]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if not chosen:
        log.info("wal: WAL_SERVERS is empty: nothing to stream (idle until stopped)")
    # The line process supervisors (and the tests' harness) wait for.
    log.info("wal: ready, %d server(s): %s", len(chosen), ", ".join(s.name for s in chosen))
    threads = [
        threading.Thread(target=_stream_one, args=(rt, server, stop), name=f"wal-{server.name}")
        for server in chosen
    ]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()


@wal.command("basebackup")
@click.option("--server", default="default", show_default=True, help="source server's name")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def basebackup_command(server: str, as_json: bool) -> None:
    """Take a base backup of the whole server into Telegram (pg_basebackup, tar, streamed)."""
    rt = common.build_runtime()
    source = rt.registry().get(server)
    params = source.params()
    row = basebackup.take(
        source.name,
        params.conninfo(),
        rt.database,
        store.Store.from_runtime(rt, source.name),
        params.password,
    )
    common.emit(
        {
            "id": str(row.id),
            "server": row.server,
            "start_lsn": lsn.format_lsn(row.start_lsn),
            "stop_lsn": lsn.format_lsn(row.stop_lsn),
            "stopped_at": row.stopped_at.isoformat(),
            "parts": len(row.parts),
            "size_bytes": row.size_bytes,
        },
        as_json,
    )


@wal.command("verify")
@click.option("--server", default="default", show_default=True, help="source server's name")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def verify_command(server: str, as_json: bool) -> None:
    """The window the server can be recovered to, and every gap per timeline (exit 1 if any)."""
    rt = common.build_runtime()
    with rt.database.transaction() as session:
        bases = list(db_wal.base_backups(session, server))
        bundles = list(db_wal.bundles_of(session, server))
        histories = list(db_wal.histories(session, server))
    report = plan.verify(server, bases, bundles, histories)
    common.emit(report, as_json)
    if report["gaps"]:
        raise SystemExit(1)


@wal.command("mark")
@click.option("--server", default="default", show_default=True, help="source server's name")
@click.option("--database", required=True, help="the database whose rows are counted")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def mark_command(server: str, database: str, as_json: bool) -> None:
    """Count a database's rows at a WAL position, for `wal drill` to recover to and compare."""
    from worker.wal import marks

    rt = common.build_runtime()
    registered = rt.registry().get(server)
    taken = marks.take(
        registered.params(), database, lock_timeout=rt.settings.source_lock_wait_timeout
    )
    mark_id = marks.record(rt.database, registered.name, database, taken)
    common.emit(
        {
            "id": str(mark_id),
            "server": registered.name,
            "database": database,
            "position": lsn.format_lsn(taken.position),
            "taken_at": taken.at.isoformat(),
            "tables": len(taken.tables),
            "rows": sum(taken.tables.values()),
        },
        as_json,
    )


@wal.command("drill")
@click.option("--server", default="default", show_default=True, help="source server's name")
@click.option("--database", required=True, help="the database to recover and count")
@click.option("--mark", "mark_id", type=click.UUID, default=None, help="this mark, not at random")
@click.option("--run-as", default=None, help="OS user the scratch PostgreSQL runs as (when root)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def drill_command(
    server: str, database: str, mark_id: uuid.UUID | None, run_as: str | None, as_json: bool
) -> None:
    """Recover the server to a random mark of the window and compare the database's rows with
    the mark's counts (exit 1 when a table differs)."""
    from worker.wal import drill

    rt = common.build_runtime()
    report = drill.run(rt, server, database, mark_id=mark_id, run_as=run_as)
    common.emit(report.to_json(), as_json)
    if not report.ok:
        raise SystemExit(1)
