"""A job's outcome as `backup --wait`, `restore --wait`, `verify` and `jobs show` print it
without --json: a few labelled lines, the exit status of a job that did not complete."""

from __future__ import annotations

from worker.cli import common, outcome

JOB = "f52ae7a8-c5d1-4b6e-9a0f-0123456789ab"
BACKUP = "0a1b2c3d-0000-4000-8000-000000000001"


def job(status: str, result: object = None, error: str | None = None) -> common.Row:
    return {
        "id": JOB,
        "type": "backup",
        "project_id": "p1",
        "status": status,
        "stage": "upload",
        "progress": 37,
        "error": error,
        "payload": {"database": "app", "server": "default"},
        "result": result,
        "created_at": "2026-12-06T05:00:00+00:00",
        "started_at": "2026-12-06T05:00:01+00:00",
        "finished_at": "2026-12-06T05:01:13+00:00" if status != "running" else None,
    }


BACKUP_ROW = {
    "id": BACKUP,
    "project_id": "p1",
    "database": "app",
    "server": "default",
    "size_bytes": 10_066_330,
    "part_count": 2,
    "encrypted": True,
    "compression": "zstd",
    "chat_id": "-100123",
    "expires_at": None,
}


def test_a_completed_backup() -> None:
    lines = outcome.job_lines(job("completed", {"backup": BACKUP_ROW}), "backup")
    assert lines == [
        f"backup    {JOB}  completed in 1 min 12 s",
        f"backup    {BACKUP}  (backup-worker backups show 0a1b2c3d)",
        "of        p1 / app on server default",
        "size      9.6 MiB in 2 parts, encrypted (age), zstd",
        "sent to   chat -100123",
    ]


def test_a_failed_job_ends_with_its_reason_and_exit_status() -> None:
    lines = outcome.job_lines(job("failed", error='database "nope" does not exist'))
    assert lines == [
        f"backup    {JOB}  failed after 1 min 12 s",
        'error     database "nope" does not exist',
        f"exit      {common.EXIT_FAILED} (the job failed)",
    ]


def test_a_job_still_running_when_wait_gives_up() -> None:
    lines = outcome.job_lines(job("running"))
    assert lines == [
        f"backup    {JOB}  running (stage upload, 37 %)",
        f"exit      {common.EXIT_TIMEOUT} (--wait gave up; the job goes on)",
    ]


def test_a_restore_and_a_verification() -> None:
    restored = {
        "backup_id": BACKUP,
        "target_database": "app_copy",
        "target_server": "default",
        "mode": "new",
        "created": True,
        "size_bytes": 2048,
        "part_count": 1,
        "seconds": 35.2,
        "phase_seconds": {"download": 1.25, "pg_restore": 30.0},
        "databases": {"project": "app_copy", "undo": None, "undo_expires_at": None},
    }
    lines = outcome.result_lines({"restore": restored}, "restore")
    assert lines == [
        "restored  backup 0a1b2c3d to app_copy on server default into a new database",
        "size      2.0 KiB in 1 part, in 35 s",
        "phases    download 1.2 s, pg_restore 30 s",
    ]
    verified = {
        "backup_id": BACKUP,
        "part_count": 2,
        "size_bytes": 4096,
        "contents": {"entries": 9},
    }
    assert outcome.result_lines({"verification": verified}, "verification") == [
        "verified  backup 0a1b2c3d: every checksum of its 2 parts (4.0 KiB)"
        " and its archive read (9 entries)"
    ]


def test_jobs_show_adds_where_and_when() -> None:
    lines = outcome.detail_lines(job("completed"))
    assert lines[:4] == [
        f"backup    {JOB}  completed in 1 min 12 s",
        "project   p1",
        "asked     database app, server default",
        "created   2026-12-06 05:00 UTC",
    ]
    assert "finished  2026-12-06 05:01 UTC" in lines


def test_a_drill_and_an_undo() -> None:
    drill = {"tables": [{"ok": True}, {"ok": False}], "mismatches": 1}
    assert outcome.result_lines({"drill": drill}, "drill") == [
        "drill     2 tables' rows checked, 1 differ"
    ]
    undo = {"undo_of": JOB, "databases": {"project": "app", "undone": "app__pre_undo_f52ae7a8"}}
    assert outcome.result_lines({"undo": undo}, "undo") == [
        "undone    job f52ae7a8: app",
        "kept      the restored database as app__pre_undo_f52ae7a8",
    ]


def test_any_other_object_as_plain_lines() -> None:
    payload = {
        "status": "ok",
        "revision": None,
        "size_bytes": 10_066_330,
        "phase_seconds": {"download": 72},
        "succeeded": [0, 2],
        "parts": [{"index": 0, "message_id": 17}, {"index": 1, "message_id": 18}],
    }
    assert outcome.plain_lines(payload) == [
        "status         ok",
        "revision       -",
        "size_bytes     9.6 MiB",
        "phase_seconds  download 1 min 12 s",
        "succeeded      0, 2",
        "parts          2",
        "               index 0, message_id 17",
        "               index 1, message_id 18",
    ]
