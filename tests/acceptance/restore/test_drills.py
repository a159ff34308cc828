"""Restore drills with a real worker: pass on a good backup, fail on one whose recorded counts
disagree or that needs an extension the server lacks; the scratch database never stays."""

from __future__ import annotations

import json
import uuid

import psycopg2
from sqlalchemy import text

from db.queries import jobs as db_jobs
from tests.acceptance.conftest import Stack
from tests.acceptance.restore.support import backup_row, cli, make_backup, new_target, targets
from tests.support.sources import ADMIN_DSN, admin_execute
from worker.scheduling import alerts

__all__ = ["targets"]  # the fixture, used by name

PROJECT = "proj-drill"


def _make_source(name: str) -> None:
    admin_execute(f'CREATE DATABASE "{name}"')
    conn = psycopg2.connect(f"host=127.0.0.1 user=postgres dbname={name}")
    with conn, conn.cursor() as cur:
        cur.execute(
            'CREATE TABLE a (id int); CREATE SCHEMA "Odd"; CREATE TABLE "Odd"."B b" (x int);'
            "INSERT INTO a SELECT generate_series(1, 1234);"
            'INSERT INTO "Odd"."B b" VALUES (1), (2), (3);'
        )
    conn.close()


def _drill_databases() -> list[str]:
    with psycopg2.connect(ADMIN_DSN) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE '%%\\_\\_drill\\_%%'")
        found = [str(row[0]) for row in cur.fetchall()]
    conn.close()
    return found


def _set_contents(stack: Stack, backup_id: object, path: str, value: str) -> None:
    with stack.database.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE control_plane.backups SET contents = jsonb_set(contents, "
                "CAST(:path AS text[]), CAST(:value AS jsonb)) WHERE id = :id"
            ),
            {"path": path, "value": value, "id": backup_id},
        )


def _failed_drill_job(stack: Stack, target: str) -> None:
    """The jobs row a drill that died mid-way leaves, failed by the reaper."""
    job_id = uuid.UUID(target[-8:] + uuid.uuid4().hex[8:])
    payload: dict[str, object] = {"backup_id": str(uuid.uuid4()), "clean": False}
    payload |= {"database": target.split("__", maxsplit=1)[0], "target_database": target}
    payload |= {"server": "default", "mode": "drill"}
    with stack.database.transaction() as session:
        db_jobs.create_job(
            session,
            job_id=job_id,
            type="restore",
            project_id=PROJECT,
            payload=payload,
            celery_task_id=None,
        )
        db_jobs.fail_job(session, job_id, "worker lost")


def _drill(stack: Stack) -> tuple[int, dict[str, object]]:
    done = cli(stack.env(), "drills", "run", "--project", PROJECT, "--wait", "--json")
    return done.returncode, json.loads(done.stdout)


def test_drills_pass_fail_on_wrong_counts_and_name_a_missing_extension(
    stack: Stack, targets: list[str]
) -> None:
    source = new_target(targets, "drillsrc")
    _make_source(source)
    stack.start_worker()
    backup = make_backup(stack, source, project=PROJECT)
    assert backup["contents"]["tables"] == {"public.a": 1234, '"Odd"."B b"': 3}  # type: ignore[index]
    leftover = f"{source}__drill_deadbeef"  # as a worker that died mid-drill leaves it
    stranger = f"{source}__drill_0ddba115"  # another deployment's, on the same server
    for name in (leftover, stranger):
        targets.append(name)
        admin_execute(f'CREATE DATABASE "{name}"')
    _failed_drill_job(stack, leftover)

    status, report = _drill(stack)
    assert status == 0, report
    assert report["status"] == "completed"
    drill = report["drill"]
    assert isinstance(drill, dict)
    assert drill["mismatches"] == 0
    assert drill["counted"] is True
    assert {t["table"]: t["restored"] for t in drill["tables"]} == {
        "public.a": 1234,
        '"Odd"."B b"': 3,
    }
    row = backup_row(stack, "id", backup["id"])
    assert row["drill_status"] == "ok"
    assert row["drilled_at"] is not None
    # The scratch database and the leftover are gone; another deployment's is not ours to drop.
    assert [name for name in _drill_databases() if name.startswith(source)] == [stranger]

    # A dump that lost rows: the recorded count says more than the archive holds.
    _set_contents(stack, backup["id"], "{tables,public.a}", "1300")
    status, report = _drill(stack)
    assert status == 1
    assert report["status"] == "failed"
    assert "public.a: 1,234 rows restored, 1,300 rows recorded" in str(report["error"])
    wrong = [t for t in report["drill"]["tables"] if not t["ok"]]  # type: ignore[index]
    assert wrong == [{"table": "public.a", "recorded": 1300, "restored": 1234, "ok": False}]
    row = backup_row(stack, "id", backup["id"])
    assert row["drill_status"] == "failed"
    assert row["drill_report"]["tables"] == wrong  # type: ignore[index]
    assert [name for name in _drill_databases() if name.startswith(source)] == [stranger]
    found = alerts.findings(stack.runtime)
    assert found[PROJECT].kind == "drill"
    assert "public.a" in found[PROJECT].detail

    # A database that needs an extension the drill server does not have.
    _set_contents(stack, backup["id"], "{tables,public.a}", "1234")
    _set_contents(stack, backup["id"], "{extensions}", '["plpgsql", "no_such_extension"]')
    status, report = _drill(stack)
    assert status == 1
    assert report["status"] == "failed"
    assert "no_such_extension" in str(report["error"])
    assert report["drill"]["extensions"]["missing"] == ["no_such_extension"]  # type: ignore[index]
    assert [name for name in _drill_databases() if name.startswith(source)] == [stranger]

    stats = cli(stack.env(), "backups", "stats", "--json")
    last = [d for d in json.loads(stats.stdout)["drills"] if d["project_id"] == PROJECT]
    assert last[0]["status"] == "failed"
    assert last[0]["backup_id"] == str(backup["id"])
    assert uuid.UUID(str(report["job_id"]))
