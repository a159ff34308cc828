"""deploy/systemd/: a hardened unit for every process of the Procfile, plus the migration.

`systemd-analyze verify` checks each unit offline (no systemd as PID 1 needed), on copies whose
programs point at this checkout's venv, since /opt/backup-worker is not installed here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_deploy_files import PROCESS_TYPES, ROOT, procfile

UNITS = ROOT / "deploy" / "systemd"
BIN = "/opt/backup-worker/bin/"
Unit = dict[str, list[str]]  # "Section.Key" -> values, in order


def unit(name: str) -> Unit:
    found: Unit = {}
    section = ""
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key}", []).append(value)
    return found


def command(exec_start: str) -> str:
    """The command line as the Procfile writes it: the venv's path off, %% unescaped."""
    assert exec_start.startswith(BIN), exec_start
    return exec_start.removeprefix(BIN).replace("%%", "%")


def all_units() -> list[str]:
    return sorted(path.name for path in UNITS.glob("*.service"))


def test_there_is_a_unit_per_process_and_one_for_the_migration() -> None:
    expected = {f"backup-worker-{name}.service" for name in PROCESS_TYPES}
    assert set(all_units()) == expected | {"backup-worker-migrate.service"}


@pytest.mark.parametrize("name", sorted(PROCESS_TYPES))
def test_each_unit_runs_the_procfile_command(name: str) -> None:
    [exec_start] = unit(f"backup-worker-{name}.service")["Service.ExecStart"]
    assert command(exec_start) == procfile()[name]


def test_the_migration_runs_once_before_the_processes_that_need_the_schema() -> None:
    migrate = unit("backup-worker-migrate.service")
    assert migrate["Service.Type"] == ["oneshot"]
    assert command(migrate["Service.ExecStart"][0]) == "backup-worker migrate"
    for name in ("worker", "scheduled", "beat", "exporter", "wal"):
        found = unit(f"backup-worker-{name}.service")
        assert "backup-worker-migrate.service" in found["Unit.After"][0].split()
        assert "backup-worker-migrate.service" in found["Unit.Wants"][0].split()


@pytest.mark.parametrize("name", all_units())
def test_every_unit_is_hardened_and_unprivileged(name: str) -> None:
    found = unit(name)
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "RestrictSUIDSGID": "yes",
        "User": "backup-worker",
        "EnvironmentFile": "/etc/backup-worker/env",
    }.items():
        assert found[f"Service.{key}"] == [value], (name, key)
    # Every secret arrives as a credential file named by its *_FILE variable.
    loaded = {value.split(":", 1)[0] for value in found.get("Service.LoadCredential", [])}
    named = {
        value.split("=", 1)[1].removeprefix("%d/")
        for value in found.get("Service.Environment", [])
        if value.startswith(("PGPASSFILE=", *(f"{v}_FILE=" for v in SECRETS)))
    }
    assert named == loaded, name
    text = (UNITS / name).read_text()
    assert not re.search(r"^Environment=(TELEGRAM_BOT_TOKEN|CATALOG_KEY|FLOWER_BASIC_AUTH)=", text)


SECRETS = ("TELEGRAM_BOT_TOKEN", "CATALOG_KEY", "FLOWER_BASIC_AUTH")


@pytest.mark.parametrize("name", ["worker", "scheduled"])
def test_workers_may_write_their_spool_and_finish_their_step(name: str) -> None:
    found = unit(f"backup-worker-{name}.service")
    assert found["Service.ReadWritePaths"] == ["/var/lib/backup-worker/spool"]
    assert "backup-worker/spool" in found["Service.StateDirectory"]
    assert found["Service.TimeoutStopSec"] == ["30min"]
    assert found["Service.KillMode"] == ["mixed"]


def test_systemd_analyze_verifies_every_unit(tmp_path: Path) -> None:
    program = shutil.which("systemd-analyze")
    assert program, "systemd-analyze is missing: run scripts/system-deps.sh"
    venv_bin = str(Path(sys.executable).parent) + "/"
    copies = []
    for name in all_units():
        copy = tmp_path / name
        copy.write_text((UNITS / name).read_text().replace(BIN, venv_bin))
        copies.append(str(copy))
    done = subprocess.run(
        [program, "verify", "--man=no", *copies],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""  # an unknown key is only a warning: none allowed
