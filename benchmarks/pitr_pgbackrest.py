"""pgBackRest beside this project on one cluster: restore the whole server to the same time.

    make bench-pitr BENCH_ARGS="--seconds 120 --rounds 5"

Needs Debian's `pgbackrest`. One scratch cluster archives through pgBackRest (archive-push,
async, a local posix repository, zstd) while the Procfile's `wal` process streams the same WAL
into the Bot API stand-in; both take a full base backup, then pgbench writes for `--seconds`.
Each round restores the whole server to one time inside both windows with each tool (order
alternating) until it has promoted. Reported: ours / pgBackRest per round (median, min-max),
WAL bytes stored per GB written, the streamer's lag (RPO), messages per minute, and the
recovered row counts (equal, or the run fails).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
from sqlalchemy import func, select

from benchmarks import report
from db import session, wal_models
from tests.support import scratch, services, workers
from tests.support import wal as support
from worker.wal import basebackup, plan, recover
from worker.wal import scratch as scratch_instance
from worker.wal import store as wal_store

SERVER = "bench"
STANZA = "bench"
COUNT = "SELECT count(*) FROM pgbench_history"


def run(seconds: float, rounds: int, rate: int) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="bw-pitr-pgbr-"))
    root.chmod(0o755)  # the instances run as postgres below it
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, True)
        cluster = stack.enter_context(support.source_cluster())
        conf = _pgbackrest_setup(root, cluster)
        url = stack.enter_context(scratch.database("bw_bench_pgbr_", migrated=True))
        redis_number = stack.enter_context(scratch.redis_database())
        standin = stack.enter_context(support.standin())
        database = session.Database(url)
        key = support.new_key(root / "age.key")
        archived_from = _lsn(cluster)  # both archive every WAL byte from here on
        env = support.streamer_env(
            control_url=url,
            redis_url=scratch.redis_url(redis_number),
            standin_url=standin.url,
            key_file=key,
            registry=support.servers_file(
                root / "servers.toml", {SERVER: support.conninfo(cluster)}
            ),
            spool=root / "spool",
            WAL_SERVERS=SERVER,
            WAL_FLUSH_SECONDS="5",  # the RPO asked of the run
            WAL_LEASE_SECONDS="10",
        )
        streamer = workers.start("wal", env, root / "logs")
        stack.callback(streamer.stop, 60)
        while not support.execute(cluster, "SELECT count(*) FROM pg_replication_slots"):
            time.sleep(0.2)  # the streamer holds its slot: it keeps every byte from here on
        support.execute(cluster, "CREATE DATABASE app")
        _pgbench(cluster, "-i", "-q", "-s", "5")
        store = support.store_at(standin.url, root / "parts", key)
        basebackup.take(SERVER, support.conninfo(cluster), database, store)
        _pgbackrest(conf, "backup", "--type=full")
        began_lsn = _lsn(cluster)
        sent_before = _messages(database)
        lags = _workload(cluster, database, seconds, rate)
        sent_during = _messages(database) - sent_before
        written = _lsn(cluster) - began_lsn
        target = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=3)
        target = target.replace(microsecond=target.microsecond // 1000 * 1000)  # pgBackRest's
        support.execute(cluster, "SELECT pg_switch_wal()")
        _pgbackrest(conf, "check")  # waits until the switched segment is in the repository
        _wait_covered(database, target)
        ours_s, theirs_s, counts = [], [], []
        for index in range(rounds):
            order = [_ours, _theirs] if index % 2 == 0 else [_theirs, _ours]
            results = {f.__name__: f(root, index, database, store, conf, target) for f in order}
            ours_s.append(results["_ours"][0])
            theirs_s.append(results["_theirs"][0])
            counts.append((results["_ours"][1], results["_theirs"][1]))
        with database.transaction() as s:
            ours_bytes = int(s.scalar(select(func.sum(wal_models.WalBundle.size_bytes))) or 0)
        archive = root / "pgbr" / "repo" / "archive"
        theirs_bytes = sum(f.stat().st_size for f in archive.rglob("*") if f.is_file())
        archived = _lsn(cluster) - archived_from
    assert all(a == b for a, b in counts), f"the two restores differ: {counts}"
    ratios = report.per_round(ours_s, theirs_s)
    return {
        **report.environment(),
        "branch_figures": True,
        "seconds_of_writes": seconds,
        "pgbench_rate": rate,
        "wal_written_bytes": written,
        "target": target.isoformat(),
        "restore_seconds_ours": ours_s,
        "restore_seconds_pgbackrest": theirs_s,
        "ratio_ours_over_pgbackrest": report.spread(ratios),
        "recovered_rows": counts[0][0],
        "wal_stored_bytes_per_gb_written": {
            "ours": round(ours_bytes / archived * 1e9),
            "pgbackrest": round(theirs_bytes / archived * 1e9),
            "wal_bytes": archived,
        },
        "rpo_lag_seconds": report.spread(lags),
        "messages_per_minute_during_writes": round(sent_during / (seconds / 60), 2),
        "wal_bytes_per_minute_during_writes": round(written / (seconds / 60)),
        "pgbackrest": _version(),
    }


def _ours(
    root: Path,
    index: int,
    database: session.Database,
    store: wal_store.Store,
    _conf: Path,
    target: dt.datetime,
) -> tuple[float, int]:
    where = root / f"ours-{index}"
    port = services.free_port(27400)
    began = time.monotonic()
    chosen = recover.make_plan(database, SERVER, plan.Target(time=target))
    recover.recover(
        chosen, store, where, user="postgres", database=None, port=port, run_as="postgres"
    )
    elapsed = time.monotonic() - began
    instance = scratch_instance.Instance(where, "postgres", "postgres", port)
    try:
        rows = int(str(_query(instance.dsn("app"), COUNT)))
    finally:
        instance.remove()
    return elapsed, rows


def _theirs(
    root: Path,
    index: int,
    _database: session.Database,
    _store: wal_store.Store,
    conf: Path,
    target: dt.datetime,
) -> tuple[float, int]:
    where = root / f"pgbr-{index}"
    where.mkdir(mode=0o700)
    shutil.chown(where, "postgres", "postgres")
    data, sock, port = where / "data", where, services.free_port(27500)
    began = time.monotonic()
    _pgbackrest(
        conf,
        "restore",
        f"--pg1-path={data}",
        "--type=time",
        f"--target={target.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}+00",
        "--target-action=promote",
        "--archive-mode=off",
    )
    with (data / "postgresql.auto.conf").open("a") as auto:
        auto.write(f"port = {port}\nlisten_addresses = ''\nunix_socket_directories = '{sock}'\n")
    pg_ctl = str(services.PG_BIN / "pg_ctl")
    subprocess.run(
        services.as_postgres([pg_ctl, "-D", str(data), "-l", str(where / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    dsn = f"host={sock} port={port} user=postgres dbname=app"
    try:
        while _in_recovery(dsn):
            time.sleep(0.3)
        elapsed = time.monotonic() - began
        return elapsed, int(str(_query(dsn, COUNT)))
    finally:
        subprocess.run(
            services.as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(where, ignore_errors=True)


def _pgbackrest_setup(root: Path, cluster: services.PostgresCluster) -> Path:
    """pgBackRest's configuration, the stanza, and the cluster archiving through it."""
    home = root / "pgbr"
    for name in ("repo", "log", "lock", "spool"):
        (home / name).mkdir(parents=True)
    conf = home / "pgbackrest.conf"
    conf.write_text(
        "[global]\n"
        f"repo1-path={home / 'repo'}\nlog-path={home / 'log'}\nlock-path={home / 'lock'}\n"
        f"spool-path={home / 'spool'}\narchive-async=y\ncompress-type=zst\nstart-fast=y\n"
        "log-level-console=warn\nlog-level-file=off\n"
        f"[{STANZA}]\npg1-path={cluster.data}\npg1-port={cluster.port}\n"
        f"pg1-socket-path={cluster.root}\npg1-user=postgres\n"
    )
    subprocess.run(["chown", "-R", "postgres:postgres", str(home)], check=True)
    command = f"pgbackrest --config={conf} --stanza={STANZA} archive-push %p"
    support.execute(cluster, "ALTER SYSTEM SET archive_mode = on")
    support.execute(cluster, f"ALTER SYSTEM SET archive_command = '{command}'")
    cluster.restart(0.1)
    _pgbackrest(conf, "stanza-create")
    return conf


