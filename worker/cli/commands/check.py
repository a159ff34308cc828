"""`backup-worker check`: every preflight of a deployment, one line each, before the night it
matters (worker.cli.preflight).

The lines: ok, warn or FAIL; what was checked; what was found and, when it is not ok, what to
do. Exit status: 0 when nothing failed (warnings allowed; with --strict they fail too),
EXIT_FAILED (1) when a check failed, EXIT_ERROR (2) when nothing could be checked (unknown
--server, invalid settings). docs/operations.md, "Preflight: backup-worker check".
"""

from __future__ import annotations

import functools
import sys

import click

from worker import settings
from worker.cli import common, preflight
from worker.cli.preflight import bots, infra, sources
from worker.postgres import servers

EXIT_OK = 0
_SHOWN = {preflight.OK: "ok  ", preflight.WARN: "warn", preflight.FAIL: "FAIL"}
_COLOURS = {preflight.OK: "green", preflight.WARN: "yellow", preflight.FAIL: "red"}


def plan(config: settings.Settings, server: str | None, timeout: float) -> list[preflight.Group]:
    """Every check, in the order printed; InputError for an unknown `server`."""
    if server is not None:
        servers.validate_name(server)
    master = config.redis_sentinel_master
    broker = functools.partial(infra.broker, config.celery_broker_url, timeout, master=master)
    control = functools.partial(infra.control_plane, config.database_url, timeout)
    spool = functools.partial(infra.spool_dir, config.backup_spool_dir, config.backup_part_size)
    others = [
        preflight.Group(name, functools.partial(infra.broker, url, timeout, name, setting, master))
        for name, setting, url in infra.other_redis(config)
    ]
    return [
        preflight.Group("broker", broker),
        *others,
        preflight.Group("control plane", control),
        *sources.groups(config, server, timeout),
        *bots.groups(config, timeout),
        preflight.Group("encryption", functools.partial(infra.encryption, config)),
        preflight.Group("catalog key", functools.partial(infra.catalog_key, config)),
        preflight.Group("spool", spool),
    ]


def line(verdict: preflight.Verdict) -> str:
    """One verdict as printed: `FAIL  broker: cannot connect ... -> what to do`."""
    text = f"{_SHOWN[verdict.status]}  {verdict.check}: {verdict.detail}"
    return f"{text} -> {verdict.fix}" if verdict.fix and verdict.status != preflight.OK else text


def exit_status(verdicts: list[preflight.Verdict], strict: bool) -> int:
    """0, or EXIT_FAILED when a check failed (or, with `strict`, warned)."""
    worst = preflight.worst(verdicts)
    failed = worst == preflight.FAIL or (strict and worst == preflight.WARN)
    return common.EXIT_FAILED if failed else EXIT_OK


def _secrets(config: settings.Settings) -> list[str]:
    tokens = [token.get_secret_value() for token in config.telegram_bot_tokens]
    return [*tokens, config.source_database_url.get_secret_value()]


@click.command("check")
@click.option("--server", default=None, help="check this source server only (of the registry)")
@click.option("--strict", is_flag=True, help="exit non-zero on warnings too")
@click.option(
    "--timeout",
    type=click.FloatRange(1, 120),
    default=preflight.TIMEOUT,
    show_default=True,
    help="seconds for each connection or request",
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def check(server: str | None, strict: bool, timeout: float, as_json: bool) -> None:
    """Check the deployment: broker, control plane, servers, bots and chats, encryption, spool.

    One line per check (ok, warn or FAIL, and what to do); exit status 1 when a check failed,
    2 when nothing could be checked.
    """
    config = settings.current()
    groups = plan(config, server, timeout)
    # A bot-and-chat group makes two requests of a connect and a read timeout each.
    verdicts = preflight.run(groups, deadline=4 * timeout + 1, secrets=_secrets(config))
    if as_json:
        checks = [verdict.as_json() for verdict in verdicts]
        common.emit({"status": preflight.worst(verdicts), "checks": checks}, True)
    else:
        for verdict in verdicts:
            shown = line(verdict)
            head, _, rest = shown.partition(" ")
            click.echo(click.style(head, fg=_COLOURS[verdict.status]) + " " + rest)
    sys.exit(exit_status(verdicts, strict))
