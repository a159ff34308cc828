"""The restore and verify steps in-process: real PostgreSQL, pg_dump/pg_restore, the stand-in."""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pyrage
import pytest
from sqlalchemy import update

from db import models, session
from db.queries import backups as db_backups
from db.queries import jobs as db_jobs
from standin.server import BotApiStandin
from tests.support.sources import ADMIN_DSN, database_exists, drop_database, make_source_database
from worker import errors, settings
from worker.backup import dump
from worker.jobs import runtime, spool
from worker.postgres import offsets
from worker.restore import job as rj
from worker.restore import load, verify
from worker.restore import steps as restore
from worker.telegram.client import TelegramClient

TOKEN = "123456:RESTORE-token-ABCdefGHIjklMNOpqrSTUvw"
CHAT = -1001112223334
SOURCE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PART_SIZE = 64 * 1024


@dataclass
class Env:
    """What a step test needs: the runtime, the stand-in and a key pair."""

    rt: runtime.Runtime
    standin: BotApiStandin
    key_file: Path
    recipient: str
    tmp: Path


@pytest.fixture(scope="module")
def source_db() -> Iterator[str]:
    name = f"bw_rsrc_{uuid.uuid4().hex[:8]}"
    make_source_database(name, rows=15000)
    conn = psycopg2.connect(f"{ADMIN_DSN.replace('dbname=postgres', f'dbname={name}')}")
    with conn, conn.cursor() as cur:
        cur.execute("SELECT lo_from_bytea(0, convert_to('große Datei ✓', 'UTF8'))")
    conn.close()
    yield name
    drop_database(name)


@pytest.fixture
def env(database: session.Database, tmp_path: Path) -> Iterator[Env]:
    key = pyrage.x25519.Identity.generate()
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"# test key\n{key}\n")
    with BotApiStandin(tokens=[TOKEN], chats=[CHAT], data_dir=tmp_path / "standin") as standin:
        config = settings.Settings(
            database_url=database.url,
            source_database_url=SOURCE_URL,
            telegram_bot_token=TOKEN,
            telegram_chat_id=str(CHAT),
            telegram_api_url=standin.url,
            telegram_max_attempts=3,
            backup_part_size=PART_SIZE,
            backup_spool_dir=tmp_path / "spool",
            backup_age_identity_file=key_file,
        )
        rt = runtime.Runtime(settings=config, database=database)
        yield Env(rt, standin, key_file, str(key.to_public()), tmp_path)
        rt.close_telegram()


@pytest.fixture
def targets() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        drop_database(name)


def new_target(targets: list[str]) -> str:
    name = f"bw_rtgt_{uuid.uuid4().hex[:8]}"
    targets.append(name)
    return name


def make_backup(
    env: Env, source_db: str, *, encrypted: bool = True, first_part_size: int | None = None
) -> uuid.UUID:
    """Dump, upload and record a backup the way the backup chain does."""
    spool = env.tmp / "made"
    art = dump.dump_database(
        env.rt.source(),
        source_db,
        spool,
        f"b-{uuid.uuid4().hex[:6]}",
        part_size=PART_SIZE,
        recipients=[env.recipient] if encrypted else [],
        first_part_size=first_part_size,
    )
    with TelegramClient(TOKEN, env.standin.url) as client:
        sent = [client.send_document(CHAT, part.path) for part in art.parts]
    parts = [
        db_backups.NewPart(
            p.index, s.file_id, s.file_unique_id, s.message_id, str(CHAT), p.size_bytes, p.sha256
        )
        for p, s in zip(art.parts, sent, strict=True)
    ]
    new = db_backups.NewBackup(
        project_id="proj-r",
        job_id=None,
        type="database",
        database=source_db,
        filename=art.filename,
        size_bytes=art.size_bytes,
        sha256=art.sha256,
        compression=art.compression,
        encrypted=art.encrypted,
        encryption_recipients=list(art.recipients),
        chat_id=str(CHAT),
        message_thread_id=None,
        caption=None,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        parts=parts,
        # Who owned the database, as the backup chain records it: a restore runs as that role.
        contents={"tables": None, "extensions": [], "owner": _owner_of(source_db)},
    )
    with env.rt.database.transaction() as db:
        row, _ = db_backups.record_backup(db, new)
    return row.id


