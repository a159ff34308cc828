"""One project's database of a shared server (12 databases) back to a time, with the processes
that ship: the Procfile's worker and `wal` process, and `backup-worker` commands.

The project's database is restored to a time as a new database, then in place with undo; every
other database of the server is compared before and after (pg_dump text): untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import text

from standin.server import BotApiStandin
from tests.support import scratch, services, workers
from tests.support import stack as stacks
from tests.support import wal as support

TOKEN = "444444:pitr-shared-secret"
CHAT = "-1004"
PROJECT = "proj-pitr"
DATABASES = [f"tenant_{n:02d}" for n in range(12)]
OURS = DATABASES[5]


def _sql(cluster: services.PostgresCluster, database: str, sql: str) -> list[tuple[object, ...]]:
    connection = psycopg2.connect(cluster.dsn(database))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def _dump(cluster: services.PostgresCluster, database: str) -> str:
    done = subprocess.run(
        [
            str(services.PG_BIN / "pg_dump"),
            "-Fp",
            "--no-owner",
            "--restrict-key=compare",
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            database,
        ],
        capture_output=True,
        check=True,
    )
    return done.stdout.decode()


def _cli(env: dict[str, str], *args: str) -> dict[str, object]:
    done = support.cli(env, *args)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _started_as_an_operator_would(into: Path, whole: dict[str, object]) -> None:
    """Start the recovered data directory with settings of one's own (the recovery's has no
    TCP) and find every database as it was at the target."""
    recovered = services.PostgresCluster(into, services.free_port(27650))
    with (recovered.data / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            f"port = {recovered.port}\nlisten_addresses = '127.0.0.1'\n"
            f"hba_file = '{recovered.data / 'pg_hba.conf'}'\n"
        )
    recovered.start()
    try:
        assert _ids(recovered, OURS) == list(range(1, 61)), whole
        for name in DATABASES:
            if name != OURS:
                assert 1000 not in _ids(recovered, name)  # written after the target
    finally:
        recovered.stop()


def _ids(cluster: services.PostgresCluster, database: str) -> list[object]:
    return [row[0] for row in _sql(cluster, database, "SELECT id FROM items ORDER BY id")]


# Four recoveries (a new database, in place, two drills) and the whole server: about 75 s here.
@pytest.mark.timeout(420)
def test_one_database_of_a_shared_server_back_to_a_time_new_and_in_place(
    redis_db: int, work: Path
) -> None:
    with (
        support.source_cluster() as cluster,
        scratch.database("bw_pitr_shared_", migrated=True) as control,
        BotApiStandin(tokens=[TOKEN], chats=[int(CHAT)]) as standin,
    ):
        for name in DATABASES:
            support.execute(cluster, f'CREATE DATABASE "{name}"')
            _sql(
                cluster,
                name,
                "CREATE TABLE items (id int PRIMARY KEY, label text);"
                f"INSERT INTO items SELECT i, '{name} ' || i FROM generate_series(1, 50) i",
            )
        stack = stacks.Stack(
            standin=standin,
            control_url=control,
            broker_url=scratch.redis_url(redis_db),
            source_url=support.conninfo(cluster),
            token=TOKEN,
            chat=CHAT,
            tmp=work,
            settings={"RESTORE_TARGET_NAMES": "{database}_*"},
        )
        try:
            stack.start_worker()
            streamer = workers.start(
                "wal",
                stack.env(WAL_SERVERS="default", WAL_FLUSH_SECONDS="1", WAL_LEASE_SECONDS="3"),
                work / "logs",
            )
            stack.others.append(streamer)
            env = stack.env()
            _cli(env, "wal", "basebackup", "--server", "default")
            job = stack.wait_job(stack.send(project_id=PROJECT, database=OURS))
            assert job["status"] == "completed", job["error"]

            _sql(cluster, OURS, "INSERT INTO items SELECT i, 'kept' FROM generate_series(51, 60) i")
            mark = _cli(env, "wal", "mark", "--server", "default", "--database", OURS)
            assert mark["rows"] == 60, mark
            target = _sql(cluster, "postgres", "SELECT clock_timestamp()")[0][0]
            assert isinstance(target, dt.datetime)
            time.sleep(1.5)
            # The incident: rows of the project lost, and life goes on in the other databases.
            _sql(cluster, OURS, "DELETE FROM items WHERE id % 2 = 0")
            for name in DATABASES:
                if name != OURS:
                    _sql(cluster, name, "INSERT INTO items VALUES (1000, 'after the target')")
            support.wait_recorded(
                stack.database, cluster, "default", why=lambda: streamer.log()[-2000:]
            )
            others = {name: _dump(cluster, name) for name in DATABASES if name != OURS}
            at = target.isoformat()

            # As root, the scratch PostgreSQL runs as --run-as: the worker's spool (0700) is
            # closed to it, which is said up front instead of pg_ctl failing deep inside.
            refused = support.cli(
                env, "restore", "--project", PROJECT, "--to-time", at,
                "--target-database", f"{OURS}_then", "--run-as", "postgres",
            )  # fmt: skip
            assert refused.returncode != 0
            assert "the scratch PostgreSQL runs as postgres, who cannot reach" in refused.stdout
            reachable = work / "restore-spool"
            reachable.mkdir(mode=0o755)
            env = stack.env(BACKUP_SPOOL_DIR=str(reachable))

            new = _cli(
                env, "restore", "--project", PROJECT, "--to-time", at,
                "--target-database", f"{OURS}_then", "--run-as", "postgres", "--wait",
            )  # fmt: skip
            assert new["status"] == "completed", new
            assert _ids(cluster, f"{OURS}_then") == list(range(1, 61))
            assert len(_ids(cluster, OURS)) == 30  # the live database is left as it was

            replaced = _cli(
                env, "restore", "--project", PROJECT, "--to-time", at,
                "--replace", "--run-as", "postgres", "--wait",
            )  # fmt: skip
            assert replaced["status"] == "completed", replaced
            assert _ids(cluster, OURS) == list(range(1, 61))
            undo = _sql(
                cluster,
                "postgres",
                f"SELECT datname FROM pg_database WHERE datname LIKE '{OURS}__pre_restore_%'",
            )
            assert len(undo) == 1  # the replaced database, kept as the undo point

            for name, before in others.items():
                assert _dump(cluster, name) == before, f"{name} changed"
                assert _ids(cluster, name)[-1] == 1000  # still serving, its own rows intact

            # A drill to a point: the mark is the only one, so the random choice is it.
            drilled = _cli(
                env, "wal", "drill", "--server", "default", "--database", OURS,
                "--run-as", "postgres",
            )  # fmt: skip
            assert drilled["ok"] is True, drilled
            assert drilled["mark"] == mark["id"]
            assert drilled["tables"] == [
                {"table": "public.items", "recorded": 60, "recovered": 60, "ok": True}
            ]
            with stack.database.transaction() as s:
                s.execute(
                    text("UPDATE control_plane.wal_marks SET tables = '{\"public.items\": 59}'")
                )
            differs = support.cli(
                env, "wal", "drill", "--server", "default", "--database", OURS,
                "--mark", str(mark["id"]), "--run-as", "postgres",
            )  # fmt: skip
            assert differs.returncode == 1, differs.stdout + differs.stderr
            assert json.loads(differs.stdout)["differ"] == ["public.items"]
            with stack.database.transaction() as s:
                verdict = s.execute(text("SELECT drill_status FROM control_plane.wal_marks"))
                assert verdict.scalar_one() == "failed"

            # Disaster recovery: the whole server at the target, in a new data directory.
            into = work / "whole"
            whole = _cli(
                env, "restore", "server", "--server", "default", "--to-time", at,
                "--into", str(into), "--run-as", "postgres",
            )  # fmt: skip
            assert whole["data_directory"] == str(into / "data")
            _started_as_an_operator_would(into, whole)
            again = support.cli(
                env, "restore", "server", "--server", "default", "--to-latest",
                "--into", str(into), "--run-as", "postgres",
            )  # fmt: skip
            assert again.returncode != 0
            assert f"{into} is not empty: give a new directory" in again.stdout
        finally:
            stack.close()
