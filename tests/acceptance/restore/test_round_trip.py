"""Backup then restore end to end: real workers, Redis, PostgreSQL, pg_dump/pg_restore, stand-in.

The same encrypted backup is restored by the worker and by hand (curl, cat, age, zstd,
pg_restore), and both copies dump identically to the source.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.acceptance.conftest import TOKEN, Stack
from tests.acceptance.restore.support import (
    PART_SIZE,
    age_keygen,
    assert_same_database,
    backup_row,
    cli,
    follow,
    make_backup,
    new_target,
    send_restore,
    targets,
)
from tests.support.sources import ADMIN_DSN, admin_execute, drop_database
from tests.support.stack import job_row

__all__ = ["targets"]  # a fixture, used by name

RICH_SCHEMA = """
CREATE TYPE mood AS ENUM ('happy', 'sad', 'ärgerlich');
CREATE SEQUENCE invoice_no START 1000 INCREMENT 7;
CREATE SCHEMA extra;
CREATE TABLE extra.settings (k text PRIMARY KEY, v text NOT NULL);
CREATE TABLE customers (
    id serial PRIMARY KEY,
    name text NOT NULL CHECK (length(name) > 0),
    city text,
    mood mood,
    joined date NOT NULL DEFAULT '2024-01-01'
);
CREATE UNIQUE INDEX customers_lower_name ON customers (lower(name));
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    invoice int NOT NULL DEFAULT nextval('invoice_no'),
    amount numeric(12, 2) CHECK (amount >= 0),
    note text,
    payload jsonb,
    doc bytea,
    UNIQUE (invoice)
);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_payload ON orders USING gin (payload);
CREATE FUNCTION order_total(customer int) RETURNS numeric LANGUAGE sql STABLE
    AS $$ SELECT coalesce(sum(amount), 0) FROM orders WHERE customer_id = customer $$;
CREATE FUNCTION stamp_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.note := coalesce(NEW.note, 'ohne Notiz – 無し');
    RETURN NEW;
END $$;
CREATE TRIGGER orders_note BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION stamp_note();
CREATE VIEW big_spenders AS
    SELECT c.name, order_total(c.id) AS total FROM customers c WHERE order_total(c.id) > 1000;
COMMENT ON TABLE customers IS 'Kunden – お客様 – клиенты';
INSERT INTO extra.settings VALUES ('greeting', 'Grüß Gott 👋'), ('motd', 'línea ñ');
INSERT INTO customers (name, city, mood) VALUES
    ('Zoë Ångström', 'Malmö', 'happy'), ('山田太郎', '東京', 'sad'),
    ('Мария Иванова', 'Москва', 'ärgerlich'), ('O''Brien', 'Dún Laoghaire', NULL);
INSERT INTO orders (customer_id, amount, note, payload, doc)
    SELECT 1 + i % 4, (i % 997) * 1.25,
           CASE WHEN i % 3 = 0 THEN NULL ELSE 'Bestellung ' || i || ' – größer' END,
           jsonb_build_object('n', i, 'tag', md5(i::text), 'ü', i % 7 = 0),
           sha256(i::text::bytea)
    FROM generate_series(1, 20000) AS i;
CREATE MATERIALIZED VIEW order_counts AS
    SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id;
SELECT setval('invoice_no', 500000);
SELECT lo_from_bytea(0, convert_to('Größe – 大きい – große Objekte', 'UTF8'));
SELECT lo_from_bytea(0, decode(repeat(md5('lo'), 4096), 'hex'));
"""


def make_rich_database(name: str) -> None:
    """Tables, indexes, constraints, sequences, views, functions, large objects, non-ASCII."""
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    conn = psycopg2.connect(ADMIN_DSN.replace("dbname=postgres", f"dbname={name}"))
    with conn, conn.cursor() as cur:
        cur.execute(RICH_SCHEMA)
    conn.close()


@pytest.fixture(scope="module")
def rich_db() -> Iterator[str]:
    name = f"bw_rich_{uuid.uuid4().hex[:8]}"
    make_rich_database(name)
    yield name
    drop_database(name)


DOC = Path(__file__).resolve().parents[3] / "docs" / "restore.md"


def by_hand_blocks() -> tuple[str, str]:
    """The two shell blocks of docs/restore.md's "Restoring by hand": the queries, the restore."""
    section = DOC.read_text().split("## Restoring by hand", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) == 2, "docs/restore.md: the by-hand section should hold two sh blocks"
    return blocks[0], blocks[1]


