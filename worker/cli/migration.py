"""`backup-worker migrate`: bring the control-plane schema to the newest revision."""

from __future__ import annotations

import click

from db import migrate as db_migrate
from worker import settings
from worker.cli import common


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def migrate(as_json: bool) -> None:
    """Apply the database migrations (schema control_plane)."""
    url = settings.current().database_url
    db_migrate.upgrade(url)
    common.emit({"status": "ok", "revision": db_migrate.current(url)}, as_json)
