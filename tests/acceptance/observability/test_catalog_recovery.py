"""Lose the control-plane database, rebuild it from the catalog pinned in Telegram, restore.

Real worker, Redis, PostgreSQL, pg_dump and the Bot API stand-in: five projects are backed up,
the catalog is published and pinned, a brand-new control-plane database is recovered from the
chat alone, and a worker that knows only that database restores one of the backups.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from db.session import Database
from tests.acceptance.conftest import CHAT, Stack
from tests.acceptance.restore.support import (
    PART_SIZE,
    assert_same_database,
    cli,
    make_backup,
    new_target,
    send_restore,
    targets,
)
from tests.support import scratch
from tests.support.stack import job_row

__all__ = ["targets"]
PROJECTS = [f"proj-cat-{n}" for n in range(5)]
KEY = "acceptance-catalog-key-0123456789abcdef0123"  # CATALOG_KEY: publish signs, recover checks


@pytest.fixture
def lost_and_rebuilt() -> Iterator[Database]:
    """The control-plane database made anew: migrated, empty."""
    with scratch.database(migrated=True) as url:
        fresh = Database(url)
        yield fresh
        fresh.dispose()


def wait(database: Database, job_id: str, timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = job_row(database, job_id)
        if row is not None and row["status"] in ("completed", "failed", "cancelled"):
            return row
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job_row(database, job_id)}")


@pytest.mark.timeout(600)
def test_recover_from_the_pinned_catalog_then_restore(
    stack: Stack, lost_and_rebuilt: Database, targets: list[str]
) -> None:
    first = stack.start_worker(BACKUP_PART_SIZE=PART_SIZE)
    made = {project: make_backup(stack, stack.source_db, project) for project in PROJECTS}
    assert all(int(str(row["part_count"])) > 1 for row in made.values())
    published = cli(
        stack.env(BACKUP_PART_SIZE=PART_SIZE, CATALOG_KEY=KEY), "catalog", "publish", "--json"
    )
    assert published.returncode == 0, published.stderr
    [chat] = json.loads(published.stdout)["chats"]
    assert (chat["chat_id"], chat["backups"], chat["sent"]) == (CHAT, 5, True)
    first.stop()

    # The old database is gone: everything from here on knows only the new one.
    new_url = lost_and_rebuilt.engine.url.render_as_string(hide_password=False)
    env = stack.env(DATABASE_URL=new_url, CATALOG_KEY=KEY)
    recovered = cli(env, "catalog", "recover", "--chat", CHAT, "--json")
    assert recovered.returncode == 0, recovered.stderr
    summary = json.loads(recovered.stdout)
    assert summary["backups"] == 5
    assert summary["parts"] == sum(int(str(row["part_count"])) for row in made.values())
    with lost_and_rebuilt.engine.connect() as conn:
        found = conn.execute(
            text("SELECT id, project_id, sha256, part_count FROM control_plane.backups")
        ).all()
    assert {(str(r.id), r.project_id, r.sha256, r.part_count) for r in found} == {
        (str(row["id"]), project, row["sha256"], row["part_count"]) for project, row in made.items()
    }
    again = cli(env, "catalog", "recover", "--chat", CHAT, "--json")
    assert again.returncode != 0  # the database is no longer empty

    stack.start_worker(DATABASE_URL=new_url)
    target = new_target(targets, "cat")
    chosen = made[PROJECTS[3]]
    job_id = send_restore(stack, backup_id=str(chosen["id"]), target_database=target)
    row = wait(lost_and_rebuilt, job_id)
    assert row["status"] == "completed", row["error"]
    assert job_row(stack.database, job_id) is None  # the old database saw nothing of it
    assert_same_database(stack.source_db, target)
