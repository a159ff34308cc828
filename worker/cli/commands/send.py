"""`send`, `register` and `batch`: the original service's operations, kept."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import BinaryIO, TextIO

import click
from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

from db import models
from worker import errors
from worker.backup import batch, send
from worker.cli import common, follow
from worker.contract import publish


@click.command("send")
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--project", "project_id", required=True)
@click.option("--name", default=None, help="file name in the chat (default: the source's name)")
@click.option("--caption", default=None)
@click.option("--no-compress", is_flag=True, help="the source is compressed already")
@click.option("--record", is_flag=True, help="also record it as a backup of type 'file'")
@click.option("--expires-in-days", type=int, default=None, help="with --record")
@click.option("--json", "as_json", is_flag=True)
@common.guard
def send_command(
    source: Path,
    project_id: str,
    name: str | None,
    caption: str | None,
    no_compress: bool,
    record: bool,
    expires_in_days: int | None,
    as_json: bool,
) -> None:
    """Send a file (or - for stdin) through the backup's split/upload path; print the ids."""
    rt = common.build_runtime()
    rt.settings.require_encryption()  # this process encrypts, as a worker would
    label = name or ("stdin" if str(source) == "-" else source.name)
    bar = Progress(
        *Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), console=common.err
    )
    with bar, _open(source) as stream:
        task = bar.add_task("split", total=None)

        def on_bytes(stage: str, count: int) -> None:
            bar.update(task, description=stage, completed=count)

        sent = send.send_stream(
            rt,
            stream,
            project_id=project_id,
            name=label,
            caption=caption,
            compress=not no_compress,
            on_bytes=on_bytes,
        )
    outcome = sent.to_json()
    if record:
        row = send.record_sent(rt, sent, project_id=project_id, expires_in_days=expires_in_days)
        outcome["backup_id"] = str(row.id)
    common.emit(outcome, as_json)


def _open(source: Path) -> BinaryIO:
    if str(source) == "-":
        return sys.stdin.buffer
    try:
        return source.open("rb")
    except OSError as exc:
        raise errors.InputError(f"cannot read {source}: {exc.strerror}") from None


@click.command("register")
@click.argument("manifest", type=click.File("r"))
@click.option("--no-check", is_flag=True, help="skip asking Telegram (getFile) about each part")
@click.option("--json", "as_json", is_flag=True)
@common.guard
def register_command(manifest: TextIO, no_check: bool, as_json: bool) -> None:
    """Record parts already in Telegram, from a JSON file: {project_id, filename, parts, ...}."""
    try:
        data = json.load(manifest)
    except json.JSONDecodeError as exc:
        raise errors.InputError(f"the manifest is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise errors.InputError("the manifest must be a JSON object")
    row = send.register(
        common.build_runtime(),
        project_id=data.get("project_id"),
        filename=data.get("filename"),
        parts=data.get("parts"),
        sha256=data.get("sha256"),
        compression=data.get("compression", "zstd"),
        expires_in_days=data.get("expires_in_days"),
        check=not no_check,
    )
    common.emit(models.backup_json(row), as_json)


@click.command("batch")
@click.argument("requests", type=click.File("r"))
@click.option("--wait", is_flag=True, help="wait for every job and report how each ended")
@click.option("--timeout", type=float, default=None, help="with --wait: seconds per job")
@click.option("--json", "as_json", is_flag=True)
@common.guard
def batch_command(requests: TextIO, wait: bool, timeout: float | None, as_json: bool) -> None:
    """Enqueue many backups from a JSON list of {project_id, database, ...}; one job each."""
    from worker.app import app

    try:
        items = json.load(requests)
    except json.JSONDecodeError as exc:
        raise errors.InputError(f"the batch is not valid JSON: {exc}") from None
    rt = common.build_runtime()
    rt.settings.require_encryption()
    report: list[dict[str, object]] = [
        dict(item) for item in batch.enqueue_batch(rt, items, publish.Publisher(app.send_task))
    ]
    if wait:
        for item in report:
            if item["job_id"] is None:
                continue
            state = follow.wait(
                rt.database,
                uuid.UUID(str(item["job_id"])),
                console=common.err,
                timeout=timeout,
                show_bar=False,
            )
            item["status"] = state["status"] if state else "missing"
            item["error"] = state["error"] if state else "the job disappeared"
    succeeded = [i["index"] for i in report if i["status"] in ("queued", "completed")]
    failed = [i["index"] for i in report if i["index"] not in succeeded]
    common.emit({"results": report, "succeeded": succeeded, "failed": failed}, as_json)
    if failed:
        sys.exit(common.EXIT_FAILED)
