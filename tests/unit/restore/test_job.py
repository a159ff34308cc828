"""Restore requests, stages, pg_restore messages and listings, without a database."""

from __future__ import annotations

import uuid

import pytest

from worker import errors
from worker.jobs import progress
from worker.postgres import pgrestore, source, target
from worker.restore import job as rj
from worker.restore import verify

PARAMS = source.SourceParams.from_url("postgresql://admin:s3cret-pw@db.internal:6432/postgres")

LISTING = """;
; Archive created at 2026-01-02 03:04:05 UTC
;     dbname: sales
;     TOC Entries: 9
;     Format: CUSTOM
;     Dumped from database version: 15.20 (Debian 15.20-0+deb12u1)
;     Dumped by pg_dump version: 15.20 (Debian 15.20-0+deb12u1)
;
; Selected TOC Entries:
;
214; 1259 16390 TABLE public items postgres
213; 1259 16389 SEQUENCE public items_id_seq postgres
3360; 0 0 COMMENT - TABLE items postgres
216; 1259 16400 VIEW public recent postgres
3354; 0 16390 TABLE DATA public items postgres
3361; 0 0 SEQUENCE SET public items_id_seq postgres
3206; 2606 16397 CONSTRAINT public items items_pkey postgres
3207; 1259 16398 INDEX public items_label postgres
3362; 2613 16401 BLOB - 16401 postgres
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_stage_progress_is_monotonic_across_each_kind_of_job() -> None:
    for stages in rj.STAGES.values():
        reporter = progress.Reporter(lambda s, p, _: None, stages=stages)
        values = [reporter.overall(stage, f / 10) for stage in stages for f in range(11)]
        assert values == sorted(values)
        assert values[-1] == 100


def test_the_reporter_throttles_and_still_beats() -> None:
    clock = Clock()
    written: list[tuple[str, int]] = []
    reporter = progress.Reporter(
        lambda s, p, _: written.append((s, p)),
        stages=rj.STAGES[rj.RESTORE],
        interval=0.5,
        heartbeat=10,
        clock=clock,
    )
    reporter.update("download", 0.0)
    for step in range(1, 50):
        clock.now = step * 0.01
        reporter.update("download", step / 100)
    assert written == [("download", 1)]
    reporter.update("verify", 0.0)
    clock.now = 30.0
    reporter.update("verify", 0.0)
    assert written == [("download", 1), ("verify", 60), ("verify", 60)]


def test_a_restore_request_is_checked() -> None:
    backup_id = str(uuid.uuid4())
    req = rj.validate(rj.RESTORE, backup_id, "sales_copy", None)
    assert req == rj.RestoreRequest(rj.RESTORE, uuid.UUID(backup_id), "sales_copy", False)
    with pytest.raises(errors.InputError, match="invalid backup id"):
        rj.validate(rj.RESTORE, "nope", "sales_copy")
    with pytest.raises(errors.InputError, match="clean must be true or false"):
        rj.validate(rj.RESTORE, backup_id, "sales_copy", "yes")
    with pytest.raises(errors.InputError, match="longer than 63 bytes"):
        rj.validate(rj.RESTORE, backup_id, "x" * 64)
    assert rj.validate(rj.RESTORE, backup_id, "x; DROP y").target_database == "x; DROP y"
    with pytest.raises(errors.InputError, match="database name must be a string"):
        rj.validate(rj.RESTORE, backup_id, None)
    assert rj.validate(rj.VERIFY, backup_id).target_database is None


def test_templates_and_protected_databases_are_never_targets() -> None:
    for name in ("template0", "template1"):
        with pytest.raises(errors.InputError, match="template"):
            target.refuse_forbidden(name, protected=(), reason="")
    with pytest.raises(errors.InputError, match="refusing to restore into control: why"):
        target.refuse_forbidden("control", protected=(None, "control"), reason="why")
    assert target.refuse_forbidden("fresh", protected=("control",), reason="") == "fresh"


def test_the_listing_header_and_kinds_are_read() -> None:
    contents = verify.read_listing(LISTING)
    assert contents["entries"] == 9
    assert contents["database"] == "sales"
    assert contents["format"] == "CUSTOM"
    assert contents["pg_dump_version"] == "15.20 (Debian 15.20-0+deb12u1)"
    assert contents["kinds"] == {
        "TABLE": 1,
        "SEQUENCE": 2,
        "VIEW": 1,
        "TABLE DATA": 1,
        "CONSTRAINT": 1,
        "INDEX": 1,
        "BLOB": 1,
    }


def test_pg_restore_errors_become_short_messages_with_a_hint() -> None:
    stderr = (
        "pg_restore: while PROCESSING TOC:\n"
        "pg_restore: from TOC entry 214; 1259 16390 TABLE items app_owner\n"
        'pg_restore: error: could not execute query: ERROR:  role "app_owner" does not exist\n'
        "Command was: ALTER TABLE public.items OWNER TO app_owner;\n"
    )
    message = pgrestore.describe(PARAMS, stderr)
    assert message.startswith('could not execute query: ERROR:  role "app_owner" does not exist')
    assert "create the role first" in message
    assert "Command was" not in message


def test_connection_failures_are_described_without_the_password() -> None:
    stderr = (
        'pg_restore: error: connection to server at "db.internal" (10.0.0.5), port 6432 '
        'failed: FATAL:  password authentication failed for user "admin" (s3cret-pw)\n'
    )
    message = pgrestore.describe(PARAMS, stderr)
    assert "rejected the password of user" in message
    assert "s3cret-pw" not in message


def test_restore_arguments_carry_no_password_and_read_a_file_with_jobs() -> None:
    args = pgrestore.into_database(PARAMS, "sales_copy", "/spool/j/restore.pgdump", 4)
    assert "s3cret-pw" not in " ".join(args)
    assert "--single-transaction" not in args
    assert "--exit-on-error" in args
    assert args[-2:] == ["--jobs=4", "/spool/j/restore.pgdump"]
    assert any(arg.startswith("--dbname=") and "dbname=sales_copy" in arg for arg in args)
    assert PARAMS.env()["PGPASSWORD"] == "s3cret-pw"
