"""The lazy `backup-worker` group: the same commands and help as an eager group, fewer imports."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import click
import pytest
from click.testing import CliRunner

from worker.cli import lazy, main

LONG = 10_000  # a help-line limit no summary reaches: the whole first paragraph
HEAVY = ("alembic", "sqlalchemy", "celery", "kombu", "redis", "rich", "pydantic", "db")


def loaded_modules(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after `backup-worker *argv` (its exit ignored)."""
    code = (
        "import json, sys\n"
        "from worker.cli.main import main\n"
        f"try:\n    main({list(argv)!r}, prog_name='backup-worker')\n"
        "except SystemExit:\n    pass\n"
        "sys.stdout.flush()\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    found: list[str] = json.loads(done.stderr.splitlines()[-1])
    return set(found)


@pytest.mark.parametrize("name", sorted(main.COMMANDS))
def test_each_summary_is_the_first_paragraph_of_its_commands_help(name: str) -> None:
    entry = main.COMMANDS[name]
    command = lazy.load(entry.target)
    assert command.name == name
    stand_in = click.Command(name, help=entry.summary)
    assert stand_in.get_short_help_str(LONG) == command.get_short_help_str(LONG)


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_help_reads_as_the_eager_groups_does(columns: int) -> None:
    assert main.main.callback is not None
    eager = click.Group(
        "main",
        commands=[lazy.load(entry.target) for entry in main.COMMANDS.values()],
        callback=main.main.callback,
        params=main.main.params,
        help=main.main.help,
    )
    runner = CliRunner()
    env = {"COLUMNS": str(columns)}
    shown = runner.invoke(main.main, ["--help"], env=env, terminal_width=columns)
    expected = runner.invoke(eager, ["--help"], env=env, terminal_width=columns)
    assert shown.exit_code == expected.exit_code == 0
    assert shown.output == expected.output


def test_an_unknown_command_is_refused_as_before() -> None:
    result = CliRunner().invoke(main.main, ["bakup"])
    assert result.exit_code == 2
    assert "No such command 'bakup'" in result.output


def packages(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_help_imports_no_command() -> None:
    found = loaded_modules("--help")
    assert not packages(found) & set(HEAVY)
    assert {name for name in found if name.startswith("worker.")} == {
        "worker.cli.main",
        "worker.cli.lazy",
        "worker.cli",
    }


def test_a_commands_help_imports_that_commands_module_only() -> None:
    found = loaded_modules("jobs", "--help")
    assert "worker.cli.commands.reading" in found
    assert not found & {
        "worker.cli.commands.backup",
        "worker.cli.commands.send",
        "db.migrate",
        "alembic",
    }


def test_the_enqueue_commands_module_imports_no_alembic_rich_or_http_client() -> None:
    # What `backup --json` needs is the settings, the jobs table and Celery; --wait's progress
    # bar (rich), migrations (Alembic) and the Bot API client (requests) are someone else's.
    found = packages(loaded_modules("backup", "--help"))
    assert "sqlalchemy" in found
    assert not found & {"alembic", "rich", "requests"}


def test_the_celery_app_the_cli_sends_through_imports_no_http_client() -> None:
    # worker.app -> worker.logs -> worker.telegram.answers: the redaction needs no requests.
    code = "import sys, worker.app; print(sorted({m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    found = set(json.loads(done.stdout.replace("'", '"')))
    assert "celery" in found
    assert not found & {"requests", "urllib3", "rich", "alembic"}


def test_version_is_the_installed_packages_and_imports_no_command() -> None:
    result = CliRunner().invoke(main.main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"backup-worker, version {metadata.version('backup-worker')}\n"
    found = loaded_modules("--version")
    assert not packages(found) & set(HEAVY)
    assert {name for name in found if name.startswith("worker.")} == {
        "worker.cli.main",
        "worker.cli.lazy",
        "worker.cli",
    }
