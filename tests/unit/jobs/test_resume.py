"""Where a job stands when its next message is lost (worker.jobs.resume), read from its row."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from db import models
from worker.artifact import manifest
from worker.contract import tasks
from worker.jobs import resume

HOST = "w1@host-a"


def artifact(spool: Path, parts: int) -> manifest.ArtifactJSON:
    files = tuple(
        manifest.PartFile(i, spool / f"db.pgdump.zst.{i + 1:03d}", 10, "a" * 64)
        for i in range(parts)
    )
    art = manifest.Artifact("db.pgdump.zst", "zstd", False, (), 10 * parts, "b" * 64, 99, files)
    return art.to_json()


def sent(*indexes: int) -> dict[str, dict[str, object]]:
    return {str(i): {"index": i, "file_id": f"f{i}", "message_id": i} for i in indexes}


def job(
    kind: str = "backup",
    status: str = "running",
    result: dict[str, object] | None = None,
    hostname: str | None = HOST,
) -> models.Job:
    return models.Job(
        id=uuid.uuid4(),
        type=kind,
        status=status,
        worker_hostname=hostname,
        project_id="proj-1",
        payload={},
        result=result or {},
    )


def test_a_claimed_job_that_never_started_stands_at_its_first_step() -> None:
    claimed = job(status="pending")
    assert resume.needs_message(claimed)
    assert resume.position(claimed).steps == (tasks.DUMP, tasks.UPLOAD, tasks.RECORD)
    assert resume.silent_since(claimed) == f"claimed by {HOST} but never started"
    restore = job("restore", status="pending")
    assert resume.position(restore).steps == (tasks.DOWNLOAD, tasks.LOAD)


def test_an_unclaimed_or_finished_or_chainless_job_needs_no_message() -> None:
    assert not resume.needs_message(job(status="pending", hostname=None))
    assert not resume.needs_message(job(status="completed"))
    assert not resume.needs_message(job("undo"))


def test_a_backup_stands_at_dump_upload_or_record_by_what_its_row_holds(tmp_path: Path) -> None:
    art = artifact(tmp_path, 7)
    assert resume.position(job()).step == "dump"
    upload = resume.position(job(result={"artifact": art, "uploaded": sent(0, 1)}))
    assert upload.steps == (tasks.UPLOAD, tasks.RECORD)
    assert upload.parts_left == (3, 4, 5, 6, 7)
    assert upload.describe() == "upload (parts 3\u20137 of 7)"
    gaps = resume.position(job(result={"artifact": art, "uploaded": sent(0, 2, 3, 4, 5)}))
    assert gaps.describe() == "upload (parts 2, 7 of 7)"
    record = job(result={"artifact": art, "uploaded": sent(*range(7))})
    assert resume.position(record).steps == (tasks.RECORD,)
    assert resume.silent_since(record) == f"record went silent on {HOST}"


def test_a_backup_with_copies_stands_at_the_upload_while_a_copy_lacks_a_part(
    tmp_path: Path,
) -> None:
    art = artifact(tmp_path, 3)
    every = sent(0, 1, 2)
    named = job(result={"artifact": art, "uploaded": every, "copies": {"spare": {}}})
    assert resume.position(named).steps == (tasks.UPLOAD, tasks.RECORD)
    assert resume.position(named).parts_left == (1, 2, 3)
    half = job(result={"artifact": art, "uploaded": every, "copies": {"spare": sent(0, 2)}})
    assert resume.position(half).parts_left == (2,)
    done = job(result={"artifact": art, "uploaded": every, "copies": {"spare": every}})
    assert resume.position(done).steps == (tasks.RECORD,)


def test_an_unreadable_manifest_stands_at_the_dump() -> None:
    broken = job(result={"artifact": {"version": 99}})
    assert resume.position(broken).step == "dump"


@pytest.mark.parametrize(("kind", "last"), [("restore", tasks.LOAD), ("verify", tasks.CHECK)])
def test_a_restore_or_verify_stands_at_its_last_step_once_its_download_is_checked(
    kind: str, last: str
) -> None:
    assert resume.position(job(kind)).steps[0] == tasks.DOWNLOAD
    checked = job(kind, result={"artifact": {"path": "/x", "checked": True}})
    assert resume.position(checked).steps == (last,)


def test_the_spool_must_hold_the_parts_not_yet_sent(tmp_path: Path) -> None:
    art = artifact(tmp_path, 3)
    row = job(result={"artifact": art, "uploaded": sent(0)})
    where = resume.position(row)
    files = {"artifact": tmp_path / "artifact", "archive": tmp_path / "archive"}
    for i in (2, 3):
        (tmp_path / f"db.pgdump.zst.{i:03d}").write_bytes(b"x")
    assert resume.spool_holds(row, where, **files)  # part 1 was sent: its file may be gone
    (tmp_path / "db.pgdump.zst.003").unlink()
    assert not resume.spool_holds(row, where, **files)


def test_a_first_step_is_done_here_only_with_its_files_on_this_host(tmp_path: Path) -> None:
    art = artifact(tmp_path, 2)
    files = {"artifact": tmp_path / "artifact", "archive": tmp_path / "archive"}
    dumped = job(result={"artifact": art, "uploaded": {}})
    assert not resume.done_here(dumped, HOST, **files)  # no part file: dump again
    for i in (1, 2):
        (tmp_path / f"db.pgdump.zst.{i:03d}").write_bytes(b"x")
    assert resume.done_here(dumped, HOST, **files)
    assert not resume.done_here(dumped, "w2@host-b", **files)
    assert not resume.done_here(job(), HOST, **files)  # no dump yet
    restore = job("restore", result={"artifact": {"path": "/x", "checked": True}})
    assert not resume.done_here(restore, HOST, **files)
    files["archive"].write_bytes(b"x")
    assert resume.done_here(restore, HOST, **files)
