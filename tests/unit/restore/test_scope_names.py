"""RESTORE_TARGET_NAMES with legal database names that look like patterns or placeholders."""

from __future__ import annotations

import pytest

from db import models
from worker.restore import scope

DEFAULT = "{database}_*"


def backup(database: str, project: str = "proj") -> models.Backup:
    return models.Backup(database=database, project_id=project)


@pytest.mark.parametrize(
    "database", ["app.prod", "My DB", 'say "hi"', "ünï", "../x", "é" * 31 + "a"]
)
def test_the_default_allows_the_name_and_a_suffix(database: str) -> None:
    assert scope.name_allowed(DEFAULT, f"{database}_copy", backup(database))
    assert not scope.name_allowed(DEFAULT, f"{database}copy", backup(database))
    assert not scope.name_allowed(DEFAULT, "other_copy", backup(database))


@pytest.mark.parametrize(("database", "other"), [("a*", "ab"), ("a?", "ab"), ("[ab]", "a")])
def test_pattern_characters_in_a_name_match_only_themselves(database: str, other: str) -> None:
    assert scope.name_allowed(DEFAULT, f"{database}_x", backup(database))
    assert not scope.name_allowed(DEFAULT, f"{other}_x", backup(database))


def test_a_name_that_looks_like_a_placeholder_stays_itself() -> None:
    mine = backup("{project}", project="p1")
    assert scope.name_allowed(DEFAULT, "{project}_x", mine)
    assert not scope.name_allowed(DEFAULT, "p1_x", mine)
