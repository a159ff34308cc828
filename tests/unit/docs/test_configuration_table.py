"""docs/configuration.md's table of environment variables matches worker.settings.Settings."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic.fields import FieldInfo

from worker import settings

PAGE = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
HEADING = "## Environment variables"
CODE = re.compile(r"`([^`]*)`")


def table_rows(text: str) -> dict[str, str]:
    """Variable name -> default cell, from the first table after HEADING."""
    section = text.split(HEADING, 1)[1]
    rows: dict[str, str] = {}
    in_table = False
    for line in section.splitlines():
        if not line.startswith("|"):
            if in_table:
                break
            continue
        in_table = True
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] in ("variable", "---"):
            continue
        assert len(cells) == 3, f"row {line!r} has {len(cells)} cells, not 3"
        names = CODE.findall(cells[0])
        assert len(names) == 1, f"row {line!r} must name exactly one variable"
        assert names[0] not in rows, f"{names[0]} has two rows"
        rows[names[0]] = cells[2]
    return rows


def env_name(name: str, field: FieldInfo) -> str:
    prefix = str(settings.Settings.model_config.get("env_prefix") or "")
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    return (prefix + (alias or name)).upper()


def env_fields() -> dict[str, FieldInfo]:
    return {env_name(name, f): f for name, f in settings.Settings.model_fields.items()}


def documented(cell: str, default: object) -> object:
    """The cell's first code span, read as the type of `default`."""
    spans = CODE.findall(cell)
    assert spans, f"default {cell!r} shows no value in backticks"
    value = spans[0]
    if isinstance(default, bool):
        return {"true": True, "false": False}[value.lower()]
    if isinstance(default, int | float):
        return type(default)(value.replace(",", "").replace("_", ""))
    return value


def test_the_table_lists_every_setting_and_nothing_else() -> None:
    rows = table_rows(PAGE.read_text(encoding="utf-8"))
    fields = env_fields()
    assert sorted(set(fields) - set(rows)) == [], "settings missing from docs/configuration.md"
    assert sorted(set(rows) - set(fields)) == [], "rows in docs/configuration.md naming no setting"


def test_documented_defaults_are_the_fields_defaults() -> None:
    rows = table_rows(PAGE.read_text(encoding="utf-8"))
    checked = 0
    for name, field in env_fields().items():
        default = field.default
        if name not in rows or not isinstance(default, str | int | float | bool):
            continue
        assert documented(rows[name], default) == default, f"{name}: {rows[name]!r}"
        checked += 1
    assert checked >= 10
