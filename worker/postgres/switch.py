"""Switching a restored staging database in for a project's database, by rename, with undo.

Three names per restore job (`Names`): the project's database, the staging database the backup
was restored into, and the undo name the project's old database is kept under. The switch ends
the sessions on the project's database (ALLOW_CONNECTIONS false first, so none come back), then
renames project → undo and staging → project. Between the two renames the project's name is
missing for a moment; `recover` finishes or rolls back a switch from whatever the catalog shows,
so whichever step a worker died in, the project's database ends up wholly the old one or wholly
the new one. Every function here is idempotent.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg2.errors

from worker import errors
from worker.postgres import source, target

log = logging.getLogger(__name__)

STAGING = "__staging_"
UNDO = "__pre_restore_"
UNDONE = "__pre_undo_"
DRILL = "__drill_"  # a restore drill's scratch database (worker/restore/drill.py)
DRILL_PATTERN = f"{DRILL}[0-9a-f]{{8}}$"
# Every database an undo point may be kept under, for the expiry sweep.
UNDO_PATTERN = f"({UNDO}|{UNDONE})[0-9a-f]{{8}}$"
RENAME_ATTEMPTS = 20  # tries of "end the sessions, rename" before giving up
RENAME_RETRY = 0.25  # seconds between two tries

# The phases a switch records (in its job's result) before each step.
RESTORING = "restoring"  # staging created, pg_restore filling it
STAGED = "staged"  # staging restored and checked; the project's database untouched
SWITCHING = "switching"  # about to close and rename the project's database
RENAMED = "renamed"  # project → undo done; staging → project next
SWITCHED = "switched"  # staging is the project's database now
NEW = "new"  # recover(): the project's database is the restored one
OLD = "old"  # recover(): the project's database is the one from before the restore


@dataclass(frozen=True)
class Names:
    """Which database is which during one restore job."""

    project: str  # the database users connect to
    staging: str  # where the backup is restored and checked first
    undo: str  # the project's old database, kept for RESTORE_UNDO_HOURS after a switch
    undone: str  # where an undo puts the restored database

    @classmethod
    def of(cls, database: str, job_id: uuid.UUID) -> Names:
        """The names for `database` and the restore job `job_id` (63 bytes at most each)."""
        job8 = job_id.hex[:8]

        def name(suffix: str) -> str:
            room = source.MAX_NAME_BYTES - len(suffix) - len(job8)
            base = database.encode("utf-8")[:room].decode("utf-8", "ignore")
            return source.validate_database_name(f"{base}{suffix}{job8}")

        return cls(source.validate_database_name(database), name(STAGING), name(UNDO), name(UNDONE))

    @staticmethod
    def drill(database: str, job_id: uuid.UUID) -> str:
        """The scratch database `<db>__drill_<job8>` a drill of `database` restores into."""
        job8 = job_id.hex[:8]
        room = source.MAX_NAME_BYTES - len(DRILL) - len(job8)
        base = database.encode("utf-8")[:room].decode("utf-8", "ignore")
        return source.validate_database_name(f"{base}{DRILL}{job8}")

    def to_json(self) -> dict[str, str]:
        """The names as the jobs row shows them."""
        return {"project": self.project, "staging": self.staging, "undo": self.undo}


def switch(
    params: source.SourceParams,
    names: Names,
    *,
    on_phase: Callable[[str], None],
    pause: float = 0.0,
) -> None:
    """Put staging in the project's place, the project's old database under the undo name."""
    on_phase(SWITCHING)
    if target.exists(params, names.project):
        _rename_closed(params, names.project, names.undo)
    on_phase(RENAMED)
    if pause:
        time.sleep(pause)  # RESTORE_SWITCH_PAUSE: a test kills the worker here
    target.rename(params, names.staging, names.project)
    on_phase(SWITCHED)


def recover(params: source.SourceParams, names: Names) -> str:
    """Finish (NEW) or roll back (OLD) a switch that stopped halfway; idempotent."""
    project = target.exists(params, names.project)
    staging = target.exists(params, names.staging)
    undo = target.exists(params, names.undo)
    if project and staging:
        # The switch had not begun (or was rolled back): the staging copy goes.
        target.drop(params, names.staging)
        target.allow_connections(params, names.project, True)
        return OLD
    if project:
        return NEW if undo else OLD
    if staging:
        # Between the two renames: staging was checked before the first one, so finish.
        target.rename(params, names.staging, names.project)
        return NEW
    if undo:
        target.rename(params, names.undo, names.project)
        target.allow_connections(params, names.project, True)
        return OLD
    raise errors.RestoreError(
        f"none of {names.project}, {names.staging} and {names.undo} exists: the project's "
        "database is missing and this restore cannot bring it back; restore a backup into it"
    )


def undo(params: source.SourceParams, names: Names) -> None:
    """Put the undo point back under the project's name; the restored one under `undone`."""
    if target.exists(params, names.undo):
        if target.exists(params, names.project):
            _rename_closed(params, names.project, names.undone)
        target.rename(params, names.undo, names.project)
    elif not target.exists(params, names.project):
        raise errors.RestoreError(
            f"neither {names.undo} nor {names.project} exists: nothing to undo"
        )
    elif not target.exists(params, names.undone):
        raise errors.RestoreError(
            f"the undo point {names.undo} does not exist (any more): it was dropped after "
            "RESTORE_UNDO_HOURS or by hand; restore an older backup instead"
        )
    target.allow_connections(params, names.project, True)


def _rename_closed(params: source.SourceParams, old: str, new: str) -> None:
    """Close `old` to new sessions, end its sessions and rename it; reopen it on failure."""
    target.allow_connections(params, old, False)
    for _ in range(RENAME_ATTEMPTS):
        ended = target.terminate(params, old)
        if ended:
            log.info("ended %d session(s) on %s before renaming it", ended, old)
        try:
            target.rename(params, old, new)
            return
        except psycopg2.errors.ObjectInUse:
            time.sleep(RENAME_RETRY)
    target.allow_connections(params, old, True)
    raise errors.RestoreError(
        f"could not rename {old}: its sessions kept coming back after "
        f"{RENAME_ATTEMPTS} attempts to end them; it was left in place and open again"
    )
