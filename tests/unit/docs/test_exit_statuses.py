"""docs/getting-started.md's table of exit statuses is worker.cli.common's EXIT_* constants."""

from __future__ import annotations

import re
from pathlib import Path

from worker.cli import common

PAGE = Path(__file__).resolve().parents[3] / "docs" / "getting-started.md"
HEADING = "#### Exit statuses"
ROW = re.compile(r"^\| `(\d+)` \| (.+) \|$")


def documented() -> dict[int, str]:
    section = PAGE.read_text().split(HEADING, 1)[1].split("\n#", 1)[0]
    rows: dict[int, str] = {}
    for line in section.splitlines():
        found = ROW.match(line)
        if found:
            assert int(found[1]) not in rows, f"status {found[1]} has two rows"
            rows[int(found[1])] = found[2].strip()
    return rows


def test_the_table_lists_exactly_the_exit_statuses_the_cli_uses() -> None:
    constants = {value for name, value in vars(common).items() if name.startswith("EXIT_")}
    assert set(documented()) == constants


def test_each_status_is_explained() -> None:
    assert all(len(meaning) > 10 for meaning in documented().values())
