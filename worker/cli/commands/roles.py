"""`backup-worker roles sql`: the SQL that sets up least-privilege PostgreSQL roles.

The worker connects to each server with one URL (SOURCE_DATABASE_URL, the registry's entries);
this prints the role that URL should name, with the grants for backups and restores and why
each is needed (worker.postgres.privileges; docs/servers.md, "Least-privilege roles"). The
worker warns at start about every server it reaches as a superuser.
"""

from __future__ import annotations

import click

from worker.cli import common
from worker.postgres import privileges


@click.group()
def roles() -> None:
    """Least-privilege PostgreSQL roles for the worker: print the SQL that sets them up."""


@roles.command("sql")
@click.option("--role", default=privileges.DEFAULT_ROLE, show_default=True, help="the URL's role")
@click.option(
    "--owner",
    "owners",
    multiple=True,
    help="a project's owner role the restores run as (repeat for each project)",
)
@click.option("--drill-role", default=None, help="also a role for a drills-only scratch server")
@common.guard
def roles_sql(role: str, owners: tuple[str, ...], drill_role: str | None) -> None:
    """Print the SQL creating the worker's role: backups, restores, and optionally drills."""
    click.echo(privileges.setup_sql(role, owners, drill_role), nl=False)
