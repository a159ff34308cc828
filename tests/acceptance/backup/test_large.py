"""A backup whose compressed dump is larger than Telegram's 50 MB upload limit."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import text

from tests.acceptance.conftest import TOKEN, Stack
from tests.support.sources import drop_database, make_source_database
from worker.telegram.client import TelegramClient

UPLOAD_LIMIT = 50_000_000  # bytes
PART_LIMIT = 20 * 1024 * 1024  # bytes
PARTS_QUERY = 'SELECT * FROM control_plane.backup_parts WHERE backup_id = :id ORDER BY "index"'
RANDOM_MB = 64  # incompressible megabytes; dumped as hex text, zstd brings them back near 1:1


@pytest.fixture(scope="module")
def big_db() -> Iterator[str]:
    name = f"bw_big_{uuid.uuid4().hex[:8]}"
    make_source_database(name, rows=1000)
    conn = psycopg2.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}")
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE blobs (id serial PRIMARY KEY, body bytea)")
        cur.execute(
            """
            INSERT INTO blobs (body)
            SELECT (SELECT decode(string_agg(md5(random()::text || r::text || g), ''), 'hex')
                    FROM generate_series(1, 65536) AS g)
            FROM generate_series(1, %s) AS r
            """,
            (RANDOM_MB,),
        )
    conn.close()
    yield name
    drop_database(name)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dump_larger_than_the_upload_limit_is_split_and_reassembles(
    stack: Stack, big_db: str
) -> None:
    worker = stack.start_worker()
    command = [str(Path(sys.executable).with_name("backup-worker")), "backup"]
    command += ["--project", "proj-big", "--database", big_db, "--wait", "--json"]
    done = subprocess.run(command, env=worker.env, capture_output=True, timeout=500, check=False)
    assert done.returncode == 0, done.stderr.decode()
    outcome = json.loads(done.stdout)
    assert outcome["status"] == "completed"
    backup = outcome["backup"]
    parts = backup["parts"]
    assert backup["part_count"] == len(parts)
    assert backup["size_bytes"] > UPLOAD_LIMIT
    assert len(parts) >= 3
    assert all(part["size_bytes"] <= PART_LIMIT for part in parts)
    assert sum(part["size_bytes"] for part in parts) == backup["size_bytes"]
    with stack.database.engine.connect() as conn:
        recorded = conn.execute(text(PARTS_QUERY), {"id": backup["id"]}).mappings().all()
    assert [row["file_id"] for row in recorded] == [part["file_id"] for part in parts]
    captions = [str(message["caption"]) for message in stack.standin.messages()]
    assert len(captions) == len(parts)
    # Part 1 went out while pg_dump was still writing part 2 (it cannot know the total yet);
    # the last part, sent once the dump ended, gives it.
    assert "part 1, more follow" in captions[0]
    assert f"part {len(parts)}/{len(parts)}" in captions[-1]
    joined = stack.tmp / "big.zst"
    with TelegramClient(TOKEN, stack.standin.url) as client, joined.open("wb") as sink:
        for part in parts:
            client.download_file(str(part["file_id"]), sink)
    sha = hashlib.sha256()
    with joined.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    assert sha.hexdigest() == backup["sha256"]
    listing = subprocess.run(
        f"zstd -dc {joined} | pg_restore -l",
        shell=True,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "TABLE DATA public blobs" in listing
