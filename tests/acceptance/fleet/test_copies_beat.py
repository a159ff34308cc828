"""copies.repair by the Procfile's beat: a deleted chat's copies come back in the third
repository, a couple of parts a run, and then runs find nothing to do. Three repositories on
the stand-in and BACKUP_COPIES=2, as in test_copies_three; real worker and beat processes."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from standin.server import BotApiStandin
from tests.acceptance.conftest import Stack
from tests.acceptance.fleet import test_copies_three as three
from tests.acceptance.restore.support import backup_row

INTERVAL = 2  # seconds between two copies.repair runs
PER_RUN = 1  # parts re-created per run: the backups' parts take several runs


def repair_runs(log: str) -> list[str]:
    """The worker's log lines of copies.repair runs that ended (and did not fail)."""
    return [line for line in log.splitlines() if "copies.repair[" in line and "succeeded" in line]


@pytest.mark.timeout(300)
def test_beat_brings_back_the_copies_of_a_deleted_chat_and_then_does_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    tokens = [token for _, token, _ in three.REPOSITORIES]
    chats = [chat for _, _, chat in three.REPOSITORIES]
    with BotApiStandin(tokens=tokens, chats=chats, data_dir=tmp_path / "three") as standin:
        env = {
            **three._settings(standin, tmp_path),
            "COPIES_REPAIR_INTERVAL": str(INTERVAL),
            "COPIES_REPAIR_PARTS": str(PER_RUN),
        }
        worker = stack.start_worker("-n", f"refill-{uuid.uuid4().hex[:6]}@%h", **env)
        jobs = [
            stack.send(project_id=f"proj-refill-{n}", database=stack.source_db) for n in range(2)
        ]
        ids = []
        for job_id in jobs:
            row = stack.wait_job(job_id, timeout=180)
            assert row["status"] == "completed", row["error"]
            ids.append(str(backup_row(stack, "job_id", job_id)["id"]))
        parts = {(backup, index) for backup, index, *_ in three._stored(stack, ids)}

        standin.delete_chat(three.REPOSITORIES[1][2])  # repository `alpha`: chat not found
        stack.start_beat("-s", str(tmp_path / "beat-schedule"), **env)
        deadline = time.monotonic() + 120
        while True:
            rows = three._stored(stack, ids)
            if {(b, i) for b, i, repo, *_ in rows if repo == "beta"} == parts:
                break
            assert time.monotonic() < deadline, f"not repaired: {rows}"
            time.sleep(0.5)
        three._assert_stored_once(standin, rows, alive={"default", "beta"})
        # Bounded: at most PER_RUN parts a run, so it took a run per part at least. The last
        # run's "succeeded" line follows its rows by a moment: wait for it.
        deadline = time.monotonic() + 10
        while len(repair_runs(worker.log())) < len(parts) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(repair_runs(worker.log())) >= len(parts)

        sends = len(standin.messages())
        runs = len(repair_runs(worker.log()))
        deadline = time.monotonic() + 60
        while len(repair_runs(worker.log())) < runs + 3:
            assert time.monotonic() < deadline, "beat sent no more copies.repair"
            time.sleep(0.5)
        assert len(standin.messages()) == sends
        assert three._stored(stack, ids) == rows
        assert "'created': 0" in repair_runs(worker.log())[-1]
