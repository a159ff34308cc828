"""`backup-worker copies repair --from R1 --to R2`: re-create R2's missing copies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from worker import errors
from worker.cli import common, outcome

if TYPE_CHECKING:
    from db.queries import copies as db_copies


@click.group("copies")
def copies() -> None:
    """Copies of backups in several repositories (BACKUP_COPIES, TELEGRAM_REPOSITORIES_FILE)."""


@copies.command("repair")
@click.option("--from", "source", required=True, help="the repository to read each part from")
@click.option("--to", "target", required=True, help="the repository to re-create copies in")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def repair(source: str, target: str, as_json: bool) -> None:
    """Re-create in TARGET every copy of an active backup's part it lacks, read from SOURCE
    and checked against its SHA-256; paced, recorded part by part, resumed by running again."""
    from worker.backup import repair as repairing

    rt = common.build_runtime()

    def progress(done: int, total: int, part: db_copies.Missing) -> None:
        if not as_json:
            where = f"backup {part.backup_id} part {part.index + 1}"
            click.echo(f"{done}/{total} {where}", err=True)

    try:
        done = repairing.repair(rt, source, target, on_part=progress)
    finally:
        rt.close()
    if as_json:
        common.emit({"status": "ok", **done.to_json()}, True)
        return
    shown = [outcome.line("created", f"{done.created} copies in repository {target}")]
    shown += [outcome.line("failed", failure) for failure in done.failed]
    outcome.echo(shown)
    if done.failed:
        raise errors.IntegrityError(
            f"{len(done.failed)} part(s) have no intact copy in repository {source}"
        )
