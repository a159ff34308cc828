"""The contract's JSON Schema: the committed copy the TypeScript client is generated from, and
the task results it states against the Celery tasks' own annotations."""

from __future__ import annotations

import typing
import uuid
from datetime import UTC, datetime

from click.testing import CliRunner

from db import models
from tests.support import typescript
from worker.backup import recording
from worker.cli.commands import contract
from worker.contract import rows, schema, tasks

COMMITTED = typescript.PACKAGE / "schema" / "contract.json"
REGENERATE = (
    "backup-worker contract schema --output clients/typescript/schema/contract.json, "
    "then `npm run generate` in clients/typescript"
)


def test_the_committed_schema_is_the_commands_output() -> None:
    printed = CliRunner().invoke(contract.contract, ["schema"])
    assert printed.exit_code == 0, printed.output
    assert printed.output == schema.render()
    assert COMMITTED.read_text(encoding="utf-8") == printed.output, (
        f"{COMMITTED} is not what the contract's models say: run {REGENERATE}"
    )


def test_every_public_task_has_its_arguments_and_result_in_the_schema() -> None:
    found = schema.contract_schema()
    listed = found["properties"]["tasks"]["properties"]
    assert set(listed) == set(tasks.TASKS) == set(schema.RESULTS)
    create = found["definitions"]["CreateBackup"]
    assert create["required"] == ["project_id", "database"]
    assert create["additionalProperties"] is False
    assert create["properties"]["server"]["default"] == "default"


def test_the_results_are_the_celery_tasks_return_types() -> None:
    from worker.app import app

    app.loader.import_default_modules()
    for name, result in schema.RESULTS.items():
        assert typing.get_type_hints(app.tasks[name].run)["return"] == result, name


def test_a_backup_summary_is_what_the_job_result_holds() -> None:
    backup = models.Backup(
        id=uuid.uuid4(),
        project_id="proj-1",
        database="sales",
        server="default",
        pg_dump_version="17.2",
        filename="sales.dump.zst",
        size_bytes=10,
        sha256="0" * 64,
        compression="zstd",
        encrypted=False,
        chat_id="-100123",
        part_count=1,
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        parts=[
            models.BackupPart(
                index=0,
                file_id="f",
                file_unique_id="u",
                message_id=7,
                size_bytes=10,
                sha256="1" * 64,
                chat_id="-100123",
                bot_id=None,
            )
        ],
    )
    summary = recording.backup_summary(backup)
    model = rows.BackupSummary.model_validate(summary)
    assert set(summary) == set(rows.BackupSummary.model_fields) - {"migrated_to_chat_id"}
    assert set(summary["parts"][0]) == set(rows.BackupPart.model_fields)  # type: ignore[index]
    assert model.parts[0].message_id == 7
