"""pg_dump and pg_restore see a minimal environment: no bot token, nothing of the worker's."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from worker.backup import dump
from worker.postgres import clients, source


def test_pg_dump_gets_only_what_libpq_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "env.txt"
    program = tmp_path / "pg_dump"
    program.write_text(f'#!/bin/sh\nenv > "{out}"\nexit 1\n')
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:SECRET-token-ABCdefGHIjklMNOpqrSTUvw")
    monkeypatch.setenv("BACKUP_AGE_IDENTITY_FILE", "/secret/key.txt")
    monkeypatch.setenv("PGSSLROOTCERT", "/etc/ssl/root.crt")
    monkeypatch.setenv("LANG", "C.UTF-8")
    params = source.SourceParams.from_url("postgresql://backup:pw@127.0.0.1:5432/app")
    with pytest.raises(Exception):  # noqa: B017, PT011 - the fake pg_dump fails; only its env counts
        dump.dump_database(
            params, "app", tmp_path / "spool", "b-1", part_size=65536, program=str(program)
        )
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert seen["PGPASSWORD"] == "pw"
    assert seen["PGSSLROOTCERT"] == "/etc/ssl/root.crt"
    assert seen["LANG"] == "C.UTF-8"
    assert seen["PATH"] == os.environ["PATH"]
    assert "TELEGRAM_BOT_TOKEN" not in seen
    assert "BACKUP_AGE_IDENTITY_FILE" not in seen
    allowed = {"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LANGUAGE", "PWD", "SHLVL", "_"}
    extra = {k for k in seen if k not in allowed and not k.startswith(("PG", "LC_"))}
    assert extra == set()


def test_the_environment_is_built_from_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:secret@host/0")
    monkeypatch.setenv("PGSERVICEFILE", "/etc/pg_service.conf")
    env = source.SourceParams.from_url("postgresql://u@h/db").env()
    assert "CELERY_BROKER_URL" not in env
    assert env["PGSERVICEFILE"] == "/etc/pg_service.conf"
    assert env["PGCONNECT_TIMEOUT"] == str(source.DEFAULT_CONNECT_TIMEOUT)


def test_asking_a_client_its_version_passes_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "env.txt"
    program = tmp_path / "99" / "bin" / "pg_restore"
    program.parent.mkdir(parents=True)
    program.write_text(f'#!/bin/sh\nenv > "{out}"\necho "pg_restore (PostgreSQL) 99.1"\n')
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:SECRET-token-ABCdefGHIjklMNOpqrSTUvw")
    [found] = clients.installed("pg_restore", root=tmp_path)
    assert found.version == "99.1"
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert "TELEGRAM_BOT_TOKEN" not in seen
    assert seen["PATH"] == os.environ["PATH"]
