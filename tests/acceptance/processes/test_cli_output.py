"""The command line's output for people against a real worker: the summaries of `backup --wait`
(completed and failed) and `verify`, and `backups forget` deleting a backup's messages in the
chat (--dry-run: none)."""

from __future__ import annotations

import json
import re

from tests.acceptance.conftest import Stack
from tests.acceptance.processes.test_cli import run


def test_a_backup_summary_then_forget_deletes_its_messages(stack: Stack) -> None:
    worker = stack.start_worker()
    backup = ("backup", "--project", "p-forget", "--database", stack.source_db, "--wait")
    first = run(worker.env, *backup)
    assert first.returncode == 0, first.stderr.decode()
    said = first.stdout.decode()
    assert re.search(r"^backup    [0-9a-f-]{36}  completed in \d", said, re.M), said
    assert re.search(r"^size      [\d.]+ (B|KiB|MiB) in \d+ parts?, ", said, re.M), said
    assert "on server default" in said
    assert "{" not in said  # no JSON for people
    made = re.search(r"^backup    ([0-9a-f-]{36})  \(backup-worker backups show", said, re.M)
    assert made is not None, said
    backup_id = made.group(1)
    second = run(worker.env, *backup, "--json")  # a newer one: the first is not the last
    newer = json.loads(second.stdout)["backup"]["id"]
    checked = run(worker.env, "verify", newer[:8])
    assert checked.returncode == 0, checked.stderr.decode()
    assert re.search(
        rf"^verified  backup {newer[:8]}: every checksum of its \d+ parts? \(.+\) and its archive",
        checked.stdout.decode(),
        re.M,
    ), checked.stdout.decode()
    shown = json.loads(run(worker.env, "backups", "show", backup_id[:8], "--json").stdout)
    messages = {part["message_id"] for part in shown["backup"]["parts"]}
    assert messages

    planned = run(worker.env, "backups", "forget", backup_id[:8], "--dry-run")
    assert planned.returncode == 0, planned.stderr.decode()
    assert "nothing was changed" in planned.stdout.decode()
    assert stack.standin.requests("deleteMessage") == []

    done = run(worker.env, "backups", "forget", backup_id[:8], "--json")
    assert done.returncode == 0, done.stderr.decode()
    outcome = json.loads(done.stdout)
    assert (outcome["backup_status_before"], outcome["backup_status"]) == ("active", "deleted")
    failed = run(
        worker.env, "backup", "--project", "p-forget", "--database", "no_such_db", "--wait"
    )
    assert failed.returncode == 1
    said = failed.stdout.decode()
    assert re.search(r"^error     .*no_such_db", said, re.M), said
    assert "exit      1 (the job failed)" in said
    gone = {int(str(m["message_id"])) for m in stack.standin.messages() if m["deleted"]}
    assert gone == messages
    listed = json.loads(run(worker.env, "backups", "list", "--json").stdout)["backups"]
    assert {row["id"]: row["status"] for row in listed}[backup_id] == "deleted"
