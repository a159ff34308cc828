"""Procfile, docker-compose.yml and Dockerfile agree with each other and with docs/operations.md.

No Docker engine runs here, so the compose file is checked as data: valid YAML, every service
docs/operations.md names, the Procfile's commands, health checks, and no secret written into it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from worker.cli import main

ROOT = Path(__file__).resolve().parents[2]
PROCESS_TYPES = {"worker", "scheduled", "beat", "flower", "exporter", "wal"}
DESIGN_SERVICES = {
    "postgres",
    "redis",
    "migrate",
    "worker",
    "scheduled",
    "beat",
    "flower",
    "exporter",
    "wal",
}
Service = dict[str, object]


def procfile() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def services() -> dict[str, Service]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    found = loaded["services"]
    assert isinstance(found, dict)
    return found


def test_procfile_has_worker_beat_flower_and_exporter() -> None:
    assert set(procfile()) == PROCESS_TYPES


def test_honcho_reads_the_procfile() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "honcho"), "-f", str(ROOT / "Procfile"), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Valid procfile detected (worker, scheduled, beat, flower, exporter, wal)" in done.stderr


def test_compose_has_every_service_of_the_design() -> None:
    assert set(services()) == DESIGN_SERVICES


@pytest.mark.parametrize("name", sorted(PROCESS_TYPES))
def test_compose_runs_the_procfile_commands(name: str) -> None:
    assert services()[name]["command"] == shlex.split(procfile()[name])


def test_migrate_runs_once_before_worker_and_beat() -> None:
    found = services()
    migrate = found["migrate"]
    assert migrate["command"] == ["backup-worker", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("worker", "scheduled", "beat"):
        depends = found[name]["depends_on"]
        assert isinstance(depends, dict)
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert depends["redis"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", sorted(DESIGN_SERVICES - {"migrate"}))
def test_long_running_services_have_health_checks(name: str) -> None:
    check = services()[name]["healthcheck"]
    assert isinstance(check, dict)
    assert isinstance(check["test"], list)
    assert check["test"][0] in ("CMD", "CMD-SHELL")


def test_worker_gets_time_to_finish_its_step_and_keeps_its_spool() -> None:
    worker = services()["worker"]
    assert worker["stop_grace_period"] == "30m"
    volumes = worker["volumes"]
    assert isinstance(volumes, list)
    environment = worker["environment"]
    assert isinstance(environment, dict)
    assert f"spool:{environment['BACKUP_SPOOL_DIR']}" in volumes


def test_exporter_is_published_on_loopback_only() -> None:
    exporter = services()["exporter"]
    ports = exporter["ports"]
    assert isinstance(ports, list)
    assert ports == ["127.0.0.1:9808:9808"]
    environment = exporter["environment"]
    assert isinstance(environment, dict)
    assert environment["EXPORTER_PORT"] == "9808"


def test_flower_requires_basic_auth_and_listens_on_loopback_only() -> None:
    flower = services()["flower"]
    environment = flower["environment"]
    assert isinstance(environment, dict)
    assert environment["FLOWER_BASIC_AUTH_FILE"] == "/run/secrets/flower_basic_auth"
    assert "flower_basic_auth" in flower["secrets"]  # type: ignore[operator]
    ports = flower["ports"]
    assert isinstance(ports, list)
    assert ports
    assert all(str(port).startswith("127.0.0.1:") for port in ports)


def test_compose_writes_no_secret() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"\d{6,}:[A-Za-z0-9_-]{30,}", text)  # a bot token
    assert "TELEGRAM_BOT_TOKEN:" not in text  # it comes from .env only
    for url in re.findall(r"\w+://[^\s\"']+", text):
        userinfo = url.split("://", 1)[1].split("@", 1)
        if len(userinfo) == 2 and ":" in userinfo[0]:
            assert userinfo[0].split(":", 1)[1].startswith("${"), url


def test_secrets_are_files_each_service_mounts_and_reads_through_file_variables() -> None:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    declared = loaded["secrets"]
    assert all(set(entry) == {"file"} for entry in declared.values())
    for name, service in services().items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict)
        mounted = set(service.get("secrets") or [])  # type: ignore[call-overload]
        assert mounted <= set(declared), name
        for variable, value in environment.items():
            assert not re.search(r"(TOKEN|PASSWORD|AUTH|KEY)$", variable), (name, variable)
            if variable.endswith("_FILE") or variable == "PGPASSFILE":
                assert str(value).removeprefix("/run/secrets/") in mounted, (name, variable)
    for name in ("migrate", "worker", "scheduled", "beat", "flower", "exporter"):
        environment = services()[name]["environment"]
        assert isinstance(environment, dict)
        assert environment["TELEGRAM_BOT_TOKEN_FILE"] == "/run/secrets/telegram_bot_token"
        assert environment["PGPASSFILE"] == "/run/secrets/pgpass"
        assert "@" in str(environment["DATABASE_URL"])
        assert ":" not in str(environment["DATABASE_URL"]).split("://")[1].split("@")[0]


def test_every_app_service_uses_the_image_and_reads_dotenv() -> None:
    for name in ("migrate", "worker", "scheduled", "beat", "flower", "exporter"):
        service = services()[name]
        assert service["build"] == "."
        assert service["env_file"] == [{"path": ".env", "required": False}]


@pytest.mark.parametrize("name", sorted(PROCESS_TYPES))
def test_procfile_commands_parse(name: str) -> None:
    """Each command's options are accepted by the program it names (checked with --help)."""
    program, *args = shlex.split(procfile()[name])
    if program == "backup-worker":
        result = CliRunner().invoke(main.main, [*args, "--help"])
        assert result.exit_code == 0, result.output
        return
    assert program == "celery"
    done = subprocess.run(
        [sys.executable, "-m", "celery", *args, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_dockerfile_installs_the_tools_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for tool in ("postgresql-client", "zstd", "age"):
        assert tool in text
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users
    assert users[-1] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".env", ".git/", ".venv/", "**/node_modules/"):
        assert entry in ignored


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_dockerfile_installs_dependencies_before_the_source_and_ships_no_tests() -> None:
    steps = dockerfile_instructions()
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) == 2
    copies = [args for word, args in steps if word == "COPY"]
    first_source = next(i for i, args in enumerate(copies) if args.split()[0] == "worker")
    assert copies[0] == "pyproject.toml constraints.txt ./"
    assert first_source > 0
    installs = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert "-c constraints.txt" in installs[0]
    copied = {part for args in copies for part in args.split()[:-1]}
    assert not copied & {".", "tests", "benchmarks", "chaos", "docs"}
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in ("tests/", "benchmarks/", "chaos/", "secrets/"):
        assert entry in ignored


def test_dockerfile_has_a_health_check_and_every_supported_client_major() -> None:
    steps = dict(dockerfile_instructions())
    assert "inspect ping" in steps["HEALTHCHECK"]
    majors = re.search(r'^ARG PG_MAJORS="([\d ]+)"', (ROOT / "Dockerfile").read_text(), re.M)
    assert majors
    assert majors.group(1).split() == ["13", "14", "15", "16", "17"]
    assert "postgresql-client-$major" in (ROOT / "Dockerfile").read_text()
