"""The sweep's outcome, and `sweep --dry-run`'s list of what it would delete, for people."""

from __future__ import annotations

from worker.cli import human, outcome
from worker.scheduling import rehearsal, sweep

line = outcome.line
_OLD = " (older than 48 h: deleted only by a chat admin bot, else left in the chat)"


def plan_lines(found: rehearsal.SweepPlan) -> list[str]:
    """Each backup it would expire, each message and database it would delete."""
    shown = [
        line("expire", f"{len(found.expire)} backup(s) past their expiry"),
        *(line("", str(each)) for each in found.expire),
        line("retention", f"{len(found.retention_expire)} backup(s) their schedule does not keep"),
        *(line("", str(each)) for each in found.retention_expire),
    ]
    total = sum(part.size_bytes for part in found.parts)
    shown.append(
        line("delete", f"{len(found.parts)} message(s) of expired backups ({human.size(total)})")
    )
    for part in found.parts:
        shown.append(
            line(
                "",
                f"backup {outcome.short(part.backup_id)} ({part.project_id} /"
                f" {part.database or '-'}) part {part.index}: message {part.message_id}"
                f" in chat {part.chat_id}" + (_OLD if found.old(part.created_at) else ""),
            )
        )
    shown.append(line("orphans", f"{len(found.orphans)} part message(s) no backup holds"))
    for message in found.orphans:
        shown.append(
            line(
                "",
                f"message {message.message_id} in chat {message.chat_id}, sent"
                f" {human.ago(message.sent_at, found.now)}"
                + (
                    " (older than 48 h: recorded undeletable)" if found.old(message.sent_at) else ""
                ),
            )
        )
    shown.append(line("drop", f"{len(found.undo_points)} restore undo point database(s)"))
    for name, when in found.undo_points:
        shown.append(line("", f"{name} (kept until {human.timestamp(when)} UTC)"))
    shown.append(
        line(
            "WAL",
            f"{len(found.wal_base_backups)} base backup(s) beyond WAL_BASEBACKUP_KEEP,"
            f" {len(found.wal_bundles)} bundle(s) no kept one needs",
        )
    )
    shown.extend(line("", str(each)) for each in [*found.wal_base_backups, *found.wal_bundles])
    shown.append(line("dry run", "nothing was changed"))
    return shown


def result_lines(result: sweep.SweepResult) -> list[str]:
    """What one sweep did, in a few lines."""
    return [
        line("expired", f"{result.expired} past expiry, {result.retention_expired} by retention"),
        line(
            "messages",
            f"{result.parts_deleted} deleted, {result.parts_missing} already gone,"
            f" {result.parts_undeletable} undeletable, {result.parts_retry} to retry",
        ),
        line("backups", f"{result.backups_deleted} now deleted (every message gone)"),
        line(
            "orphans",
            f"{result.orphans_deleted} deleted, {result.orphans_undeletable} undeletable,"
            f" {result.orphans_kept} held by a backup",
        ),
        line(
            "WAL",
            f"{result.wal_base_backups_deleted} base backup(s),"
            f" {result.wal_bundles_deleted} bundle(s) deleted",
        ),
        line("dropped", f"{result.undo_points_dropped} undo point(s)"),
        line("pruned", f"{result.runs_pruned} old schedule run(s)"),
    ]
