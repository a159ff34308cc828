"""A worker takes the next step of a job under way before it opens another job's dump
(docs/fleet.md, "Step order").

Three backups are waiting when the Procfile's worker starts with a single pool thread. With the
host queue first in, first out, it would run the three dumps, then the three uploads: every
backup's upload would wait behind the other backups' dumps. Each upload must start before the
next backup's dump.
"""

from __future__ import annotations

import itertools
import re
import uuid

from tests.acceptance.conftest import Stack

WAIT = 90  # seconds for the three backups
_STARTED = re.compile(r"job (\S+) project=\S+ stage=(dump|upload): started")


def test_each_upload_starts_before_the_next_dump(stack: Stack) -> None:
    jobs = [stack.send(project_id=f"proj-order-{n}", database=stack.source_db) for n in range(3)]
    # The Procfile's worker with one pool thread, so steps run in the order the queue hands them
    # out, and a node name of its own, so its host queue holds this test's messages only.
    worker = stack.start_worker("--concurrency=1", "-n", f"order-{uuid.uuid4().hex[:6]}@%h")
    for job_id in jobs:
        row = stack.wait_job(job_id, WAIT)
        assert row["status"] == "completed", row["error"]
    first: dict[tuple[str, str], int] = {}  # (job, step) -> where its first start is in the log
    for number, found in enumerate(_STARTED.finditer(worker.log())):
        first.setdefault((found.group(1), found.group(2)), number)
    dumps = sorted(jobs, key=lambda job_id: first[(job_id, "dump")])
    for job_id, following in itertools.pairwise(dumps):
        assert first[(job_id, "upload")] < first[(following, "dump")], sorted(first.items())
