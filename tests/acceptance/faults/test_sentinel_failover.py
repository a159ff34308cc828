"""Redis Sentinel: the Procfile's worker, scheduled worker and beat, the gateway and the CLI on
three sentinels watching a primary and a replica; the primary SIGKILLed mid-run, the replica
promoted. Every backup completes, once, each part sent once (chaos.failover; its 60-backup run
is `python -m chaos.failover`, figures in docs/reliability.md)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
import redis

from chaos import failover
from tests.acceptance.conftest import Stack
from tests.support import sentinel
from worker.cli import preflight
from worker.cli.preflight import infra
from worker.metrics import counters

BACKUPS = 12


@pytest.mark.timeout(240)
def test_backups_complete_once_through_a_sentinel_failover(stack: Stack, tmp_path: Path) -> None:
    with sentinel.group(tmp_path / "redis") as group:
        try:
            figures = failover.run(
                stack, group, backups=BACKUPS, source_db=stack.source_db, timeout=150
            )
        except AssertionError as exc:  # a job that never ended: its row, and what the logs say
            raise AssertionError(f"{exc}\n{_lines_about(stack, str(exc))}") from exc
        logs = "\n".join(path.read_text(errors="replace") for path in stack.logs())
        assert group.primary_port() == group.ports["replica"]
        # The fleet's own Redis clients (counters, like the pacer and the slots) followed the
        # failover: the promoted replica counts every sendDocument after it, and those before
        # it that had reached the replica (replication is asynchronous: an increment the
        # primary took in its last instant may be lost with it).
        # `backup-worker check` reaches the broker through the sentinels too.
        verdicts = infra.broker(group.url(0), 5, master=group.master)
        promoted = redis.Redis(port=group.ports["replica"], decode_responses=True)
        with contextlib.closing(promoted):
            counted = dict(promoted.hgetall(counters.KEY))
    detail = f"{figures.to_json()}\n{logs[-4000:]}"
    assert figures.failed == {}, detail
    assert figures.completed == BACKUPS, detail
    assert figures.backups_per_job == {"1": BACKUPS}, detail
    assert figures.resent == [], detail
    assert figures.send_documents == figures.parts, detail
    assert 0 < figures.promoted_after < 30, detail
    assert 0 < figures.worker_back_after < 60, detail
    assert figures.processes_alive, detail
    assert figures.unrecoverable == 0, detail
    # Every start-up hook ran (the worker's heartbeat for the exporter reads the sentinels too).
    assert "Signal handler" not in logs, detail
    # Request counts are whole numbers; the hash also holds the pacer's wait time in seconds.
    sends = sum(int(v) for k, v in counted.items() if str(k).startswith("requests:sendDocument:"))
    assert figures.sent_after_promotion <= sends <= figures.send_documents, (counted, detail)
    assert figures.sent_after_promotion > 0, detail
    assert [verdict.status for verdict in verdicts] == [preflight.OK], verdicts


def _lines_about(stack: Stack, message: str) -> str:
    """Every log line naming the job `message` names, then each log's last lines."""
    found = re.search(r"job ([0-9a-f-]{36})", message)
    job = found.group(1) if found else "-"
    texts = {path.name: path.read_text(errors="replace") for path in stack.logs()}
    named = [line for text in texts.values() for line in text.splitlines() if job in line]
    tails = [f"--- {name}\n{text[-3000:]}" for name, text in texts.items()]
    return "\n".join([*named, *tails])
