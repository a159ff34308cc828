"""Whole-server backups and `*` schedules: database → project, the control-plane server."""

from __future__ import annotations

import hashlib

import pytest

from worker import errors, settings
from worker.contract import request, tasks
from worker.jobs import fanout
from worker.postgres import servers, source


def test_the_database_name_is_the_project_by_default() -> None:
    assert fanout.project_of("proj-123", None) == "proj-123"
    assert fanout.project_of("app.prod", None) == "app.prod"


LEGAL_NAMES = ["My DB", 'say "hi"', "Ünïcödé", "../x", "a/b", "$abc", "-x", "é" * 31 + "a"]


@pytest.mark.parametrize("name", LEGAL_NAMES)
def test_a_name_that_is_no_project_id_gets_a_safe_one_of_its_own(name: str) -> None:
    project = fanout.project_of(name, None)
    assert request.validate_project_id(project) == project
    assert project.endswith("-" + hashlib.sha256(name.encode()).hexdigest()[:12])
    assert "/" not in project
    assert " " not in project


def test_names_that_differ_only_in_unsafe_characters_stay_apart() -> None:
    names = ["my db", "my/db", "my\tdb", 'my"db']
    projects = {fanout.project_of(name, None) for name in names}
    assert len(projects) == len(names)
    assert all(project.startswith("my-db-") for project in projects)


def test_a_pattern_takes_its_project_group_from_the_whole_name() -> None:
    pattern = r"proj_(?P<project>[a-z0-9-]+)_db"
    assert fanout.project_of("proj_abc-1_db", pattern) == "abc-1"
    # A database the pattern does not describe is still backed up, under its own name.
    assert fanout.project_of("proj_abc_db2", pattern) == "proj_abc_db2"
    assert fanout.project_of("other db", pattern).startswith("other-db-")


def test_a_pattern_without_a_project_group_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCE_PROJECT_PATTERN", r"db_(\w+)")
    with pytest.raises(errors.ConfigError, match=r"SOURCE_PROJECT_PATTERN: .*named group"):
        settings.load()
    monkeypatch.setenv("SOURCE_PROJECT_PATTERN", r"db_(?P<project>\w+)")
    assert settings.load().source_project_pattern == r"db_(?P<project>\w+)"


@pytest.mark.parametrize(
    ("control", "server", "same"),
    [
        ("postgresql://u@localhost:5432/cp", "host=127.0.0.1 port=5432", True),
        ("postgresql://u@/cp?host=/var/run/postgresql", "host=127.0.0.1", True),
        ("postgresql://u@127.0.0.1:5432/cp", "host=127.0.0.1 port=26131", False),
        ("postgresql://u@db1.internal/cp", "host=db2.internal", False),
    ],
)
def test_the_control_plane_is_on_a_server_when_host_and_port_agree(
    control: str, server: str, same: bool
) -> None:
    assert fanout.same_server(control, source.SourceParams.from_url(server)) is same


def test_a_backup_request_names_its_server_and_defaults_to_default() -> None:
    assert request.validate("p", "db").server == "default"
    message = tasks.CreateBackup.from_kwargs({"project_id": "p", "database": "db", "server": "eu1"})
    assert message.request().server == "eu1"
    assert request.BackupRequest.from_payload(message.request().payload("c", None)).server == "eu1"
    with pytest.raises(errors.InputError, match="invalid server name 'EU 1'"):
        tasks.CreateBackup.from_kwargs({"project_id": "p", "database": "db", "server": "EU 1"})
    with pytest.raises(errors.InputError, match="server name must be a string"):
        servers.validate_name(3)


def test_exclude_patterns_are_a_short_list_of_strings() -> None:
    assert fanout.validate_patterns(None) == []
    assert fanout.validate_patterns(("tmp_*", "postgres")) == ["tmp_*", "postgres"]
    with pytest.raises(errors.InputError, match="strings of 1 to 200"):
        fanout.validate_patterns(["ok", ""])
    with pytest.raises(errors.InputError, match="a list of at most 100"):
        fanout.validate_patterns("tmp_*")
