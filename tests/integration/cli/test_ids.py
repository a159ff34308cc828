"""Id prefixes resolved in a real control plane: unique, unknown, ambiguous."""

from __future__ import annotations

import json
import uuid

import click
import pytest
from click.testing import CliRunner

from db import session
from db.queries import jobs as db_jobs
from worker import errors, settings
from worker.cli import ids, main
from worker.jobs import runtime

FIRST = uuid.UUID("f52ae7a8-c5d1-4b6e-9a0f-0123456789ab")
SECOND = uuid.UUID("f52ae7b0-0000-4000-8000-000000000001")
THIRD = uuid.UUID("0a000000-0000-4000-8000-000000000002")


@pytest.fixture
def rt(database: session.Database) -> runtime.Runtime:
    with database.transaction() as db_session:
        for job_id in (FIRST, SECOND, THIRD):
            db_jobs.create_job(
                db_session,
                job_id=job_id,
                type="backup",
                project_id="p-ids",
                payload={},
                celery_task_id=None,
            )
    config = settings.Settings(_env_file=None, database_url=database.url)
    return runtime.Runtime(settings=config, database=database)


def given(text: str) -> str:
    found = ids.digits(click.Context(click.Command("probe")), click.Argument(["id"]), text)
    assert found is not None
    return found


def test_a_unique_prefix_is_its_id_as_the_tables_print_it(rt: runtime.Runtime) -> None:
    assert ids.resolve(rt, ids.JOB, given("f52ae7a8")) == FIRST
    assert ids.resolve(rt, ids.JOB, given("F52AE7A8-C5")) == FIRST
    assert ids.resolve(rt, ids.JOB, given("0a00")) == THIRD


def test_a_whole_id_is_taken_as_it_is(rt: runtime.Runtime) -> None:
    absent = uuid.uuid4()
    assert ids.resolve(rt, ids.JOB, given(str(absent))) == absent


def test_an_unknown_prefix_is_not_found(rt: runtime.Runtime) -> None:
    with pytest.raises(errors.NotFoundError, match=r"^no job id starts with f52ae7a9$"):
        ids.resolve(rt, ids.JOB, given("f52ae7a9"))
    with pytest.raises(errors.NotFoundError, match=r"^no backup id starts with f52ae7a8$"):
        ids.resolve(rt, ids.BACKUP, given("f52ae7a8"))


def test_an_ambiguous_prefix_lists_its_candidates(rt: runtime.Runtime) -> None:
    with pytest.raises(errors.InputError) as refused:
        ids.resolve(rt, ids.JOB, given("f52ae7"))
    assert refused.value.message == (
        f"job id prefix f52ae7 is ambiguous: {FIRST}, {SECOND} (give more digits)"
    )


@pytest.mark.parametrize("text", ["f52", "xyz12345", "f52ae7a8-c5d1-4b6e-9a0f-0123456789abc"])
def test_too_short_or_not_hex_is_a_usage_error(text: str) -> None:
    with pytest.raises(click.BadParameter, match="is not an id"):
        given(text)


def test_schedule_commands_take_a_prefix(
    database: session.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database.url)
    settings.current.cache_clear()
    try:
        runner = CliRunner()
        add = ["schedules", "add", "--project", "p-ids", "--database", "app", "--every", "6h"]
        added = runner.invoke(main.main, [*add, "--json"])
        assert added.exit_code == 0, added.output
        whole = json.loads(added.stdout)["schedule"]["id"]
        disabled = runner.invoke(main.main, ["schedules", "disable", whole[:8], "--json"])
        assert disabled.exit_code == 0, disabled.output
        assert json.loads(disabled.stdout)["schedule"]["enabled"] is False
        removed = runner.invoke(main.main, ["schedules", "remove", whole[:6].upper(), "--json"])
        assert json.loads(removed.stdout) == {"status": "ok", "removed": whole}
        again = runner.invoke(main.main, ["schedules", "remove", whole[:8], "--json"])
        assert again.exit_code == 2
        assert json.loads(again.stdout)["error"] == f"no schedule id starts with {whole[:8]}"
    finally:
        settings.current.cache_clear()
