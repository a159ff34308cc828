"""The public tasks' models: what they accept, and that the Celery tasks take the same."""

from __future__ import annotations

import dataclasses
import inspect
import uuid

import pytest

from worker import errors
from worker.contract import request, tasks

JOB = uuid.UUID("7d7c2e52-9f0e-4b8e-8d6e-1b1f4f7a0c11")


def test_create_backup_takes_the_gateways_arguments() -> None:
    message = tasks.CreateBackup.from_kwargs(
        {"project_id": "proj-1", "database": "sales", "job_id": str(JOB), "caption": "hi"}
    )
    assert message == tasks.CreateBackup("proj-1", "sales", JOB, caption="hi")
    assert message.request() == request.BackupRequest("proj-1", "sales", caption="hi")
    assert tasks.CreateBackup.of(message.request(), JOB) == message


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"project_id": "proj 1", "database": "sales"}, "invalid project id 'proj 1'"),
        ({"project_id": "p", "database": "sales", "job_id": "x"}, "invalid job id 'x'"),
        ({"project_id": "p", "database": "sales", "expires_in_days": 0}, "expires_in_days 0"),
        ({"project_id": "p", "database": "sales", "filename": "../x"}, "invalid filename"),
    ],
)
def test_create_backup_refuses_with_the_validators_messages(
    kwargs: dict[str, object], error: str
) -> None:
    with pytest.raises(errors.InputError, match=error.replace("(", r"\(")):
        tasks.CreateBackup.from_kwargs(kwargs)


def test_a_bad_job_id_is_reported_before_the_rest() -> None:
    with pytest.raises(errors.InputError, match="job id"):
        tasks.CreateBackup.from_kwargs({"project_id": "bad id", "job_id": 5})


def test_every_public_name_maps_to_its_model_and_steps_stay_apart() -> None:
    assert {model.NAME for model in tasks.TASKS.values()} == set(tasks.TASKS)
    assert tasks.CREATE in tasks.TASKS
    assert not set(tasks.STEPS) & set(tasks.TASKS)


def test_the_celery_tasks_take_exactly_the_models_arguments() -> None:
    from worker.app import app

    app.loader.import_default_modules()
    for name in (*tasks.TASKS, *tasks.STEPS):
        assert name in app.tasks, name
    for name, model in tasks.TASKS.items():
        params = inspect.signature(app.tasks[name].run).parameters.values()
        taken = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
        # Beside them only `**unknown`, which the task refuses itself (unknown_arguments),
        # so that an unknown argument fails the job instead of a TypeError before the body.
        others = [p for p in params if p.kind is not p.KEYWORD_ONLY]
        assert [(p.name, p.kind) for p in others] in (
            [],
            [("unknown", inspect.Parameter.VAR_KEYWORD)],
        ), name
        declared = {
            f.name: inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
            for f in dataclasses.fields(model)
        }
        assert taken == declared, name


def test_unknown_arguments_are_refused_by_name() -> None:
    tasks.unknown_arguments(tasks.CREATE, {})
    with pytest.raises(
        errors.InputError, match=r"unknown argument\(s\) priority for backups\.create"
    ):
        tasks.unknown_arguments(tasks.CREATE, {"priority": "high"})
