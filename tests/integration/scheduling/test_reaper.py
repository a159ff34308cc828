"""The reaper on real PostgreSQL: stale jobs requeued or failed, finished spool dirs removed."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from db import models, session
from db.queries import jobs as db_jobs
from tests.integration.scheduling.test_schedules import make_runtime
from tests.support.fake_send import FakeSend
from worker.artifact import manifest
from worker.contract import tasks
from worker.jobs import runner, runtime
from worker.scheduling import reaper, resume_pass

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def rt(database: session.Database, tmp_path: Path) -> Iterator[runtime.Runtime]:
    built = make_runtime(database.url, backup_spool_dir=tmp_path / "spool", backup_max_attempts=2)
    yield built
    built.close()


@pytest.fixture
def job(rt: runtime.Runtime) -> Callable[..., uuid.UUID]:
    """Insert a backup job in a given state; timestamps pushed into the past by `silent`."""

    def make(
        *,
        status: str = "running",
        attempts: int = 1,
        silent: dt.timedelta = HOUR,
        hostname: str | None = "dead@host-a",
        type: str = "backup",
        payload: dict[str, object] | None = None,
    ) -> uuid.UUID:
        job_id = uuid.uuid4()
        with rt.database.transaction() as s:
            db_jobs.create_job(
                s,
                job_id=job_id,
                type=type,
                project_id="proj-1",
                payload=payload
                if payload is not None
                else {
                    "project_id": "proj-1",
                    "database": "app",
                    "expires_in_days": 5,
                    "caption": None,
                    "filename": None,
                    "chat_id": "-1001",
                    "thread_id": None,
                },
                celery_task_id=None,
            )
            past = dt.datetime.now(dt.UTC) - silent
            s.execute(
                update(models.Job)
                .where(models.Job.id == job_id)
                .values(
                    status=status,
                    attempts=attempts,
                    worker_hostname=hostname,
                    stage="dump" if status == "running" else None,
                    progress=30 if status == "running" else 0,
                    heartbeat_at=past if status == "running" else None,
                    updated_at=past,
                )
            )
        return job_id

    return make


def row(rt: runtime.Runtime, job_id: uuid.UUID) -> models.Job:
    with rt.database.transaction() as s:
        found = db_jobs.get_job(s, job_id)
        assert found is not None
        return found


def test_a_silent_running_job_with_attempts_left_is_sent_again(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    stale = job(attempts=1)
    fresh = job(attempts=1, silent=dt.timedelta(seconds=5), hostname="live@host-b")
    sent = FakeSend()
    result = reaper.reap(rt, sent.publisher())
    assert result.requeued == [str(stale)]
    assert [call.name for call in sent.calls] == ["backups.create"]
    assert sent.kwargs == [
        {"project_id": "proj-1", "database": "app", "job_id": str(stale), "expires_in_days": 5}
    ]
    again = row(rt, stale)
    assert (again.status, again.worker_hostname, again.progress, again.stage) == (
        "pending",
        None,
        0,
        None,
    )
    assert row(rt, fresh).status == "running"
    # The re-sent backups.create can claim it, exactly as a first delivery would.
    with rt.database.transaction() as s:
        assert db_jobs.claim_job(s, stale, hostname="alive@host-b", payload={})
        started = db_jobs.start_job(s, stale, hostname="alive@host-b", max_attempts=2)
        assert started is not None
        assert started.status == "running"
        assert started.attempts == 2


def test_a_silent_job_without_attempts_left_ends_failed(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    spent = job(attempts=2)
    sent = FakeSend()
    result = reaper.reap(rt, sent.publisher())
    assert (result.failed, sent.calls) == ([str(spent)], [])
    failed = row(rt, spent)
    assert failed.status == "failed"
    assert failed.error is not None
    assert "dead@host-a stopped sending heartbeats during dump" in failed.error
    assert "all 2 attempts" in failed.error


def test_a_job_claimed_but_never_started_is_sent_again(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    claimed = job(status="pending", attempts=0)
    unclaimed = job(status="pending", attempts=0, hostname=None)
    sent = FakeSend()
    result = reaper.reap(rt, sent.publisher())
    assert result.requeued == [str(claimed)]
    # Unclaimed for that long, its message may be lost (a broker restart): sent once more.
    assert result.resent == [str(unclaimed)]
    assert sorted(str(m["job_id"]) for m in sent.kwargs) == sorted([str(claimed), str(unclaimed)])
    assert row(rt, claimed).worker_hostname is None
    assert row(rt, unclaimed).status == "pending"
    assert reaper.reap(rt, sent.publisher()).resent == []  # not again before another stale period


def test_a_silent_job_of_a_host_that_heartbeats_for_another_is_left_alone(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    # Between two steps: its next step waits in the live host's queue behind other jobs.
    waiting = job(attempts=1, hostname="busy@host-d")
    job(attempts=1, silent=dt.timedelta(seconds=5), hostname="busy@host-d")
    assert reaper.reap(rt, FakeSend().publisher()).requeued == []
    assert row(rt, waiting).status == "running"


def test_a_claim_of_a_host_that_still_heartbeats_is_left_alone(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    # The host is busy with another backup; the claimed job waits in its queue.
    job(hostname="busy@host-c", silent=dt.timedelta(seconds=5))
    waiting = job(status="pending", attempts=0, hostname="busy@host-c")
    assert reaper.reap(rt, FakeSend().publisher()).requeued == []
    assert row(rt, waiting).worker_hostname == "busy@host-c"


def test_jobs_that_cannot_be_rerun_end_failed(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    backup_id = str(uuid.uuid4())
    restore = job(type="restore", attempts=0, payload={"backup_id": backup_id})
    refused = job(attempts=0, payload={"refused": True})
    result = reaper.reap(rt, FakeSend().publisher())
    assert sorted(result.failed) == sorted([str(restore), str(refused)])
    # A restore whose host is gone says which host, which step and what to run.
    assert str(row(rt, restore).error) == (
        "the worker on dead@host-a stopped sending heartbeats during download; what it had "
        f"done lies on that host: run backup-worker restore {backup_id} again with the same "
        "target"
    )
    assert "cannot be re-run automatically" in str(row(rt, refused).error)


def test_a_failed_send_leaves_the_job_for_the_next_run(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    stale = job(attempts=1)

    with pytest.raises(ConnectionError):
        reaper.reap(rt, FakeSend(fail=ConnectionError("broker down")).publisher())
    assert row(rt, stale).status == "running"
    assert reaper.reap(rt, FakeSend().publisher()).requeued == [str(stale)]


def test_spool_dirs_of_finished_and_unknown_jobs_are_removed(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    root = rt.settings.backup_spool_dir
    running = job(silent=dt.timedelta(seconds=1))
    done = job(silent=dt.timedelta(seconds=1))
    with rt.database.transaction() as s:
        db_jobs.fail_job(s, done, "boom")
    unknown = uuid.uuid4()
    for name in (running, done, unknown):
        (root / str(name)).mkdir(parents=True)
        (root / str(name) / "part.000").write_bytes(b"x")
    (root / "not-a-job").mkdir()
    result = reaper.reap(rt, FakeSend().publisher())
    assert sorted(result.spool_removed) == sorted([str(done), str(unknown)])
    assert sorted(p.name for p in root.iterdir()) == sorted([str(running), "not-a-job"])


class Answering:
    """reaper.Hosts whose workers in `alive` answer; records whom it asks to resume."""

    def __init__(self, *alive: str) -> None:
        self.alive = set(alive)
        self.asked: list[str] = []

    def answering(self, hostnames: Iterable[str]) -> set[str]:
        return self.alive & set(hostnames)

    def resume(self, hostname: str) -> None:
        self.asked.append(hostname)


def set_result(rt: runtime.Runtime, job_id: uuid.UUID, result: dict[str, object]) -> None:
    with rt.database.transaction() as s:
        s.execute(update(models.Job).where(models.Job.id == job_id).values(result=result))


def parts_in(directory: Path, count: int) -> dict[str, object]:
    """A dump's manifest whose `count` parts are files in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        path = directory / f"app.pgdump.zst.{i + 1:03d}"
        path.write_bytes(b"x" * 10)
        files.append(manifest.PartFile(i, path, 10, "a" * 64))
    art = manifest.Artifact(
        "app.pgdump.zst", "zstd", False, (), 10 * count, "b" * 64, 9, tuple(files)
    )
    return dict(art.to_json())


