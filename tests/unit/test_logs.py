"""Log formatting and redaction, and the job-event lines written from Celery's task signals."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery, Task
from pydantic import SecretStr

from worker import logs, redact, settings
from worker.contract import tasks
from worker.jobs import events as jobevents
from worker.jobs import intake

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
AGE_KEY = "AGE-SECRET-KEY-1QQPZ8JL8ZYRKYHMKFWUUPG6L0V0KQ6U5Q3Y4XKQY0UA5ZSVWJ0YSQ5QWJP"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """The root logger configured by worker.logs into a file; restored afterwards."""
    root = logging.getLogger()
    level = root.level
    path = tmp_path / "worker.log"
    yield path
    for handler in [h for h in root.handlers if h.get_name() == "backup-worker"]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def lines(path: Path) -> list[str]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text().splitlines()


def test_redactor_removes_every_shape_of_secret() -> None:
    scrub = redact.Redactor(("s3cret-literal-value",))
    text = (
        f"GET https://api.telegram.org/bot{TOKEN}/sendDocument; bare {TOKEN}; "
        "db postgresql+psycopg2://app:pa55-word@db:5432/x; amqp://guest:guest@mq//; "
        "dsn host=db password=hunter22 user=x; quoted password = 'a b c'; "
        f"identity {AGE_KEY}; FLOWER_BASIC_AUTH=ops:pw12345678; s3cret-literal-value"
    )
    cleaned = scrub(text)
    for secret in (TOKEN, "pa55-word", "guest@", "hunter22", "'a b c'", AGE_KEY, "pw12345678"):
        assert secret not in cleaned
    assert "s3cret-literal-value" not in cleaned
    assert "postgresql+psycopg2://app:<redacted>@db:5432/x" in cleaned
    assert "amqp://guest:<redacted>@mq//" in cleaned


def test_redactor_leaves_masked_urls_and_ordinary_text_alone() -> None:
    scrub = redact.Redactor(())
    text = "Connected to redis://:**@127.0.0.1:6379/3; job 42 dumped 3 part(s) in 1.2 s"
    assert scrub(text) == text


def test_secrets_of_collects_configured_values() -> None:
    config = settings.Settings(
        telegram_bot_token=SecretStr(TOKEN),
        database_url="postgresql+psycopg2://app:control-plane-pw@db/x",
        source_database_url=SecretStr("postgresql://dump:source-db-pw@src/y"),
        celery_broker_url="amqp://guest:guest@mq//",
        flower_basic_auth=SecretStr("ops:flower-password,ro:other-password"),
    )
    found = logs.secrets_of(config)
    assert TOKEN in found
    assert {"control-plane-pw", "source-db-pw", "flower-password", "other-password"} <= set(found)
    assert "guest" not in found  # too short to replace as a literal; the URL pattern covers it
    assert list(found) == sorted(found, key=len, reverse=True)


def test_plain_lines_are_redacted_tracebacks_included(log_file: Path) -> None:
    logs.configure(logfile=str(log_file), secrets=("control-plane-pw",))
    log = logging.getLogger("tests.logs")
    try:
        raise RuntimeError(f"could not reach https://api.telegram.org/bot{TOKEN}/getMe")
    except RuntimeError:
        log.exception("upload failed for control-plane-pw")
    text = "\n".join(lines(log_file))
    assert "upload failed for <redacted>" in text
    assert "RuntimeError: could not reach https://api.telegram.org/bot<redacted>/getMe" in text
    assert TOKEN not in text
    assert "ERROR/MainProcess]" in text


def test_json_lines_carry_fields_and_no_secret(log_file: Path) -> None:
    logs.configure(logfile=str(log_file), json_lines=True)
    log = logging.getLogger("tests.logs")
    event = {"event": "job.failed", "job_id": "j1", "duration_s": 1.5, "error": f"bot{TOKEN}"}
    log.warning("plain %s", "message", extra={logs.EVENT_FIELD: event})
    try:
        raise ValueError(AGE_KEY)
    except ValueError:
        log.exception("boom")
    first, second = (json.loads(line) for line in lines(log_file))
    assert first["level"] == "WARNING"
    assert first["logger"] == "tests.logs"
    assert first["message"] == "plain message"
    assert first["duration_s"] == 1.5
    assert first["error"] == "bot<redacted>"
    assert "ValueError: <redacted>" in second["exception"]
    assert AGE_KEY not in log_file.read_text()


def test_configure_twice_keeps_one_handler(log_file: Path) -> None:
    logs.configure(logfile=str(log_file))
    logs.configure(logfile=str(log_file), level=logging.WARNING)
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "backup-worker"]
    assert len(ours) == 1
    assert logging.getLogger().level == logging.WARNING


@pytest.fixture
def eager_app() -> Celery:
    """A Celery app that runs tasks in-process; the task signals still fire.

    Its tasks are declared with shared=False: Celery adds a shared task to every app that
    finalizes later, the worker's own among them, where it would shadow the real task of that
    name (a test that imported `tasks` afterwards, in the same process, failed on it).
    """
    app = Celery("logs-test", set_as_current=False)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    jobevents.install()
    return app


def test_a_task_gives_a_start_and_an_end_line_with_job_and_project(
    eager_app: Celery, log_file: Path
) -> None:
    @eager_app.task(name=tasks.CREATE, shared=False)
    def create(*, project_id: str, database: str) -> str:
        return str(intake.job_id_for_task("unused"))

    logs.configure(logfile=str(log_file), json_lines=True)
    task_id = str(uuid.uuid4())
    create.apply(kwargs={"project_id": "proj-7", "database": "sales"}, task_id=task_id)
    events = [json.loads(line) for line in lines(log_file)]
    mine = [e for e in events if e.get("task_id") == task_id and "event" in e]
    assert [e["event"] for e in mine] == ["job.started", "job.succeeded"]
    job_id = str(intake.job_id_for_task(task_id))
    for event in mine:
        assert event["job_id"] == job_id
        assert event["project_id"] == "proj-7"
        assert event["stage"] == "create"
    assert mine[1]["duration_s"] >= 0
    assert f"job {job_id} project=proj-7 stage=create: succeeded in" in mine[1]["message"]


def test_a_failed_task_gives_one_error_line_with_the_redacted_error(
    eager_app: Celery, log_file: Path
) -> None:
    @eager_app.task(name="backups.upload", shared=False)
    def upload(*, job_id: str, project_id: str) -> str:
        raise RuntimeError(f"refused: https://api.telegram.org/bot{TOKEN}/sendDocument")

    logs.configure(logfile=str(log_file), json_lines=True)
    job_id = str(uuid.uuid4())
    upload.apply(kwargs={"job_id": job_id, "project_id": "proj-8"})
    events = [json.loads(line) for line in lines(log_file)]
    ends = [e for e in events if e.get("job_id") == job_id and e.get("event") != "job.started"]
    ends = [e for e in ends if "event" in e]
    assert len(ends) == 1
    (end,) = ends
    assert end["event"] == "job.failed"
    assert end["level"] == "ERROR"
    assert end["stage"] == "upload"
    assert end["error"].startswith("RuntimeError: refused: https://api.telegram.org/bot<redacted>")
    assert TOKEN not in log_file.read_text()


def test_every_argument_and_message_is_bounded_after_redaction(
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = "s3cr3t-" + "x" * 300  # longer than an argument may be: redacted whole first
    handler = logs.configure(secrets=(secret,))
    try:
        log = logging.getLogger("worker.test.bounds")
        log.warning("project %s asked for %d databases with %s", "p" * 10_000, 3, secret)
        log.warning("message " + "m" * 10_000)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 2
    assert all(len(line) < logs.MAX_MESSAGE + 200 for line in lines)
    assert "p" * logs.MAX_ARGUMENT + "...[9800 more characters]" in lines[0]
    assert "asked for 3 databases" in lines[0]
    assert "s3cr3t" not in lines[0]


def test_a_wait_for_a_telegram_slot_is_no_warning_and_a_retry_is(
    eager_app: Celery, log_file: Path
) -> None:
    # A deferral is the pacer's ordinary course: a line per part at WARNING would bury the
    # retries that say something went wrong.
    @eager_app.task(name="backups.upload", shared=False, bind=True)
    def upload(self: Task, *, job_id: str, project_id: str, defer: bool) -> str:  # type: ignore[type-arg]
        if self.request.retries == 0:
            if defer:
                jobevents.deferring(self.request.id)
            raise self.retry(countdown=0.01)
        return job_id

    logs.configure(logfile=str(log_file), json_lines=True)
    ends: dict[bool, list[dict[str, object]]] = {}
    for defer in (True, False):
        job_id = str(uuid.uuid4())
        upload.apply(kwargs={"job_id": job_id, "project_id": "proj-9", "defer": defer})
        events = [json.loads(line) for line in lines(log_file)]
        ends[defer] = [
            e
            for e in events
            if e.get("job_id") == job_id and e.get("event") not in (None, "job.started")
        ]
    deferred, retried = ends[True], ends[False]
    assert [(e["event"], e["level"]) for e in deferred] == [
        ("job.deferred", "INFO"),
        ("job.succeeded", "INFO"),
    ]
    assert "stage=upload: deferred to its Telegram slot after" in str(deferred[0]["message"])
    assert [(e["event"], e["level"]) for e in retried] == [
        ("job.will_retry", "WARNING"),
        ("job.succeeded", "INFO"),
    ]
