"""Many PostgreSQL servers (issue 13): whole-server backups under a fleet-wide limit per server,
a slot freed by a killed worker, a restore onto another server, and no password anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.acceptance.servers.support import Cluster, Sampler, cluster, make_databases
from tests.support.stack import job_row
from worker.postgres import slots

CLI = str(Path(sys.executable).with_name("backup-worker"))
PORTS = (26131, 26132)  # this branch's range is 26000-26999
LIMIT = 2
DATABASES = 10


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Cluster, Cluster]]:
    with cluster("bw13a", PORTS[0]) as a, cluster("bw13b", PORTS[1]) as b:
        make_databases(a, "pa", DATABASES, rows=20000)
        make_databases(b, "pb", DATABASES, rows=20000)
        yield a, b


def servers_file(tmp: Path, pair: tuple[Cluster, Cluster], max_dumps: int = LIMIT) -> Path:
    lines = []
    for server in pair:
        secret = tmp / f"{server.name}.password"
        secret.write_text(server.password + "\n")
        lines += [
            f"[servers.{server.name}]",
            f'url = "{server.url()}"',
            f'password_file = "{secret}"',
            f"max_dumps = {max_dumps}",
        ]
    path = tmp / "servers.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.Popen[bytes]:
    return subprocess.Popen([CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def rows_text(stack: Stack) -> str:
    with stack.database.engine.connect() as conn:
        found = []
        for table in ("jobs", "backups", "backup_parts"):
            query = text(f"SELECT t::text FROM control_plane.{table} t")
            found += [str(row[0]) for row in conn.execute(query)]
    return "\n".join(found)


def test_whole_servers_under_the_limit_then_a_restore_onto_the_other(
    stack: Stack, servers: tuple[Cluster, Cluster], tmp_path: Path
) -> None:
    a, b = servers
    env = {"SOURCE_SERVERS_FILE": str(servers_file(tmp_path, servers))}
    # Two workers of 4 threads (--concurrency): up to 8 dumps could run at once without the
    # slots; -n: two workers at once on one broker, each a node of its own.
    workers = [
        stack.start_worker("--concurrency=4", "-n", f"srv{index}@%h", **env) for index in range(2)
    ]
    sampler = Sampler([a, b])
    sampler.start()
    try:
        runs = [
            cli(
                workers[0].env,
                "backup",
                "--server",
                s.name,
                "--all",
                "--exclude",
                "postgres",
                "--wait",
                "--json",
            )
            for s in (a, b)
        ]
        outputs = [run.communicate(timeout=600) for run in runs]
    finally:
        sampler.stop()
    reports = []
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err.decode() + out.decode()
        reports.append(json.loads(out))
    jobs = [job for report in reports for job in report["jobs"] if job["job_id"]]
    skipped = [job for report in reports for job in report["jobs"] if not job["job_id"]]
    assert [(job["database"], job["reason"]) for job in skipped] == [
        ("postgres", "excluded by 'postgres'")
    ] * 2
    assert len(jobs) == 2 * DATABASES
    assert {job["status"] for job in jobs} == {"completed"}
    assert {job["project_id"] for job in jobs} == {f"pa{i}" for i in range(DATABASES)} | {
        f"pb{i}" for i in range(DATABASES)
    }
    assert sampler.samples > 20
    assert max(sampler.peaks.values()) <= LIMIT, sampler.peaks
    assert max(sampler.peaks.values()) == LIMIT, sampler.peaks  # the limit was what bound them
    with stack.database.engine.connect() as conn:
        query = text("SELECT server, count(*) FROM control_plane.backups GROUP BY 1")
        by_server = {str(row[0]): int(row[1]) for row in conn.execute(query)}
        dumped_by = conn.execute(text("SELECT DISTINCT pg_dump_version FROM control_plane.backups"))
        versions = {str(row[0]) for row in dumped_by}
    assert by_server == {a.name: DATABASES, b.name: DATABASES}
    # Recorded at dump time: the restore's pg_restore must be at least as new.
    assert [version[:3] for version in versions] == ["15."], versions

    # Move project pa3 to the other server, under its own name there.
    backup_id = next(j["backup"]["id"] for j in jobs if j["project_id"] == "pa3")
    restore = cli(
        workers[1].env,
        "restore",
        backup_id,
        "--target-database",
        "pa3",
        "--target-server",
        b.name,
        "--wait",
        "--json",
    )
    out, err = restore.communicate(timeout=300)
    assert restore.returncode == 0, err.decode() + out.decode()
    assert json.loads(out)["restore"]["target_server"] == b.name
    assert b.dump_schema("pa3") == a.dump_schema("pa3")
    owners = "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
    assert b.query(owners, "pa3") == [("bw_backup",)]  # the owner of pa3 on a, as recorded
    count = "SELECT count(*), sum(n), string_agg(label, ',' ORDER BY id) FROM items"
    assert b.query(count, "pa3") == a.query(count, "pa3")

    # No password in a row, a log line, a message, a file of the run, or a process's arguments.
    worker_logs = "\n".join(worker.log() for worker in workers)
    texts = [rows_text(stack), worker_logs, *sampler.args, out.decode(), err.decode()]
    texts += [o.decode() + e.decode() for o, e in outputs]
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.name.endswith(".password"):
            texts.append(path.read_bytes().decode("latin-1"))
    for server in servers:
        assert not [t for t in texts if server.password in t], server.name


def test_a_killed_worker_frees_its_slot_within_the_lease(
    stack: Stack, servers: tuple[Cluster, Cluster], tmp_path: Path
) -> None:
    a, _ = servers
    lease = 3.0
    env = {
        "SOURCE_SERVERS_FILE": str(servers_file(tmp_path, servers, max_dumps=1)),
        "SOURCE_SLOT_LEASE": str(lease),
    }
    board = slots.Slots(redis.Redis.from_url(stack.broker_url))
    # Both dumps wait behind these locks (the size estimate gives up after 10 s, pg_dump
    # waits its 60 s), the one holding the slot until the worker is killed.
    blockers = [a.admin(name) for name in ("pa1", "pa2")]
    for blocker in blockers:
        blocker.autocommit = False
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
    try:
        worker = stack.start_worker(**env)
        first = stack.send(project_id="pa1", database="pa1", server=a.name)
        second = stack.send(project_id="pa2", database="pa2", server=a.name)
        deadline = time.monotonic() + 60
        while board.counts(a.name) != (1, 1):
            assert time.monotonic() < deadline, board.counts(a.name)
            time.sleep(0.1)
        notes: list[str] = []
        while not notes and time.monotonic() < deadline:
            for jid in (first, second):
                row = job_row(stack.database, jid)
                result = row["result"] if row is not None else None
                if isinstance(result, dict) and result.get("waiting"):
                    notes.append(str(result["waiting"]))
            time.sleep(0.1)
        assert len(notes) == 1, notes
        assert f"waiting for a dump slot on server {a.name}" in notes[0]
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        killed_at = time.monotonic()
        while board.counts(a.name)[0] != 0:
            assert time.monotonic() - killed_at < lease + 1.0, board.counts(a.name)
            time.sleep(0.05)
    finally:
        for blocker in blockers:
            blocker.rollback()
            blocker.close()
        a.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'backup-worker%'"
        )