def test_a_silent_job_of_a_host_that_answers_is_left_to_that_host_to_resume(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    idle = job(attempts=1, hostname="idle@host-e")
    claimed = job(status="pending", attempts=0, hostname="idle@host-e")
    gone = job(attempts=1)
    hosts, sent = Answering("idle@host-e"), FakeSend()
    result = reaper.reap(rt, sent.publisher(), hosts)
    assert sorted(result.resumed) == sorted([str(idle), str(claimed)])
    assert hosts.asked == ["idle@host-e"]
    assert (row(rt, idle).status, row(rt, idle).attempts) == ("running", 1)
    assert row(rt, claimed).worker_hostname == "idle@host-e"
    # Only the job whose host is gone starts over, and the log says from which step.
    assert result.requeued == [str(gone)]
    assert sent.kwargs[0]["job_id"] == str(gone)
    assert (
        f"job {gone}: dump went silent on dead@host-a, which does not answer; sent again "
        "from the start (attempt 2 of 2)"
    ) in caplog.text
    assert "None went silent" not in caplog.text


def test_resume_host_sends_each_job_on_from_where_it_stands_after_a_reconnection(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    host = "w1@host-a"
    spool_dir = rt.settings.backup_spool_dir
    claimed = job(status="pending", attempts=0, hostname=host)
    dumped = job(hostname=host)
    set_result(rt, dumped, {"artifact": parts_in(spool_dir / str(dumped), 7), "uploaded": {}})
    partly = job(hostname=host)
    uploaded = {str(i): {"index": i, "file_id": f"f{i}"} for i in range(2)}
    set_result(rt, partly, {"artifact": parts_in(spool_dir / str(partly), 7), "uploaded": uploaded})
    sent_all = job(hostname=host)
    everything = {str(i): {"index": i, "file_id": f"f{i}"} for i in range(2)}
    set_result(
        rt, sent_all, {"artifact": parts_in(spool_dir / str(sent_all), 2), "uploaded": everything}
    )
    wiped = job(hostname=host)  # its spool is gone: its parts cannot be sent from here
    manifest_only = parts_in(spool_dir / str(wiped), 3)
    shutil.rmtree(spool_dir / str(wiped))
    set_result(rt, wiped, {"artifact": manifest_only, "uploaded": {}})
    busy = job(hostname=host)  # a step of it runs right now: it holds the job's lock
    job(hostname="w2@host-b")  # another host's
    job(status="completed", hostname=host)
    sends: list[tuple[str, uuid.UUID, tuple[str, ...], float]] = []
    with runner.exclusive(rt, busy) as alone:
        assert alone
        done = resume_pass.resume_host(rt, host, lambda *call: sends.append(call), reconnected=True)
    chain = (tasks.DUMP, tasks.UPLOAD, tasks.RECORD)
    assert sorted(sends) == sorted(
        [
            (host, claimed, chain, 0.0),
            (host, dumped, chain[1:], 0.0),
            (host, partly, chain[1:], 0.0),
            (host, sent_all, chain[2:], 0.0),
            (host, wiped, chain, 0.0),
        ]
    )
    assert done.running == [str(busy)]
    assert (
        f"job {partly}: upload (parts 3\u20137 of 7) went silent on {host}; sent again from "
        "upload (parts 3\u20137 of 7)"
    ) in caplog.text
    assert f"job {sent_all}: record went silent on {host}; sent again from record" in caplog.text
    assert (
        f"job {wiped}: upload (parts 1\u20133 of 3) went silent on {host}; its spool no "
        "longer holds what upload reads: sent again from dump"
    ) in caplog.text


def test_resume_host_asked_by_the_reaper_leaves_moving_and_waiting_jobs_to_their_message(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    host = "w1@host-a"
    lost = job(status="pending", attempts=0, hostname=host)  # quiet for an hour
    queued = job(status="pending", attempts=0, hostname=host)  # its message waits on the host
    moving = job(status="pending", attempts=0, hostname=host, silent=dt.timedelta(seconds=5))
    sends: list[tuple[str, uuid.UUID, tuple[str, ...], float]] = []

    def send(*call: object) -> None:
        sends.append(call)  # type: ignore[arg-type]

    done = resume_pass.resume_host(rt, host, send, lambda: {str(queued)})
    assert [call[1] for call in sends] == [lost]
    assert done.queued == [str(queued)]
    # Whether a message waits cannot be told (RabbitMQ): only a job silent past
    # JOB_HEARTBEAT_STALE is sent on; a moment-old one is left to its message.
    sends.clear()
    resume_pass.resume_host(rt, host, send, lambda: None)
    assert sorted(call[1] for call in sends) == sorted([lost, queued])
    assert moving not in [call[1] for call in sends]


def test_the_reaper_asks_an_answering_host_whose_job_is_quiet_to_check_it(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    # Two minutes without a change, far from JOB_HEARTBEAT_STALE (600 s): maybe a lost message
    # its host did not notice (no reconnection). Only a host that answers is asked.
    quiet = job(attempts=1, hostname="quiet@host-f", silent=dt.timedelta(minutes=2))
    job(attempts=1, hostname="mute@host-g", silent=dt.timedelta(minutes=2))
    job(attempts=1, hostname="quiet@host-h", silent=dt.timedelta(seconds=5))
    hosts = Answering("quiet@host-f", "quiet@host-h")
    result = reaper.reap(rt, FakeSend().publisher(), hosts)
    assert hosts.asked == ["quiet@host-f"]
    assert (result.requeued, result.resumed) == ([], [])
    assert row(rt, quiet).status == "running"


def deferred_upload(
    rt: runtime.Runtime,
    job: Callable[..., uuid.UUID],
    *,
    until: dt.timedelta,
    noted: dt.timedelta = HOUR,
    **kwargs: object,
) -> uuid.UUID:
    """A backup whose upload waits for its Telegram slot `until` from now, deferred `noted`
    ago, its heartbeat written when it deferred (`silent` ago), its message maybe lost."""
    deferred = job(**kwargs)
    now = dt.datetime.now(dt.UTC)
    when = now + until
    slot = {"bot_id": "123456", "chat_id": "-1001", "id": "kept", "at_us": "1"}
    result = {
        "artifact": parts_in(rt.settings.backup_spool_dir / str(deferred), 1),
        "uploaded": {},
        "deferred": {
            "step": "upload",
            "until": when.isoformat(),
            "slot": slot,
            "noted": (now - noted).isoformat(),
        },
    }
    with rt.database.transaction() as s:
        s.execute(
            update(models.Job)
            .where(models.Job.id == deferred)
            .values(result=result, updated_at=dt.datetime.now(dt.UTC) - HOUR)
        )
    return deferred


def test_a_job_waiting_for_its_telegram_slot_is_not_silent_before_then(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    # Deferred an hour ago for a slot five minutes ahead: its heartbeat is an hour old.
    waiting = deferred_upload(rt, job, until=dt.timedelta(minutes=5), hostname="w1@host-a")
    gone = deferred_upload(rt, job, until=dt.timedelta(minutes=5))
    hosts, sent = Answering("w1@host-a"), FakeSend()
    result = reaper.reap(rt, sent.publisher(), hosts)
    assert (result.requeued, result.resumed, result.failed, sent.calls) == ([], [], [], [])
    assert row(rt, waiting).status == row(rt, gone).status == "running"
    # Asked by the reaper (its row quiet for an hour), the host leaves it to its message.
    sends: list[object] = []
    done = resume_pass.resume_host(rt, "w1@host-a", lambda *call: sends.append(call), lambda: None)
    assert (sends, done.resent) == ([], [])


def test_a_job_whose_slot_time_passed_long_ago_is_silent_again(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    stale = dt.timedelta(seconds=rt.settings.job_heartbeat_stale)
    lost = deferred_upload(rt, job, until=-(stale + dt.timedelta(minutes=1)))
    sent = FakeSend()
    result = reaper.reap(rt, sent.publisher(), reaper.NoHosts())
    assert result.requeued == [str(lost)]
    host = "w1@host-a"
    due = deferred_upload(rt, job, until=-dt.timedelta(minutes=2), hostname=host)
    sends: list[tuple[object, ...]] = []
    resume_pass.resume_host(rt, host, lambda *call: sends.append(call), set)
    assert sends == [(host, due, (tasks.UPLOAD, tasks.RECORD), 0.0)]


def test_after_a_reconnection_a_deferred_step_is_sent_again_for_its_slot(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    host = "w1@host-a"
    waiting = deferred_upload(rt, job, until=dt.timedelta(seconds=40), hostname=host)
    sends: list[tuple[str, uuid.UUID, tuple[str, ...], float]] = []
    done = resume_pass.resume_host(
        rt, host, lambda *call: sends.append(call), set, reconnected=True
    )
    assert done.resent == [f"{waiting}: upload"]
    [(to, job_id, steps, countdown)] = sends
    assert (to, job_id, steps) == (host, waiting, (tasks.UPLOAD, tasks.RECORD))
    assert 35 < countdown <= 40
    assert "its message for its Telegram slot at" in caplog.text


def test_a_step_deferred_before_a_reconnection_is_sent_again_though_inspect_lists_it(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    # Celery's `inspect scheduled` still lists the countdown messages the worker dropped at the
    # reconnection: only one sent after it is still there.
    host = "w1@host-a"
    now = dt.datetime.now(dt.UTC)
    dropped = deferred_upload(rt, job, until=dt.timedelta(seconds=30), hostname=host)
    fresh = deferred_upload(
        rt, job, until=dt.timedelta(seconds=30), noted=dt.timedelta(0), hostname=host
    )
    sends: list[tuple[object, ...]] = []
    done = resume_pass.resume_host(
        rt,
        host,
        lambda *call: sends.append(call),
        lambda: {str(dropped), str(fresh)},
        reconnected=True,
        connected_at=now,
    )
    assert [call[1] for call in sends] == [dropped]
    assert done.queued == [str(fresh)]
