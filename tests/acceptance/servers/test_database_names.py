"""A whole-server backup takes every database the server holds, whatever its legal name, and each
one comes back by a replace (issue 21): dots, spaces, upper case, quotes, non-ASCII, 63 bytes,
and names that look like paths, options or conninfo. Only --exclude and the templates are left
out, and the output says which."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg2 import sql

from tests.acceptance.conftest import Stack
from tests.acceptance.servers.support import ROLE, Cluster, cluster
from tests.support import services

CLI = str(Path(sys.executable).with_name("backup-worker"))
NAMES = [
    "app.prod",
    "My Shop DB",
    "UPPER_case",
    'it\'s "quoted"',
    "Ünïcødé БД",
    "é" * 31 + "a",  # 63 bytes
    "../etc/x",
    "-dpostgres host=evil",
]
# A database whose dump cannot take its table's lock (held by another session): its job fails,
# naming it, instead of being left out.
LOCKED = "Locked. DB"
CONTENT = "SELECT count(*), sum(n), string_agg(label, ',' ORDER BY id) FROM items"


@pytest.fixture(scope="module")
def named() -> Iterator[Cluster]:
    with cluster(f"bw_names_{uuid.uuid4().hex[:6]}", services.free_port(26600)) as made:
        for index, name in enumerate([*NAMES, LOCKED]):
            made.query(
                sql.SQL("CREATE DATABASE {} OWNER {}")
                .format(sql.Identifier(name), sql.Identifier(ROLE))
                .as_string(made.admin())
            )
            made.query(
                "CREATE TABLE items (id serial PRIMARY KEY, label text, n int);"
                f"INSERT INTO items (label, n) SELECT md5(i::text), i * {index + 1} "
                "FROM generate_series(1, 500) AS i;",
                name,
            )
        made.query("CREATE DATABASE closed_one ALLOW_CONNECTIONS false")
        yield made


def cli(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finished(
    run: subprocess.Popen[bytes], timeout: float = 120, status: int = 0
) -> dict[str, object]:
    out, err = run.communicate(timeout=timeout)
    assert run.returncode == status, err.decode() + out.decode()
    found: dict[str, object] = json.loads(out)
    return found


@pytest.mark.timeout(180)
def test_every_legal_name_is_backed_up_and_restored(
    stack: Stack, named: Cluster, tmp_path: Path
) -> None:
    secret = tmp_path / "names.password"
    secret.write_text(named.password + "\n")
    registry = tmp_path / "servers.toml"
    registry.write_text(
        f'[servers.{named.name}]\nurl = "{named.url()}"\npassword_file = "{secret}"\n'
    )
    env = {"SOURCE_SERVERS_FILE": str(registry), "SOURCE_LOCK_WAIT_TIMEOUT": "1"}
    worker = stack.start_worker("--concurrency=4", **env)
    expected = {name: named.query(CONTENT, name) for name in NAMES}
    holder = named.admin(LOCKED)
    with holder.cursor() as cur:
        cur.execute("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
    try:
        run = cli(
            worker.env,
            "backup",
            "--server",
            named.name,
            "--all",
            "--exclude",
            "postgres",
            "--wait",
            "--json",
        )
        report = finished(run, status=1)  # one job failed: the command says so
    finally:
        holder.close()
    jobs = report["jobs"]
    assert isinstance(jobs, list)
    by_name = {job["database"]: job for job in jobs}
    # Nothing but --exclude leaves one out (templates and closed ones are not listed).
    assert set(by_name) == {*NAMES, LOCKED, "postgres"}, by_name
    assert report["status"] == "failed"
    assert by_name[LOCKED]["status"] == "failed", by_name[LOCKED]
    assert "lock" in str(by_name[LOCKED]["error"]), by_name[LOCKED]
    assert by_name["postgres"]["status"] == "skipped"
    assert by_name["postgres"]["reason"] == "excluded by 'postgres'"
    backed_up = {name: by_name[name] for name in NAMES}
    assert {job["status"] for job in backed_up.values()} == {"completed"}, backed_up
    assert backed_up["app.prod"]["project_id"] == "app.prod"
    assert len({job["project_id"] for job in backed_up.values()}) == len(NAMES)
    spool = Path(worker.env["BACKUP_SPOOL_DIR"])
    assert not (spool.parent / "etc").exists()  # ../etc/x wrote nothing outside the spool

    # Every database changed, then put back by a replace of its backup.
    for name in NAMES:
        named.query("DELETE FROM items WHERE id % 2 = 0", name)
    restores = [
        cli(
            worker.env,
            "restore",
            "backup",
            str(job["backup"]["id"]),
            "--replace",
            "--wait",
            "--json",
        )
        for job in backed_up.values()
    ]
    for run in restores:
        assert finished(run)["status"] == "completed"
    assert {name: named.query(CONTENT, name) for name in NAMES} == expected