def run_bash(script: str, workdir: Path, **env: str) -> str:
    """`script` under `set -euo pipefail`, PostgreSQL's clients pointed at the test server."""
    environment = {**os.environ, "PGHOST": "127.0.0.1", "PGUSER": "postgres", **env}
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def restore_by_hand(
    stack: Stack, backup: dict[str, object], key: Path, target: str, workdir: Path
) -> str:
    """docs/restore.md's by-hand restore, as the page shows it, run by bash; returns the
    artifact's sha256sum."""
    queries, restore = by_hand_blocks()
    workdir.mkdir()
    control = stack.control_url.replace("+psycopg2", "")
    found = run_bash(queries, workdir, CONTROL=control, BACKUP_ID=str(backup["id"]))
    database, digest, owner = found.strip().split("|")
    assert (database, digest) == (backup["database"], backup["sha256"])
    assert owner == "postgres"  # make_rich_database's owner, recorded when the dump ran
    out = run_bash(
        restore,
        workdir,
        API=stack.standin.url,
        TOKEN=TOKEN,
        KEY=str(key),
        OWNER=owner,
        TARGET=target,
    )
    return out.split()[0]


def test_encrypted_backup_round_trips_through_the_worker_and_by_hand(
    stack: Stack, rich_db: str, targets: list[str], tmp_path: Path
) -> None:
    old_key, new_key = tmp_path / "old-key.txt", tmp_path / "new-key.txt"
    recipients = [age_keygen(old_key), age_keygen(new_key)]
    worker = stack.start_worker(
        BACKUP_PART_SIZE=PART_SIZE,
        BACKUP_AGE_RECIPIENTS=",".join(recipients),
        BACKUP_AGE_IDENTITY_FILE=str(new_key),
    )
    backup = make_backup(stack, rich_db)
    assert backup["encrypted"] is True
    assert backup["encryption_recipients"] == recipients
    assert int(str(backup["part_count"])) >= 5
    stored = sorted((stack.standin.data_dir / "files").iterdir())
    assert stored
    for path in stored:
        data = path.read_bytes()
        assert b"PGDMP" not in data
        assert "Ångström".encode() not in data
    assert any(p.read_bytes().startswith(b"age-encryption.org/v1\n") for p in stored)
    # The first part went over the link while the dump wrote it (worker.artifact.growing): its
    # caption could not give its hash. The restores below read it like any other.
    captions = [str(message.get("caption")) for message in stack.standin.messages()]
    assert any("part 1, more follow" in c and "sha256" not in c for c in captions), captions

    # The worker restores with the new key only (rotation: either key opens the backup).
    target = new_target(targets)
    job_id = send_restore(stack, backup_id=str(backup["id"]), target_database=target)
    seen = follow(stack, job_id)
    row = job_row(stack.database, job_id)
    assert row is not None
    assert row["status"] == "completed", row["error"]
    assert row["type"] == "restore"
    stages = [stage for _, stage, _ in seen if stage]
    order = {"download": 0, "verify": 1, "restore": 2}
    assert [order[s] for s in stages] == sorted(order[s] for s in stages)
    assert {"download", "restore"} <= set(stages)
    progress = [value for _, _, value in seen]
    assert progress == sorted(progress)
    assert progress[-1] == 100
    assert_same_database(rich_db, target)
    assert not any((stack.tmp / "spool").rglob("artifact"))

    # By hand, with the old key and standard tools only, the same backup gives the same result.
    by_hand = new_target(targets, "hand")
    digest = restore_by_hand(stack, backup, old_key, by_hand, tmp_path / "by-hand")
    assert digest == backup["sha256"]
    assert_same_database(rich_db, by_hand)

    # The operator's verify goes through the worker and records its verdict.
    done = cli(worker.env, "verify", str(backup["id"]), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["status"] == "completed"
    contents = outcome["verification"]["contents"]
    assert contents["database"] == rich_db
    assert contents["kinds"]["BLOB"] == 2
    assert contents["kinds"]["TABLE"] == 3
    recorded = backup_row(stack, "id", backup["id"])
    assert recorded["verify_status"] == "ok"
    assert recorded["verified_at"] is not None
    assert worker.proc.poll() is None
    assert TOKEN.split(":", 1)[1] not in worker.log()
