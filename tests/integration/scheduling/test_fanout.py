"""Schedules of every database (`*`) against a real extra cluster: one job per database and slot.

The cluster is a PostgreSQL 15 of its own (tests.acceptance.servers.support, port 26200-26499)
with a password-protected role; the worker knows it as server `extra` from a registry file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db import models, schedule_models, session
from db.queries import backups as db_backups
from tests.acceptance.servers import support
from tests.integration.scheduling.test_schedules import make_runtime
from tests.support import services
from tests.support.fake_send import FakeSend
from worker import errors
from worker.jobs import runtime
from worker.scheduling import dispatch as dispatcher
from worker.scheduling import spec as schedule_spec
from worker.scheduling import sweep

Schedule = schedule_models.BackupSchedule
PATTERN = r"app_(?P<project>[a-z0-9]+)"
PROJECTS = ["p0", "p1", "p2"]
UNDESCRIBED = ["other", "Other DB.prod"]
# Database -> project, as the fan-out names them.
EXPECTED = {f"app_{p}": p for p in PROJECTS} | {
    "other": "other",
    "Other DB.prod": "Other-DB.prod-" + hashlib.sha256(b"Other DB.prod").hexdigest()[:12],
}


@pytest.fixture(scope="module")
def extra() -> Iterator[support.Cluster]:
    """app_p0..app_p2 (projects p0..p2), tmp_x (excluded), and two the pattern does not
    describe, backed up all the same: `other`, and `Other DB.prod` (a legal name that is no
    project id)."""
    with support.cluster(f"bw_fanout_{uuid.uuid4().hex[:6]}", services.free_port(26300)) as made:
        for name in [f"app_{p}" for p in PROJECTS] + ["tmp_x", *UNDESCRIBED]:
            made.query(f'CREATE DATABASE "{name}" OWNER {support.ROLE}')
        made.query("CREATE DATABASE not_now ALLOW_CONNECTIONS false")
        yield made


def registry_file(tmp_path: Path, servers: dict[str, tuple[str, str]]) -> Path:
    """A SOURCE_SERVERS_FILE of (url, password) per server name."""
    lines = []
    for name, (url, password) in servers.items():
        secret = tmp_path / f"{name}.password"
        secret.write_text(password + "\n")
        lines += [f"[servers.{name}]", f'url = "{url}"', f'password_file = "{secret}"', ""]
    path = tmp_path / "servers.toml"
    path.write_text("\n".join(lines))
    return path


@pytest.fixture
def rt(
    database: session.Database, extra: support.Cluster, tmp_path: Path
) -> Iterator[runtime.Runtime]:
    down = f"postgresql://{support.ROLE}@127.0.0.1:{services.free_port(26450)}/postgres"
    path = registry_file(tmp_path, {"extra": (extra.url(), extra.password), "down": (down, "x")})
    built = make_runtime(
        database.url, source_servers_file=str(path), source_project_pattern=PATTERN
    )
    yield built
    built.close()


def add_every(rt: runtime.Runtime, server: str = "extra", **kwargs: object) -> Schedule:
    spec = schedule_spec.ScheduleSpec.build(
        project_id=None,
        database="*",
        every="1h",
        server=server,
        exclude=["tmp_*", "postgres"],
        **kwargs,  # type: ignore[arg-type]
    )
    with rt.database.transaction() as s:
        return schedule_spec.create(s, spec)


def make_due(rt: runtime.Runtime, schedule_id: uuid.UUID, slot: dt.datetime) -> None:
    with rt.database.transaction() as s:
        s.execute(update(Schedule).where(Schedule.id == schedule_id).values(next_run_at=slot))


def runs(rt: runtime.Runtime) -> list[tuple[dt.datetime, str, uuid.UUID | None]]:
    with rt.database.transaction() as s:
        rows = s.execute(
            select(
                schedule_models.ScheduleRun.scheduled_for,
                schedule_models.ScheduleRun.database,
                schedule_models.ScheduleRun.job_id,
            ).order_by(
                schedule_models.ScheduleRun.scheduled_for, schedule_models.ScheduleRun.database
            )
        )
        return [(slot, name, job_id) for slot, name, job_id in rows]


@pytest.mark.timeout(120)
def test_two_dispatchers_make_one_job_per_database_and_slot(
    rt: runtime.Runtime, database: session.Database, tmp_path: Path
) -> None:
    schedule = add_every(rt, keep_last=2)
    assert schedule.project_id == schedule.database == "*"
    assert schedule.exclude == ["tmp_*", "postgres"]
    other = make_runtime(
        database.url,
        source_servers_file=str(rt.settings.source_servers_file),
        source_project_pattern=PATTERN,
    )
    sends = [FakeSend(), FakeSend()]
    start = threading.Barrier(2)
    failures: list[BaseException] = []
    first_slot = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)

    def race(each: runtime.Runtime, send: FakeSend) -> None:
        try:
            start.wait()
            dispatcher.dispatch(each, send.publisher())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    try:
        for slot in (first_slot, first_slot + dt.timedelta(minutes=30)):
            make_due(rt, schedule.id, slot)
            threads = [
                threading.Thread(target=race, args=(each, send))
                for each, send in zip((rt, other), sends, strict=True)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        # A redelivered dispatch of the first slot (next_run_at pointed back at it) adds nothing.
        make_due(rt, schedule.id, first_slot)
        assert dispatcher.dispatch(other, FakeSend().publisher()).enqueued == 0
    finally:
        other.close()
    assert not failures, failures

    sent = [kwargs for send in sends for kwargs in send.kwargs]
    assert len(sent) == 10  # five databases, two slots, once each
    assert sorted((k["project_id"], k["database"]) for k in sent) == sorted(
        (project, name) for name, project in EXPECTED.items() for _ in range(2)
    )
    assert {k["server"] for k in sent} == {"extra"}
    recorded = runs(rt)
    assert sorted((slot, name) for slot, name, _ in recorded) == [
        (slot, name)
        for slot in (first_slot, first_slot + dt.timedelta(minutes=30))
        for name in sorted(EXPECTED)
    ]
    assert {str(job_id) for _, _, job_id in recorded} == {k["job_id"] for k in sent}
    assert all(
        job_id == dispatcher.run_job_id(schedule.id, slot, name) for slot, name, job_id in recorded
    )
    with rt.database.transaction() as s:
        jobs = list(s.scalars(select(models.Job).order_by(models.Job.project_id)))
        assert sorted(job.project_id for job in jobs) == sorted([*EXPECTED.values()] * 2)
        assert {job.payload["server"] for job in jobs} == {"extra"}
        row = s.get_one(Schedule, schedule.id, populate_existing=True)
        assert row.next_run_at > dt.datetime.now(dt.UTC)


def test_an_unreachable_server_leaves_the_schedule_due_for_the_next_tick(
    rt: runtime.Runtime,
) -> None:
    schedule = add_every(rt, server="down")
    slot = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    make_due(rt, schedule.id, slot)
    result = dispatcher.dispatch(rt, FakeSend().publisher())
    assert (result.claimed, result.enqueued, result.unlisted) == (1, 0, 1)
    with rt.database.transaction() as s:
        assert s.get_one(Schedule, schedule.id, populate_existing=True).next_run_at == slot
    assert runs(rt) == []


def test_one_schedule_of_every_database_per_server(rt: runtime.Runtime) -> None:
    add_every(rt)
    add_every(rt, server="down")  # another server: allowed
    with pytest.raises(errors.InputError, match="server extra already has a schedule of every"):
        add_every(rt)
    with pytest.raises(errors.InputError, match="give no project id"):
        schedule_spec.ScheduleSpec.build(project_id="p", database="*", every="1h")
    with pytest.raises(errors.InputError, match="with database '\\*' only"):
        schedule_spec.ScheduleSpec.build(project_id="p", database="d", every="1h", exclude=["x"])


def test_gfs_of_a_schedule_of_every_database_keeps_each_database_apart(
    rt: runtime.Runtime,
) -> None:
    schedule = add_every(rt, keep_last=1)
    now = dt.datetime.now(dt.UTC)
    made: dict[tuple[str, int], uuid.UUID] = {}
    with rt.database.transaction() as s:
        for hours in (3, 2, 1):
            for name, project in (("app_p0", "p0"), ("app_p1", "p1")):
                slot = now - dt.timedelta(hours=hours)
                job_id = dispatcher.run_job_id(schedule.id, slot, name)
                s.add(models.Job(id=job_id, type="backup", project_id=project, status="completed"))
                s.flush()
                s.add(
                    schedule_models.ScheduleRun(
                        schedule_id=schedule.id, scheduled_for=slot, database=name, job_id=job_id
                    )
                )
                made[(name, hours)] = record(s, project, name, job_id, slot)
    assert sweep.apply_retention(rt) == 4
    with rt.database.transaction() as s:
        active = set(s.scalars(select(models.Backup.id).where(models.Backup.status == "active")))
    # keep_last 1 per database: the newest of app_p0 and the newest of app_p1.
    assert active == {made[("app_p0", 1)], made[("app_p1", 1)]}


def record(s: Session, project: str, name: str, job_id: uuid.UUID, when: dt.datetime) -> uuid.UUID:
    digest = hashlib.sha256(job_id.bytes).hexdigest()
    row, _ = db_backups.record_backup(
        s,
        db_backups.NewBackup(
            project_id=project,
            job_id=job_id,
            type="database",
            database=name,
            filename=f"{name}.dump.zst",
            size_bytes=1,
            sha256=digest,
            compression="zstd",
            encrypted=False,
            encryption_recipients=[],
            chat_id="-1",
            message_thread_id=None,
            caption=None,
            expires_at=when + dt.timedelta(days=30),
            parts=[db_backups.NewPart(0, "f", "u", 1, "-1", 1, digest)],
            server="extra",
        ),
    )
    s.execute(update(models.Backup).where(models.Backup.id == row.id).values(created_at=when))
    return row.id
