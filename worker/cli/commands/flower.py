"""`backup-worker flower`: Flower, but never without basic auth.

The credentials reach Flower through its own FLOWER_BASIC_AUTH environment variable (Flower reads
every FLOWER_<OPTION> variable), never through `--basic-auth` on a command line that `ps` shows
to every user of the host. The command replaces itself with `celery -A worker.app flower`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

import click

from worker import errors, settings
from worker.cli import common

DEFAULT_ADDRESS = "127.0.0.1"  # only this host; a container sets FLOWER_ADDRESS=0.0.0.0
DEFAULT_PORT = 5555
# Options that would put a secret on the command line, or switch authentication off.
_REFUSED_OPTIONS = ("--basic-auth", "--basic_auth", "--auth", "--oauth2", "--auth-provider")
_REFUSED_ENV = ("FLOWER_UNAUTHENTICATED_API",)


def basic_auth(config: settings.Settings) -> str:
    """The validated FLOWER_BASIC_AUTH value; ConfigError when it is missing or malformed."""
    if config.flower_basic_auth is None or not config.flower_basic_auth.get_secret_value():
        raise errors.ConfigError(
            "FLOWER_BASIC_AUTH is not set: Flower refuses to start without basic auth "
            "(FLOWER_BASIC_AUTH=user:password, several separated by commas)"
        )
    credentials = [c.strip() for c in config.flower_basic_auth.get_secret_value().split(",")]
    for number, credential in enumerate(credentials, start=1):
        user, colon, password = credential.partition(":")
        if not user or not colon or not password:
            raise errors.ConfigError(
                f"FLOWER_BASIC_AUTH: credential {number} is not of the form user:password"
            )
    return ",".join(credentials)


def invocation(
    config: settings.Settings,
    *,
    address: str,
    port: int,
    extra: Sequence[str],
    environ: Mapping[str, str],
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run Flower with basic auth, or ConfigError/InputError."""
    credentials = basic_auth(config)
    for arg in extra:
        if arg.split("=", 1)[0] in _REFUSED_OPTIONS:
            raise errors.InputError(
                f"{arg.split('=', 1)[0]} is not accepted here: credentials go in "
                "FLOWER_BASIC_AUTH, which keeps them off the command line"
            )
    for name in _REFUSED_ENV:
        if environ.get(name, "").strip().lower() not in ("", "0", "false", "no"):
            raise errors.ConfigError(f"{name} is set: the Flower API must not be open")
    env = dict(environ)
    env["FLOWER_BASIC_AUTH"] = credentials
    # Flower's process reads the settings again: the variable and its file both set is an error.
    env.pop("FLOWER_BASIC_AUTH_FILE", None)
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "flower"]
    argv += [f"--address={address}", f"--port={port}", *extra]
    return argv, env


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--address",
    envvar="FLOWER_ADDRESS",
    default=DEFAULT_ADDRESS,
    show_default=True,
    help="interface to listen on (env FLOWER_ADDRESS)",
)
@click.option(
    "--port",
    envvar="FLOWER_PORT",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="port to listen on (env FLOWER_PORT)",
)
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
@common.guard
def flower(address: str, port: int, flower_args: tuple[str, ...]) -> None:
    """Start Flower with the basic auth of FLOWER_BASIC_AUTH; refuse to start without it.

    Other Flower options (for example --url_prefix=flower) follow the command.
    """
    argv, env = invocation(
        settings.current(), address=address, port=port, extra=flower_args, environ=os.environ
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)  # noqa: S606 - an argument list, no shell
