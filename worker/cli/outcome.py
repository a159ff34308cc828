"""A job's outcome for people: the short summary `backup --wait`, `restore --wait`, `verify`
and `jobs show` print without --json.

One `label  text` line per fact, plain text (an error's own words may hold brackets that a
markup renderer would eat). The exit status a failed or unfinished job ends with is the one
worker/cli/common.py defines and docs/getting-started.md tables.
"""

from __future__ import annotations

import click

from worker.cli import common, human

Row = common.Row
_LABEL = 10  # characters of the label column
_EXITS = {
    "failed": (common.EXIT_FAILED, "the job failed"),
    "cancelled": (common.EXIT_FAILED, "the job was cancelled"),
}
_UNFINISHED = (common.EXIT_TIMEOUT, "--wait gave up; the job goes on")


def line(label: str, text: object) -> str:
    return f"{label:<{_LABEL}}{text}"


def short(value: object) -> str:
    """An id as the tables print it: its first 8 hex digits (accepted wherever ids are)."""
    return str(value)[:8]


def job_lines(state: Row, key: str | None = None) -> list[str]:
    """The job's outcome; `key` names the result part to describe (backup, restore, ...)."""
    status = str(state["status"])
    took = human.between(state.get("started_at") or state.get("created_at"), state["finished_at"])
    head = f"{state['id']}  {status}"
    if status == "completed":
        head += f" in {took}" if took else ""
    elif status in _EXITS:
        head += f" after {took}" if took else ""
    else:
        stage = state.get("stage") or "not started"
        head += f" (stage {stage}, {state.get('progress') or 0} %)"
    lines = [line(str(state.get("type") or "job"), head)]
    result = state.get("result")
    if isinstance(result, dict):
        lines += result_lines(result, key)
    if state.get("error"):
        lines.append(line("error", state["error"]))
    if status != "completed":
        code, why = _EXITS.get(status, _UNFINISHED)
        lines.append(line("exit", f"{code} ({why})"))
    return lines


def result_lines(result: Row, key: str | None) -> list[str]:
    """The facts of a finished job's result, by what it made."""
    lines: list[str] = []
    backup = result.get("backup")
    if isinstance(backup, dict) and key in (None, "backup"):
        lines += backup_lines(backup)
    restored = result.get("restore")
    if isinstance(restored, dict) and key in (None, "restore", "drill", "undo"):
        lines += restore_lines(restored)
    verified = result.get("verification")
    if isinstance(verified, dict):
        contents = verified.get("contents")
        entries = contents.get("entries") if isinstance(contents, dict) else None
        lines.append(
            line(
                "verified",
                f"backup {short(verified.get('backup_id'))}: every checksum of its"
                f" {human.count(verified.get('part_count'), 'part')}"
                f" ({human.size(verified.get('size_bytes'))})"
                f" and its archive read ({entries} entries)",
            )
        )
    drill = result.get("drill")
    if isinstance(drill, dict):
        tables = drill.get("tables")
        checked = len(tables) if isinstance(tables, list) else 0
        lines.append(
            line("drill", f"{checked} tables' rows checked, {drill.get('mismatches') or 0} differ")
        )
    undone = result.get("undo")
    if isinstance(undone, dict):
        names = undone.get("databases")
        names = names if isinstance(names, dict) else {}
        lines.append(line("undone", f"job {short(undone.get('undo_of'))}: {names.get('project')}"))
        lines.append(line("kept", f"the restored database as {names.get('undone')}"))
    return lines


def backup_lines(backup: Row) -> list[str]:
    """Where a backup went and what it holds."""
    what = f"{backup.get('project_id')} / {backup.get('database') or backup.get('filename')}"
    sealed = "encrypted (age)" if backup.get("encrypted") else "not encrypted"
    lines = [
        line("backup", f"{backup.get('id')}  (backup-worker backups show {short(backup['id'])})"),
        line("of", f"{what} on server {backup.get('server', 'default')}"),
        line(
            "size",
            f"{human.size(backup.get('size_bytes'))}"
            f" in {human.count(backup.get('part_count'), 'part')},"
            f" {sealed}, {backup.get('compression')}",
        ),
        line("sent to", f"chat {backup.get('chat_id')}"),
    ]
    if backup.get("expires_at"):
        expires = backup["expires_at"]
        lines.append(line("expires", f"{human.timestamp(expires)} UTC ({human.ago(expires)})"))
    return lines