def _pgbackrest(conf: Path, command: str, *options: str) -> None:
    done = subprocess.run(
        services.as_postgres(
            ["pgbackrest", f"--config={conf}", f"--stanza={STANZA}", *options, command]
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pgbackrest {command}: {done.stdout[-1500:]} {done.stderr[-1500:]}")


def _pgbench(cluster: services.PostgresCluster, *args: str) -> None:
    subprocess.run(_bench(cluster, *args), check=True, capture_output=True)


def _workload(
    cluster: services.PostgresCluster, database: session.Database, seconds: float, rate: int
) -> list[float]:
    """pgbench for `seconds`; the streamer's lag (now less the newest covered time) each second."""
    args = ["-n", "-c", "2", "-R", str(rate), "-T", str(int(seconds))]
    bench = subprocess.Popen(_bench(cluster, *args), stdout=subprocess.DEVNULL)
    lags = []
    began = dt.datetime.now(dt.UTC)
    while bench.poll() is None:
        with database.transaction() as s:
            newest = s.scalar(select(func.max(wal_models.WalBundle.covered_until)))
        now = dt.datetime.now(dt.UTC)
        if newest is not None and newest > began:
            lags.append((now - newest).total_seconds())
        time.sleep(1)
    return lags


def _messages(database: session.Database) -> int:
    """Messages the streamer has sent so far (one per part of each recorded bundle)."""
    with database.transaction() as s:
        return sum(len(parts) for parts in s.scalars(select(wal_models.WalBundle.parts)))


def _bench(cluster: services.PostgresCluster, *args: str) -> list[str]:
    where = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "app"]
    return [str(services.PG_BIN / "pgbench"), *args, *where]


def _wait_covered(database: session.Database, target: dt.datetime) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with database.transaction() as s:
            newest = s.scalar(select(func.max(wal_models.WalBundle.covered_until)))
        if newest is not None and newest >= target:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the streamer did not cover {target}")


def _lsn(cluster: services.PostgresCluster) -> int:
    return int(str(support.execute(cluster, "SELECT pg_current_wal_flush_lsn() - '0/0'")))


def _in_recovery(dsn: str) -> bool:
    try:
        return bool(_query(dsn, "SELECT pg_is_in_recovery()"))
    except psycopg2.OperationalError:
        return True  # not accepting connections yet


def _query(dsn: str, sql: str) -> object:
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
        return None if row is None else row[0]
    finally:
        connection.close()


def _version() -> str:
    done = subprocess.run(["pgbackrest", "version"], capture_output=True, text=True, check=True)
    return done.stdout.strip()
