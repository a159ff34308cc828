"""`backup-worker contract schema`: the gateway contract as JSON Schema (worker.contract.schema)."""

from __future__ import annotations

from pathlib import Path

import click

from worker.cli import common
from worker.contract import schema as contract_schema


@click.group("contract")
def contract() -> None:
    """The gateway contract as JSON Schema, for the typed clients (docs/contract.md)."""


@contract.command("schema")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="write it to this file (clients/typescript/schema/contract.json) instead of stdout",
)
@common.guard
def schema(output: Path | None) -> None:
    """Print the JSON Schema of every public task's arguments and result, and of the rows the
    gateway reads."""
    text = contract_schema.render()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
