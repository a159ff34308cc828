"""Point-in-time recovery under load (issue 23's acceptance; not a CI test).

    python -m benchmarks.pitr --minutes 10 --flush 60 --lease 30
    python -m benchmarks.pitr --against pgbackrest --seconds 120 --rounds 5   (pitr_pgbackrest)

A scratch source cluster (track_commit_timestamp on) takes pgbench load plus a commit log
(one row per transaction); two streamer processes share its lease; the holder is SIGKILLed
half way. The streamers are the Procfile's `wal` process (`backup-worker wal stream`), with
WAL_FLUSH_SECONDS and WAL_LEASE_SECONDS set from --flush and --lease. Reported: the takeover
time, the RPO at the kill (the kill's time less the newest recorded `covered_until`) and the
lag over the run, messages per minute, the bytes stored per WAL byte, and for three random
targets in the window the time to restore and whether the restored commit log holds exactly
the rows whose commit timestamp is at or before the target. MARKS drill marks are taken under
the load (`backup-worker wal mark`, timed: its locks wait for pgbench's transactions) and each
is drilled after the run (`backup-worker wal drill --mark`): whether the recovery held exactly
the rows counted at the mark.

Each restore is an operator's: `backup-worker restore --project P --to-time T --target-database
NEW --wait`, its process timed from start to exit (the RTO), with the Procfile's worker running
the restore job it enqueues. The project is registered as the gateway does: one backup of the
cluster's database, taken before the load.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import redis
from sqlalchemy import func, select

from db import session, wal_models
from tests.support import scratch, services, workers
from tests.support import stack as stacks
from tests.support import wal as support
from worker.wal import basebackup, lease, plan, recover

SERVER = "bench"
PROJECT = "bench-pitr"
RESTORE_TIMEOUT = 1800  # seconds for one CLI restore, a 10-minute run's WAL replayed
MARKS = 4  # drill marks taken under the load, evenly; each drilled after the run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--flush", type=float, default=60)
    parser.add_argument("--lease", type=float, default=30)
    parser.add_argument("--rate", type=int, default=200, help="pgbench transactions per second")
    parser.add_argument("--against", choices=["pgbackrest"], help="restore side by side with")
    parser.add_argument("--seconds", type=float, default=120, help="writes before --against")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of --against")
    args = parser.parse_args()
    if args.against == "pgbackrest":
        from benchmarks import pitr_pgbackrest

        print(json.dumps(pitr_pgbackrest.run(args.seconds, args.rounds, args.rate), indent=2))
        return
    print(json.dumps(run(args.minutes * 60, args.flush, args.lease, args.rate), indent=2))


def run(seconds: float, flush: float, ttl: float, rate: int) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="bw-pitr-bench-"))
    root.chmod(0o755)  # the scratch instance runs as postgres below it
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, True)
        cluster = stack.enter_context(support.source_cluster())
        support.execute(cluster, "ALTER SYSTEM SET track_commit_timestamp = on")
        cluster.restart(0.1)
        url = stack.enter_context(scratch.database("bw_bench_pitr_", migrated=True))
        redis_number = stack.enter_context(scratch.redis_database())
        standin = stack.enter_context(support.standin())
        database = session.Database(url)
        key = support.new_key(root / "age.key")
        support.execute(cluster, "CREATE DATABASE app")
        support.execute(cluster, "CREATE TABLE log (id bigserial PRIMARY KEY)", "app")
        subprocess.run(_pgbench(cluster, "-i", "-q", "-s", "5"), check=True, capture_output=True)
        registry = support.servers_file(root / "servers.toml", {SERVER: support.conninfo(cluster)})
        processes: list[workers.Process] = []

        def start(name: str) -> workers.Process:
            env = support.streamer_env(
                control_url=url,
                redis_url=scratch.redis_url(redis_number),
                standin_url=standin.url,
                key_file=key,
                registry=registry,
                spool=root / name / "spool",
                WAL_SERVERS=SERVER,
                WAL_FLUSH_SECONDS=str(flush),
                WAL_LEASE_SECONDS=str(ttl),
                # The benchmark takes its base backup itself, before pgbench starts: the
                # restores replay the same WAL whichever streamer holds the lease.
                WAL_BASEBACKUP_HOURS="0",
            )
            process = support.start_streamer(env, root / "logs")
            processes.append(process)
            return process

        operator = stacks.Stack(
            standin=standin,
            control_url=url,
            broker_url=scratch.redis_url(redis_number),
            token=support.TOKEN,
            chat=support.CHAT,
            tmp=root / "stack",
            settings={
                **support.key_and_registry(key, registry),
                "RESTORE_TARGET_NAMES": "{database}_*",
            },
        )
        stack.callback(operator.close)
        operator.start_worker()
        registered = operator.wait_job(
            operator.send(project_id=PROJECT, database="app", server=SERVER)
        )
        assert registered["status"] == "completed", registered["error"]
        client = redis.Redis.from_url(scratch.redis_url(redis_number))
        first = start("a")
        while client.get(lease.KEY.format(SERVER)) is None:
            time.sleep(0.2)
        start("b")
        store = support.store_at(standin.url, root / "parts", key)
        base_began = time.monotonic()
        base = basebackup.take(SERVER, support.conninfo(cluster), database, store)
        base_seconds = time.monotonic() - base_began
        began = time.monotonic()
        stop = threading.Event()
        writer = threading.Thread(target=_commit_log, args=(cluster, stop))
        writer.start()
        bench = subprocess.Popen(
            _pgbench(cluster, "-n", "-c", "2", "-R", str(rate), "-T", str(int(seconds))),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        lags: list[float] = []
        killed: dict[str, float] = {}
        marks: list[dict[str, object]] = []
        while time.monotonic() - began < seconds:
            if time.monotonic() - began >= (len(marks) + 1) * seconds / (MARKS + 1):
                marks.append(_mark(operator.env()))
            newest = _newest_covered(database)
            now = dt.datetime.now(dt.UTC)
            if newest is not None and newest > base.started_at:  # the first bundle claims nothing
                lags.append((now - newest).total_seconds())
            if not killed and time.monotonic() - began >= seconds / 2:
                holder = client.get(lease.KEY.format(SERVER))
                first.kill()  # the host dies: the streamer and its pg_receivewal
                killed = {
                    "at": time.monotonic(),
                    "rpo": (now - newest).total_seconds() if newest else -1.0,
                }
                while client.get(lease.KEY.format(SERVER)) in (None, holder):
                    time.sleep(0.1)
                killed["takeover"] = time.monotonic() - killed["at"]
            time.sleep(1)
        bench.wait()
        stop.set()
        writer.join()
        ended = dt.datetime.now(dt.UTC)
        flushed = int(str(support.execute(cluster, "SELECT pg_current_wal_flush_lsn() - '0/0'")))
        while (_newest_end(database) or 0) < flushed:
            time.sleep(0.5)
        for process in processes:
            process.stop(60)
        with database.transaction() as s:
            bundles = list(
                s.scalars(select(wal_models.WalBundle).order_by(wal_models.WalBundle.start_lsn))
            )
            gaps = plan.gaps(bundles)
            messages = sum(len(b.parts) for b in bundles)
            stored = sum(b.size_bytes for b in bundles)
            wal_bytes = sum(b.end_lsn - b.start_lsn for b in bundles)
            s.expunge_all()
        commits = _commit_times(cluster)
        window_from, window_to = base.stopped_at, min(ended, bundles[-1].covered_until)
        restores = []
        # The scratch PostgreSQL runs as postgres when we are root: its spool must be reachable.
        spool = root / "restore-spool"
        spool.mkdir(mode=0o755)
        env = operator.env(BACKUP_SPOOL_DIR=str(spool))
        for number in range(3):
            span = (window_to - window_from).total_seconds()
            offset = random.uniform(0, span)  # noqa: S311 - a sample, not a secret
            target = window_from + dt.timedelta(seconds=offset)
            restores.append(_restore(env, database, cluster, f"app_at_{number}", target, commits))
        drills = [
            _drill(env, str(mark["id"])) | {"mark_seconds": mark["seconds"]} for mark in marks
        ]
        return {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "load": os.getloadavg(),
            "seconds": seconds,
            "flush_seconds": flush,
            "lease_seconds": ttl,
            "pgbench_rate": rate,
            "takeover_seconds": round(killed.get("takeover", -1), 1),
            "rpo_at_kill_seconds": round(killed.get("rpo", -1), 1),
            "lag_max_seconds": round(max(lags), 1) if lags else None,
            "lag_mean_seconds": round(sum(lags) / len(lags), 1) if lags else None,
            "bundles": len(bundles),
            "gaps": len(gaps),
            "messages_per_minute": round(messages / (seconds / 60), 2),
            "wal_bytes": wal_bytes,
            "stored_bytes": stored,
            "base_backup_bytes": base.size_bytes,
            "base_backup_seconds": round(base_seconds, 1),
            "restores": restores,
            "drills": drills,
        }


def _pgbench(cluster: services.PostgresCluster, *options: str) -> list[str]:
    """pgbench with `options` on the cluster's `app` database."""
    where = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "app"]
    return [str(services.PG_BIN / "pgbench"), *options, *where]


