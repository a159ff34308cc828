"""The expiry sweep's part for restores: drop the undo points past RESTORE_UNDO_HOURS.

An undo point is a database named `<db>__pre_restore_<job8>` (the project's database before a
replace) or `<db>__pre_undo_<job8>` (the restored one, after an undo). Its expiry is in the
restore job's result (`restore.databases.undo_expires_at`); a database with such a name but no
completed restore job behind it is left alone and logged: it is not ours to judge.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from db.queries import restores as db_restores
from worker import errors
from worker.jobs.runtime import Runtime
from worker.postgres import switch, target

log = logging.getLogger(__name__)

_JOB8 = re.compile(r"([0-9a-f]{8})$")


def drop_expired(rt: Runtime, *, now: dt.datetime | None = None) -> list[str]:
    """Drop every undo point whose time is up; the names dropped."""
    params = rt.source()
    dropped = []
    for name, when in due(rt, now=now):
        try:
            target.drop(params, name)
        except errors.BackupWorkerError as exc:
            log.error("sweep: could not drop the undo point %s: %s", name, exc.message)
            continue
        dropped.append(name)
        log.info("sweep: dropped the undo point %s (expired %s)", name, when)
    return dropped


def due(rt: Runtime, *, now: dt.datetime | None = None) -> list[tuple[str, str]]:
    """The undo points whose time is up, with when it was up: dropped by the sweep, listed by
    `sweep --dry-run`."""
    params = rt.source()
    try:
        names = target.matching(params, switch.UNDO_PATTERN)
    except errors.BackupWorkerError as exc:
        log.warning("sweep: undo points not checked: %s", exc.message)
        return []
    if not names:
        return []
    job8 = {name: m.group(1) for name in names if (m := _JOB8.search(name))}
    with rt.database.transaction() as session:
        expiry = db_restores.undo_expiry(session, sorted(set(job8.values())))
    moment = now or dt.datetime.now(dt.UTC)
    found = []
    for name, prefix in sorted(job8.items()):
        when = expiry.get(prefix)
        if when is None:
            log.warning("sweep: %s looks like an undo point but no restore job names it", name)
            continue
        if dt.datetime.fromisoformat(when) <= moment:
            found.append((name, when))
    return found
