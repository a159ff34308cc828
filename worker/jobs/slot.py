"""A job's hold on one of its source server's slots (worker.postgres.slots), said in its row.

Every pg_dump and every pg_restore runs inside `holding(...)`: at most `max_dumps` of them per
server across the fleet. While the job waits, its result's `waiting` says for what; the wait
itself holds no database transaction (each note is a short one of its own), and the step
runner keeps beating the row meanwhile, so the reaper does not take a waiting job for dead.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator

from worker.jobs import state
from worker.jobs.runtime import Runtime
from worker.postgres import servers

log = logging.getLogger(__name__)


def waiting_note(server: servers.Server, seconds: float) -> str:
    """What a waiting job's row says."""
    return (
        f"waiting for a dump slot on server {server.name} "
        f"(at most {server.max_dumps} at once; {seconds:.0f} s so far)"
    )


@contextlib.contextmanager
def holding(rt: Runtime, job_id: uuid.UUID, server: servers.Server) -> Iterator[None]:
    """Wait for a slot of `server`, hold it (its lease renewed) for the block, then free it."""
    waited = False

    def on_wait(seconds: float) -> None:
        nonlocal waited
        waited = True
        log.info("job %s: %s", job_id, waiting_note(server, seconds))
        with rt.database.transaction() as session:
            state.save(session, job_id, {"waiting": waiting_note(server, seconds)})

    board = rt.slots()
    with board.hold(server.name, server.max_dumps, holder=str(job_id), on_wait=on_wait) as held:
        if waited:
            log.info(
                "job %s: got a dump slot on server %s after %.1f s",
                job_id,
                server.name,
                held.waited,
            )
            with rt.database.transaction() as session:
                state.save(session, job_id, {"waiting": None})
        yield
