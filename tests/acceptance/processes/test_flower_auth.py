"""`backup-worker flower` refuses to start Flower without basic auth, and keeps it off argv."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from worker import errors, settings
from worker.cli.commands import flower

BACKUP_WORKER = str(Path(sys.executable).parent / "backup-worker")


def config(auth: str | None) -> settings.Settings:
    return settings.Settings(flower_basic_auth=None if auth is None else SecretStr(auth))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("auth", [None, "", "ops", "ops:", ":secret-pw", "ops:pw,broken"])
def test_missing_or_malformed_credentials_are_refused(auth: str | None) -> None:
    with pytest.raises(errors.ConfigError, match="FLOWER_BASIC_AUTH"):
        flower.invocation(config(auth), address="127.0.0.1", port=5555, extra=(), environ={})


def test_credentials_go_through_the_environment_not_the_command_line() -> None:
    argv, env = flower.invocation(
        config(" ops:a:pass-with-colon , ro:second-password "),
        address="localhost",
        port=5556,
        extra=("--url_prefix=flower",),
        environ={"PATH": "/usr/bin"},
    )
    assert env["FLOWER_BASIC_AUTH"] == "ops:a:pass-with-colon,ro:second-password"
    assert env["PATH"] == "/usr/bin"
    assert argv[1:] == [
        "-m",
        "celery",
        "-A",
        "worker.app",
        "flower",
        "--address=localhost",
        "--port=5556",
        "--url_prefix=flower",
    ]
    assert not any("pass" in arg for arg in argv)


@pytest.mark.parametrize("option", ["--basic-auth=ops:pw", "--basic_auth", "--auth=.*@x.org"])
def test_auth_options_on_the_command_line_are_refused(option: str) -> None:
    with pytest.raises(errors.InputError, match="FLOWER_BASIC_AUTH"):
        flower.invocation(
            config("ops:pw"), address="127.0.0.1", port=5555, extra=(option,), environ={}
        )


def test_an_unauthenticated_api_switch_is_refused() -> None:
    with pytest.raises(errors.ConfigError, match="FLOWER_UNAUTHENTICATED_API"):
        flower.invocation(
            config("ops:pw"),
            address="127.0.0.1",
            port=5555,
            extra=(),
            environ={"FLOWER_UNAUTHENTICATED_API": "true"},
        )


def test_the_command_exits_2_and_starts_nothing_without_basic_auth(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    env["FLOWER_PORT"] = str(port)
    done = subprocess.run(
        [BACKUP_WORKER, "flower"],
        env=env,
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "FLOWER_BASIC_AUTH is not set" in done.stderr
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
