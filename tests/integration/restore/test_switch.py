"""The switch by rename on a real server: sessions ended, every half-done state recovered, undo."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from tests.support.sources import ADMIN_DSN, drop_database
from worker import errors
from worker.postgres import source, switch, target

PARAMS = source.SourceParams.from_url("postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def names() -> Iterator[switch.Names]:
    found = switch.Names.of(f"bw_sw_{uuid.uuid4().hex[:8]}", uuid.uuid4())
    yield found
    for name in (found.project, found.staging, found.undo, found.undone):
        drop_database(name)


def connect(database: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(ADMIN_DSN.replace("dbname=postgres", f"dbname={database}"))
    conn.autocommit = True
    return conn


def mark(database: str, value: str) -> None:
    target.create(PARAMS, database)
    conn = connect(database)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE which (v text)")
        cur.execute("INSERT INTO which VALUES (%s)", (value,))
    conn.close()


def which(database: str) -> str:
    conn = connect(database)
    with conn.cursor() as cur:
        cur.execute("SELECT v FROM which")
        value = str(cur.fetchone()[0])  # type: ignore[index]
    conn.close()
    return value


def test_names_fit_in_63_bytes_and_say_which_is_which() -> None:
    job = uuid.UUID("0123456789abcdef0123456789abcdef")
    short = switch.Names.of("sales", job)
    assert (short.staging, short.undo) == ("sales__staging_01234567", "sales__pre_restore_01234567")
    long = switch.Names.of("x" * 63, job)
    assert all(len(n) <= 63 for n in (long.staging, long.undo, long.undone))
    assert long.undo.endswith("__pre_restore_01234567")


def test_a_switch_ends_the_sessions_and_keeps_the_old_database_closed(names: switch.Names) -> None:
    mark(names.project, "old")
    mark(names.staging, "new")
    client = connect(names.project)
    phases: list[str] = []
    switch.switch(PARAMS, names, on_phase=phases.append)
    assert phases == [switch.SWITCHING, switch.RENAMED, switch.SWITCHED]
    with pytest.raises(psycopg2.OperationalError):
        client.cursor().execute("SELECT 1")  # its session was ended
    assert which(names.project) == "new"
    assert not target.exists(PARAMS, names.staging)
    with pytest.raises(psycopg2.OperationalError, match="not currently accepting connections"):
        connect(names.undo)
    switch.undo(PARAMS, names)
    assert which(names.project) == "old"
    assert target.exists(PARAMS, names.undone)
    switch.undo(PARAMS, names)  # twice: nothing more to do, no harm
    assert which(names.project) == "old"


@pytest.mark.parametrize(
    ("present", "outcome", "expected"),
    [
        # before the switch: the project and staging exist
        ({"project": "old", "staging": "new"}, switch.OLD, "old"),
        # between the two renames: the project's name is missing
        ({"undo": "old", "staging": "new"}, switch.NEW, "new"),
        # after the switch
        ({"project": "new", "undo": "old"}, switch.NEW, "new"),
    ],
)
def test_recover_leaves_the_project_wholly_old_or_wholly_new(
    names: switch.Names, present: dict[str, str], outcome: str, expected: str
) -> None:
    for role, value in present.items():
        mark(getattr(names, role), value)
    if "undo" in present:
        target.allow_connections(PARAMS, names.undo, False)
    assert switch.recover(PARAMS, names) == outcome
    assert switch.recover(PARAMS, names) == outcome  # idempotent
    assert which(names.project) == expected
    assert not target.exists(PARAMS, names.staging)


def test_recover_with_nothing_left_says_the_database_is_missing(names: switch.Names) -> None:
    with pytest.raises(errors.RestoreError, match="missing"):
        switch.recover(PARAMS, names)