def _owner_of(database: str) -> str:
    conn = psycopg2.connect(ADMIN_DSN)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (database,)
            )
            row = cur.fetchone()
    finally:
        conn.close()
    assert row is not None
    return str(row[0])


def new_job(env: Env, req: rj.RestoreRequest) -> uuid.UUID:
    backup = rj.load_backup(env.rt, req.backup_id)
    job_id = uuid.uuid4()
    assert rj.accept(env.rt, req, backup, job_id=job_id, celery_task_id=None, hostname="test@host")
    return job_id


def run_chain(env: Env, job_id: uuid.UUID, last: str) -> dict[str, object]:
    """download | last, failing the job as the task wrapper does."""
    step = load.load_step if last == "load" else verify.check_step
    try:
        restore.download_step(env.rt, job_id, hostname="test@host")
        step(env.rt, job_id)
    except errors.BackupWorkerError as exc:
        restore.fail(env.rt, job_id, exc)
    with env.rt.database.transaction() as db:
        job = db_jobs.get_job(db, job_id)
        assert job is not None
        return job.to_json()


def rows(dbname: str, query: str) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(ADMIN_DSN.replace("dbname=postgres", f"dbname={dbname}"))
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return list(cur.fetchall())
    finally:
        conn.close()


def backup_row(env: Env, backup_id: uuid.UUID) -> dict[str, object]:
    with env.rt.database.transaction() as db:
        row = db_backups.get_backup(db, backup_id)
        assert row is not None
        return row.to_json()


def test_encrypted_backup_restores_into_a_new_database(
    env: Env, source_db: str, targets: list[str]
) -> None:
    backup_id = make_backup(env, source_db)
    name = new_target(targets)
    job = run_chain(env, new_job(env, rj.validate(rj.RESTORE, str(backup_id), name)), "load")
    assert job["status"] == "completed", job["error"]
    assert job["progress"] == 100
    assert job["result"]["restore"]["created"] is True  # type: ignore[index]
    phases = job["result"]["restore"]["phase_seconds"]  # type: ignore[index]
    assert set(phases) == {"download", "pg_restore", "check"}
    assert rows(name, "SELECT count(*) FROM items") == rows(source_db, "SELECT count(*) FROM items")
    assert rows(name, "SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata") == [
        ("große Datei ✓",)
    ]
    assert backup_row(env, backup_id)["verify_status"] == "ok"
    assert not (env.tmp / "spool" / str(job["id"])).exists()


