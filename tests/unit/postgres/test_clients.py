"""Choosing pg_dump/pg_restore by the server's version, over fake /usr/lib/postgresql trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker import errors
from worker.postgres import clients


def fake_tool(directory: Path, tool: str, version: str) -> Path:
    """A tiny script that answers `--version` like the real program."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / tool
    program.write_text(f"#!/bin/sh\necho '{tool} (PostgreSQL) {version}'\n")
    program.chmod(0o755)
    return program


def fake_lib(root: Path, *versions: str, tool: str = "pg_dump") -> Path:
    for version in versions:
        fake_tool(root / version.split(".")[0] / "bin", tool, version)
    return root


@pytest.fixture
def no_path_tool(tmp_path: Path) -> str:
    """A PATH program that does not run, so only the fake tree counts."""
    return str(tmp_path / "absent" / "pg_dump")


def test_lowest_major_at_least_the_servers(tmp_path: Path, no_path_tool: str) -> None:
    root = fake_lib(tmp_path / "lib", "13.4", "15.8", "16.2", "17.0")
    client = clients.choose("pg_dump", 150004, root=root, fallback=no_path_tool)
    assert (client.version, client.major) == ("15.8", (15,))
    assert client.path == str(root / "15" / "bin" / "pg_dump")
    assert clients.choose("pg_dump", 130000, root=root, fallback=no_path_tool).version == "13.4"
    assert clients.choose("pg_dump", 160009, root=root, fallback=no_path_tool).version == "16.2"


def test_old_numbering_compares_major_and_minor(tmp_path: Path, no_path_tool: str) -> None:
    root = fake_lib(tmp_path / "lib", "9.5.25")
    fake_tool(tmp_path / "lib" / "9.6" / "bin", "pg_dump", "9.6.24")
    assert clients.server_major(90624) == (9, 6)
    client = clients.choose("pg_dump", 90610, root=root, fallback=no_path_tool)
    assert client.version == "9.6"
    assert client.major_text == "9.6"


def test_none_new_enough_names_both_versions(tmp_path: Path, no_path_tool: str) -> None:
    root = fake_lib(tmp_path / "lib", "13.4")
    with pytest.raises(errors.DumpError) as caught:
        clients.choose("pg_dump", 150004, root=root, fallback=no_path_tool)
    message = caught.value.message
    assert "pg_dump 13.4" in message
    assert "PostgreSQL 15" in message
    assert "postgresql-client-15" in message


def test_pg_restore_raises_a_restore_error(tmp_path: Path, no_path_tool: str) -> None:
    root = fake_lib(tmp_path / "lib", "12.1", tool="pg_restore")
    with pytest.raises(errors.RestoreError, match=r"pg_restore 12.1 .*PostgreSQL 14"):
        clients.choose("pg_restore", 140000, root=root, fallback=no_path_tool)


def test_path_program_is_the_fallback_when_its_version_qualifies(tmp_path: Path) -> None:
    root = fake_lib(tmp_path / "lib", "13.4")
    on_path = fake_tool(tmp_path / "usr-bin", "pg_dump", "16.1")
    client = clients.choose("pg_dump", 150000, root=root, fallback=str(on_path))
    assert (client.path, client.version) == (str(on_path), "16.1")


def test_tree_program_beats_path_program_of_the_same_major(tmp_path: Path) -> None:
    root = fake_lib(tmp_path / "lib", "15.8")
    on_path = fake_tool(tmp_path / "usr-bin", "pg_dump", "15.8")
    client = clients.choose("pg_dump", 150000, root=root, fallback=str(on_path))
    assert client.path == str(root / "15" / "bin" / "pg_dump")


def test_nothing_installed_at_all(tmp_path: Path, no_path_tool: str) -> None:
    with pytest.raises(errors.DumpError, match=r"pg_dump was not found .* PostgreSQL 15"):
        clients.choose("pg_dump", 150000, root=tmp_path / "nothing", fallback=no_path_tool)


def test_programs_that_do_not_tell_a_version_are_skipped(tmp_path: Path, no_path_tool: str) -> None:
    root = tmp_path / "lib"
    broken = root / "16" / "bin" / "pg_dump"
    broken.parent.mkdir(parents=True)
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    fake_lib(root, "17.2")
    assert [c.version for c in clients.installed("pg_dump", root)] == ["17.2"]
    assert clients.choose("pg_dump", 160000, root=root, fallback=no_path_tool).version == "17.2"


def test_unknown_tool_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown tool"):
        clients.choose("psql", 150000)


def test_pg_restore_is_at_least_as_new_as_the_archives_pg_dump(
    tmp_path: Path, no_path_tool: str
) -> None:
    root = fake_lib(tmp_path / "lib", "13.4", "15.8", "16.2", tool="pg_restore")
    pick = clients.choose("pg_restore", 130000, root=root, fallback=no_path_tool, archive="15.4")
    assert pick.version == "15.8"  # the server alone would take 13
    assert clients.choose("pg_restore", 160000, root=root, fallback=no_path_tool).version == "16.2"
    assert clients.choose("pg_restore", 0, root=root, fallback=no_path_tool, archive="9.6.24") == (
        clients.choose("pg_restore", 0, root=root, fallback=no_path_tool)
    )
    with pytest.raises(errors.RestoreError) as info:
        clients.choose("pg_restore", 150000, root=root, fallback=no_path_tool, archive="17.1")
    assert info.value.message == (
        f"pg_restore 16.2 ({root}/16/bin/pg_restore) is older than the pg_dump that wrote the "
        "archive (17.1) and no newer pg_restore is installed: install postgresql-client-17 or newer"
    )
    with pytest.raises(errors.RestoreError, match=r"than the server \(PostgreSQL 18\) and the pg_"):
        clients.choose("pg_restore", 180000, root=root, fallback=no_path_tool, archive="17.1")


def test_versions_as_printed_compare_by_major() -> None:
    assert clients.version_major("16.2") == (16,)
    assert clients.version_major("9.6.24") == (9, 6)
    assert clients.version_major("17beta1") == (17,)
