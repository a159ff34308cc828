"""`backup-worker backups forget ID [--dry-run] [--force]`: give up one backup now.

The deletion is the sweep's (worker/scheduling/forget.py), run in this process as `sweep`
runs: only the bot token is needed, which the command line already reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from worker.cli import common, human, ids, outcome

if TYPE_CHECKING:  # imported when the command runs: `backups list` needs none of the sweep
    from worker.scheduling import forget as forgetting

line = outcome.line


def lines(done: forgetting.Forgotten) -> list[str]:
    """What was (or, in a dry run, would be) deleted, for people."""
    to_delete = [part for part in done.parts if part.action == "delete"]
    settled = len(done.parts) - len(to_delete)
    old = [part for part in to_delete if part.old]
    shown = [line("backup", f"{done.backup_id}  {done.project_id} / {done.database or '-'}")]
    if done.dry_run:
        change = "expired" if done.status_before == "active" else done.status_before
        shown.append(line("would", f"mark it {change} and delete {len(to_delete)} message(s):"))
        for part in to_delete:
            shown.append(
                line(
                    "",
                    f"part {part.index}: message {part.message_id} in chat {part.chat_id}"
                    f" ({human.size(part.size_bytes)})",
                )
            )
        if settled:
            shown.append(line("", f"{settled} part(s) settled already: nothing to do"))
        if old:
            shown.append(
                line(
                    "note",
                    f"{len(old)} message(s) are older than Telegram's 48 hours: deleted only if"
                    " the bot is a chat admin that may delete messages, else left in the chat",
                )
            )
        shown.append(line("dry run", "nothing was changed"))
        return shown
    if done.status_before == "deleted":
        shown.append(line("status", "deleted already: nothing to do"))
        return shown
    counts = done.counts
    shown.append(line("status", f"{done.status_before} -> {done.status}"))
    shown.append(
        line(
            "messages",
            f"{counts.parts_deleted} deleted, {counts.parts_missing} already gone,"
            f" {counts.parts_undeletable} undeletable, {counts.parts_retry} left to the sweep",
        )
    )
    if counts.parts_undeletable:
        shown.append(
            line(
                "note",
                "Telegram refused to delete some messages (older than 48 hours, or no rights):"
                " delete them by hand; `backups show` lists them",
            )
        )
    return shown


@click.command("forget")
@click.argument("backup_id", callback=ids.digits)
@click.option("--dry-run", is_flag=True, help="list what would be deleted; change nothing")
@click.option("--force", is_flag=True, help="forget it even if it is the project's last good one")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def forget(backup_id: str, dry_run: bool, force: bool, as_json: bool) -> None:
    """Forget one backup: delete its Telegram messages and mark it expired, then deleted
    (BACKUP_ID: the id, or its first 4 or more hex digits). It cannot be restored afterwards."""
    from worker.scheduling import forget as forgetting

    rt = common.build_runtime()
    try:
        found = ids.resolve(rt, ids.BACKUP, backup_id)
        done = forgetting.forget(rt, found, force=force, dry_run=dry_run)
    finally:
        rt.close()
    if as_json:
        common.emit({"status": "ok", **done.to_json()}, True)
    else:
        outcome.echo(lines(done))