def test_a_backup_with_a_small_first_part_restores_the_same_rows(
    env: Env, source_db: str, targets: list[str]
) -> None:
    backup_id = make_backup(env, source_db, first_part_size=PART_SIZE // 16)
    parts = backup_row(env, backup_id)["parts"]
    assert isinstance(parts, list)
    sizes = [part["size_bytes"] for part in parts]
    assert len(sizes) > 2  # the small first part, then full ones
    assert sizes[:-1] == [PART_SIZE // 16] + [PART_SIZE] * (len(sizes) - 2)
    name = new_target(targets)
    job = run_chain(env, new_job(env, rj.validate(rj.RESTORE, str(backup_id), name)), "load")
    assert job["status"] == "completed", job["error"]
    everything = "SELECT id, label, data::text FROM items ORDER BY id"
    assert rows(name, everything) == rows(source_db, everything)
    assert backup_row(env, backup_id)["verify_status"] == "ok"


def scanned_offsets(archive: bytes, tmp: Path) -> int:
    """How many data entries of `archive` a Scanner finds whose offset is not set."""
    with (tmp / "rescanned.pgdump").open("wb") as file:
        scanner = offsets.Scanner(file)
        scanner.write(archive)
        file.flush()
        return scanner.apply(file.fileno())


def test_the_download_decodes_the_archive_for_pg_restore_with_its_data_offsets(
    env: Env, source_db: str, targets: list[str]
) -> None:
    backup_id = make_backup(env, source_db)
    job_id = new_job(env, rj.validate(rj.RESTORE, str(backup_id), new_target(targets)))
    restore.download_step(env.rt, job_id, hostname="test@host")
    archive = spool.archive(env.rt, job_id)
    listing = subprocess.run(["pg_restore", "--list", str(archive)], capture_output=True)
    assert listing.returncode == 0, listing.stderr
    assert b"TABLE DATA public items" in listing.stdout
    piped = subprocess.run(
        [
            "pg_dump",
            "--format=custom",
            "--compress=0",
            f"--dbname=postgresql://postgres@127.0.0.1:5432/{source_db}",
        ],
        capture_output=True,
        check=True,
    ).stdout
    assert scanned_offsets(piped, env.tmp) == 1  # pg_dump into a pipe leaves the offset unset
    assert scanned_offsets(archive.read_bytes(), env.tmp) == 0  # the step has set it
    spool.remove(env.rt, job_id)


def test_verify_reads_the_archive_and_records_the_outcome(env: Env, source_db: str) -> None:
    backup_id = make_backup(env, source_db)
    job = run_chain(env, new_job(env, rj.validate(rj.VERIFY, str(backup_id))), "check")
    assert job["status"] == "completed", job["error"]
    contents = job["result"]["verification"]["contents"]  # type: ignore[index]
    assert contents["database"] == source_db
    assert contents["kinds"]["TABLE"] == 1
    assert contents["kinds"]["BLOB"] == 1
    row = backup_row(env, backup_id)
    assert row["verify_status"] == "ok"
    assert row["verified_at"] is not None


def test_a_corrupted_part_fails_verify_and_restore_naming_it(
    env: Env, source_db: str, targets: list[str]
) -> None:
    backup_id = make_backup(env, source_db, encrypted=False)
    parts = backup_row(env, backup_id)["parts"]
    assert isinstance(parts, list)
    assert len(parts) >= 3
    stored = env.standin.data_dir / "files" / str(parts[1]["sha256"])
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    job = run_chain(env, new_job(env, rj.validate(rj.VERIFY, str(backup_id))), "check")
    assert job["status"] == "failed"
    assert f"part 2 of {len(parts)} is corrupted" in str(job["error"])
    assert backup_row(env, backup_id)["verify_status"] == "failed"
    name = new_target(targets)
    job = run_chain(env, new_job(env, rj.validate(rj.RESTORE, str(backup_id), name)), "load")
    assert job["status"] == "failed"
    assert f"part 2 of {len(parts)} is corrupted" in str(job["error"])
    assert job["stage"] in ("download", "verify")
    assert not database_exists(name)


def test_a_non_empty_target_is_refused_before_any_download(
    env: Env, source_db: str, targets: list[str]
) -> None:
    backup_id = make_backup(env, source_db, encrypted=False)
    name = new_target(targets)
    conn = psycopg2.connect(ADMIN_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    conn = psycopg2.connect(ADMIN_DSN.replace("dbname=postgres", f"dbname={name}"))
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE keep_me (id int)")
    conn.close()
    downloads = len(env.standin.requests("download"))
    job = run_chain(env, new_job(env, rj.validate(rj.RESTORE, str(backup_id), name)), "load")
    assert job["status"] == "failed"
    assert f"target database {name} exists and is not empty" in str(job["error"])
    assert len(env.standin.requests("download")) == downloads
    assert rows(name, "SELECT count(*) FROM keep_me") == [(0,)]
    job = run_chain(env, new_job(env, rj.validate(rj.RESTORE, str(backup_id), name, True)), "load")
    assert job["status"] == "completed", job["error"]
    summary = job["result"]["restore"]  # type: ignore[index]
    assert summary["created"] is False
    # clean restores into staging and swaps it in: the old database is the undo point.
    undo = summary["databases"]["undo"]
    targets.append(undo)
    assert undo == f"{name}__pre_restore_{str(job['id']).replace('-', '')[:8]}"
    assert rows("postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{undo}'") == [(1,)]
    assert rows(name, "SELECT to_regclass('keep_me') IS NULL") == [(True,)]
    assert rows(name, "SELECT count(*) FROM items") == [(15000,)]


def test_the_backups_own_database_is_never_a_target(env: Env, source_db: str) -> None:
    backup_id = make_backup(env, source_db, encrypted=False)
    backup = rj.load_backup(env.rt, backup_id)
    for name in (source_db, "postgres", "template1"):
        req = rj.validate(rj.RESTORE, str(backup_id), name, True)
        with pytest.raises(errors.InputError, match="refusing to restore into"):
            rj.check_target(env.rt, req, backup)


def test_a_wrong_key_fails_before_the_target_is_created(
    env: Env, source_db: str, targets: list[str]
) -> None:
    backup_id = make_backup(env, source_db)
    env.key_file.write_text(f"{pyrage.x25519.Identity.generate()}\n")
    name = new_target(targets)
    job = run_chain(env, new_job(env, rj.validate(rj.RESTORE, str(backup_id), name)), "load")
    assert job["status"] == "failed"
    assert "BACKUP_AGE_IDENTITY_FILE: none of its keys can decrypt this backup" in str(job["error"])
    assert "AGE-SECRET-KEY" not in str(job["error"])
    assert not database_exists(name)
    assert backup_row(env, backup_id)["verify_status"] is None  # a wrong key is no verdict


def test_a_failed_pg_restore_drops_the_target_it_created(env: Env, targets: list[str]) -> None:
    role = f"bw_gone_{uuid.uuid4().hex[:6]}"
    source = f"bw_rsrc_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}"')
    make_source_database(source, rows=100)
    conn = psycopg2.connect(ADMIN_DSN.replace("dbname=postgres", f"dbname={source}"))
    with conn, conn.cursor() as cur:
        # A grant to a role the target server lacks (ownership no longer matters: every
        # object is restored as the database's owner's, --no-owner).
        cur.execute(f'GRANT SELECT ON items TO "{role}"')
    conn.close()
    try:
        backup_id = make_backup(env, source, encrypted=False)
    finally:
        drop_database(source)
        with admin.cursor() as cur:
            cur.execute(f'DROP ROLE "{role}"')
        admin.close()
    name = new_target(targets)
    job = run_chain(env, new_job(env, rj.validate(rj.RESTORE, str(backup_id), name)), "load")
    assert job["status"] == "failed"
    error = str(job["error"])
    assert f'role "{role}" does not exist' in error
    assert f"{name}, created for this restore, was dropped again" in error
    assert not database_exists(name)


def test_an_archive_newer_than_every_pg_restore_is_refused_naming_the_versions(
    env: Env, source_db: str, targets: list[str]
) -> None:
    backup_id = make_backup(env, source_db, encrypted=False)
    with env.rt.database.transaction() as db:
        db.execute(
            update(models.Backup)
            .where(models.Backup.id == backup_id)
            .values(pg_dump_version="99.1")  # a pg_dump from the future: no pg_restore reads it
        )
    name = new_target(targets)
    restored = run_chain(env, new_job(env, rj.validate(rj.RESTORE, str(backup_id), name)), "load")
    verified = run_chain(env, new_job(env, rj.validate(rj.VERIFY, str(backup_id))), "check")
    for job in (restored, verified):
        assert job["status"] == "failed"
        assert "is older than the pg_dump that wrote the archive (99.1)" in str(job["error"])
        assert "install postgresql-client-99 or newer" in str(job["error"])
    assert not database_exists(name)
