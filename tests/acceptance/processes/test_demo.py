"""`backup-worker demo` as a new operator runs it (from its own directory, on the configured
control plane and broker, without a bot): an encrypted backup with a key it creates, restored
through the worker into a new database, and restorable again by a later run."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyrage import x25519

from tests.support import scratch, sources

CLI = str(Path(sys.executable).with_name("backup-worker"))
ROWS = 3000
RUN_TIMEOUT = 240  # seconds for one demo run: a worker and a stand-in start, two jobs run


@pytest.fixture
def source_db() -> Iterator[str]:
    name = f"bw_demo_{uuid.uuid4().hex[:8]}"
    sources.make_source_database(name, rows=ROWS)
    try:
        yield name
    finally:
        for (made,) in sources.query("postgres", "SELECT datname FROM pg_database"):
            if str(made) == name or str(made).startswith(f"{name}_restored_"):
                sources.drop_database(str(made))


def demo(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [CLI, "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return " ".join(output.split())  # rich wraps long lines


def restored(name: str) -> set[str]:
    rows = sources.query("postgres", "SELECT datname FROM pg_database")
    return {str(made) for (made,) in rows if str(made).startswith(f"{name}_restored_")}


@pytest.mark.timeout(2 * RUN_TIMEOUT + 60)
def test_the_demo_encrypts_restores_and_can_restore_again(source_db: str, tmp_path: Path) -> None:
    own = ("TELEGRAM_", "BACKUP_", "CELERY_", "DATABASE_URL", "SOURCE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    with scratch.database("bw_democp_") as control, scratch.redis_database() as number:
        env.update(
            DATABASE_URL=control,  # another name than the default: the demo must honour it
            CELERY_BROKER_URL=scratch.redis_url(number),
            CELERY_RESULT_BACKEND=scratch.redis_url(number),
            SOURCE_DATABASE_URL=sources.SOURCE_URL,
            BACKUP_SPOOL_DIR=str(tmp_path / "spool"),
        )
        said = demo(env, tmp_path, "--database", source_db)

        key = tmp_path / ".demo" / "age-key.txt"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        secret = next(line for line in key.read_text().splitlines() if line.startswith("AGE-"))
        recipient = str(x25519.Identity.from_str(secret).to_public())
        assert f"backups are encrypted to {recipient}; keep a copy of .demo/age-key.txt" in said
        found = re.search(r"backup completed: ([0-9a-f-]{36}), .* encrypted: yes", said)
        assert found is not None, said
        backup_id = found.group(1)
        recorded = sources.query(
            control.rsplit("/", 1)[1],
            "SELECT encrypted, encryption_recipients::text FROM control_plane.backups "
            f"WHERE id = '{backup_id}'",
        )
        assert recorded == [(True, f'["{recipient}"]')]

        (first,) = restored(source_db)
        assert f"restore completed: backup {backup_id} is in the new database {first}" in said
        count = "SELECT count(*) FROM items"
        assert sources.query(first, count) == [(ROWS,)]
        assert f'restore it again: make demo ARGS="--restore {backup_id}"' in said

        # A later run, a new stand-in and worker: the kept key and files restore it again.
        again = demo(env, tmp_path, "--restore", backup_id[:8])  # a prefix, as everywhere
        assert "restore completed" in again
        (second,) = restored(source_db) - {first}
        assert sources.query(second, count) == [(ROWS,)]