def _commit_log(cluster: services.PostgresCluster, stop: threading.Event) -> None:
    connection = psycopg2.connect(cluster.dsn("app"))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            while not stop.is_set():
                cursor.execute("INSERT INTO log DEFAULT VALUES")
                time.sleep(0.01)
    finally:
        connection.close()


def _commit_times(cluster: services.PostgresCluster) -> dict[int, dt.datetime]:
    connection = psycopg2.connect(cluster.dsn("app"))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, pg_xact_commit_timestamp(xmin) FROM log")
            return {int(row[0]): row[1] for row in cursor.fetchall()}
    finally:
        connection.close()


def _newest_covered(database: session.Database) -> dt.datetime | None:
    with database.transaction() as s:
        return s.scalar(select(func.max(wal_models.WalBundle.covered_until)))


def _newest_end(database: session.Database) -> int | None:
    with database.transaction() as s:
        return s.scalar(select(func.max(wal_models.WalBundle.end_lsn)))


def _restore(
    env: dict[str, str],
    database: session.Database,
    cluster: services.PostgresCluster,
    into: str,
    target: dt.datetime,
    commits: dict[int, dt.datetime],
) -> dict[str, object]:
    run_as = ["--run-as", "postgres"] if os.geteuid() == 0 else []
    started = time.monotonic()
    done = support.cli(
        env, "restore", "--project", PROJECT, "--to-time", target.isoformat(),
        "--target-database", into, *run_as, "--wait", timeout=RESTORE_TIMEOUT,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    connection = psycopg2.connect(cluster.dsn(into))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM log")
            restored = {int(row[0]) for row in cursor.fetchall()}
    finally:
        connection.close()
    # The CLI chose this plan from the same records: the bundles it replayed.
    chosen = recover.make_plan(database, SERVER, plan.Target(time=target))
    expected = {number for number, at in commits.items() if at <= target}
    return {
        "target": target.isoformat(),
        "via": "cli",
        "seconds_to_restore": round(elapsed, 1),
        "bundles_replayed": len(chosen.bundles),
        "rows_expected": len(expected),
        "rows_restored": len(restored),
        "exact": restored == expected,
    }


def _mark(env: dict[str, str]) -> dict[str, object]:
    """`backup-worker wal mark` on the loaded database, timed (its locks wait for pgbench)."""
    started = time.monotonic()
    done = support.cli(env, "wal", "mark", "--server", SERVER, "--database", "app")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    found: dict[str, object] = json.loads(done.stdout)
    return found | {"seconds": round(time.monotonic() - started, 1)}


def _drill(env: dict[str, str], mark: str) -> dict[str, object]:
    """`backup-worker wal drill --mark` after the run, timed; what it found."""
    run_as = ["--run-as", "postgres"] if os.geteuid() == 0 else []
    started = time.monotonic()
    done = support.cli(
        env, "wal", "drill", "--server", SERVER, "--database", "app", "--mark", mark, *run_as,
        timeout=RESTORE_TIMEOUT,
    )  # fmt: skip
    report = json.loads(done.stdout)
    return {
        "mark": mark,
        "position": report.get("position"),
        "ok": report.get("ok"),
        "exit": done.returncode,
        "tables": len(report.get("tables") or []),
        "rows": sum(int(t.get("recorded") or 0) for t in report.get("tables") or []),
        "differ": report.get("differ"),
        "seconds": round(time.monotonic() - started, 1),
    }


if __name__ == "__main__":
    main()