def restore_lines(summary: Row) -> list[str]:
    """What a restore put where."""
    databases = summary.get("databases")
    into = summary.get("target_database")
    how = "into a new database" if summary.get("created") else f"({summary.get('mode')})"
    lines = [
        line(
            "restored",
            f"backup {short(summary.get('backup_id'))} to {into} on server"
            f" {summary.get('target_server')} {how}",
        ),
        line(
            "size",
            f"{human.size(summary.get('size_bytes'))}"
            f" in {human.count(summary.get('part_count'), 'part')},"
            f" in {human.duration(summary.get('seconds'))}",
        ),
    ]
    phases = summary.get("phase_seconds")
    if isinstance(phases, dict) and phases:
        lines.append(
            line("phases", ", ".join(f"{k} {human.duration(v)}" for k, v in phases.items()))
        )
    if isinstance(databases, dict) and databases.get("undo"):
        until = databases.get("undo_expires_at")
        lines.append(line("undo", f"{databases['undo']} kept until {human.timestamp(until)} UTC"))
    return lines


def queued(job_id: object) -> list[str]:
    """An enqueue's outcome."""
    return [
        line("job", f"{job_id}  queued"),
        line("follow", f"backup-worker jobs show {short(job_id)}"),
    ]


def echo(lines: list[str]) -> None:
    for each in lines:
        click.echo(each)


def detail_lines(state: Row) -> list[str]:
    """`jobs show`: the job's outcome, then where and when it ran."""
    payload = state.get("payload")
    asked = payload if isinstance(payload, dict) else {}
    what = [f"{k} {asked[k]}" for k in ("database", "server", "backup_id") if asked.get(k)]
    lines = job_lines(state)
    lines[1:1] = [
        line("project", state.get("project_id")),
        *([line("asked", ", ".join(what))] if what else []),
        line("created", f"{human.timestamp(state.get('created_at'))} UTC"),
    ]
    if state.get("started_at"):
        lines.append(line("started", f"{human.timestamp(state['started_at'])} UTC"))
    if state.get("finished_at"):
        lines.append(line("finished", f"{human.timestamp(state['finished_at'])} UTC"))
    if state.get("attempts"):
        lines.append(line("attempts", state["attempts"]))
    if state.get("worker_hostname"):
        lines.append(line("worker", state["worker_hostname"]))
    return lines


def plain_lines(payload: object) -> list[str]:
    """Any command's JSON object as `key  value` lines, for the commands without a summary of
    their own: sizes, durations and times in human terms, a list of objects one line each."""
    if not isinstance(payload, dict):
        return [_plain(payload)]
    width = max((len(str(key)) for key in payload), default=0) + 2
    lines = []
    for key, value in payload.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{key:<{width}}{len(value)}")
            lines += [" " * width + _plain(each) for each in value]
        else:
            lines.append(f"{key:<{width}}{_plain(value, str(key))}")
    return lines


def _plain(value: object, key: str = "") -> str:
    if isinstance(value, dict):
        # {"phase_seconds": {"download": 72}}: the inner values are seconds too.
        return ", ".join(f"{k} {_plain(v, _unit_of(str(k)) or key)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(each) for each in value) or "none"
    if value is None:
        return "-"
    unit = _unit_of(key)
    if unit == "bytes" and isinstance(value, int):
        return human.size(value)
    if unit == "seconds" and isinstance(value, int | float):
        return human.duration(value)
    return str(value)


def _unit_of(key: str) -> str | None:
    return next((unit for unit in ("bytes", "seconds") if key.endswith(unit)), None)
