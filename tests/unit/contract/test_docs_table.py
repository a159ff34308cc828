"""docs/contract.md's task table says what worker.contract.tasks defines."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

from worker.contract import tasks

DOC = Path(__file__).resolve().parents[3] / "docs" / "contract.md"
_ARGUMENT = re.compile(r"`([a-z_][a-z0-9_]*)(?:=([^`]+))?`")
_MISSING = object()


def table() -> dict[str, dict[str, object]]:
    """Task name -> {argument: default, or _MISSING when required}, from the `## Tasks` table."""
    section = DOC.read_text().split("\n## Tasks\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header == ["task", "keyword arguments", "returns"]
    found: dict[str, dict[str, object]] = {}
    for line in rows[2:]:
        name, arguments, _ = (cell.strip() for cell in line.strip("|").split("|"))
        found[name.strip("`")] = {
            arg: ast.literal_eval(default) if default else _MISSING
            for arg, default in _ARGUMENT.findall(arguments)
        }
    return found


def fields(model: type[tasks.Message]) -> dict[str, object]:
    return {
        f.name: _MISSING if f.default is dataclasses.MISSING else f.default
        for f in dataclasses.fields(model)
    }


def test_the_table_names_every_public_task() -> None:
    assert set(table()) == set(tasks.TASKS)


def test_each_task_has_the_documented_arguments_and_defaults() -> None:
    documented = table()
    for name, model in tasks.TASKS.items():
        assert documented[name] == fields(model), name
        # Order too: the table reads like the call.
        assert list(documented[name]) == list(fields(model)), name
