"""Job, backup and schedule ids as the operator types them: whole, or a unique prefix.

The tables print ids cut short, so every command that takes one accepts what they show: a
prefix of at least MIN_PREFIX hex digits (dashes anywhere, any case), resolved in the control
plane. Unknown or ambiguous: refused with status 2, an ambiguous one with its candidates.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import click
from sqlalchemy.orm import Mapped

from db import models, schedule_models
from db.queries import ids as db_ids
from worker import errors
from worker.jobs import runtime

MIN_PREFIX = 4  # hex digits: below that most prefixes are ambiguous in any real table
CANDIDATES = 5  # an ambiguous prefix lists this many matches
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class Kind:
    """What an id names: its word in messages, and the column it is looked up in."""

    word: str
    column: Mapped[uuid.UUID]


JOB = Kind("job", models.Job.id)
BACKUP = Kind("backup", models.Backup.id)
SCHEDULE = Kind("schedule", schedule_models.BackupSchedule.id)


def digits(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """The click callback of an id argument or option: its hex digits (lowercase, no dashes),
    a whole id or a prefix of one; BadParameter for anything else."""
    if value is None:
        return None
    found = value.strip().lower().replace("-", "")
    if not _HEX.fullmatch(found) or not MIN_PREFIX <= len(found) <= db_ids.HEX_DIGITS:
        raise click.BadParameter(
            f"{value!r} is not an id, nor its first {MIN_PREFIX} or more hex digits", ctx, param
        )
    return found


def resolve(rt: runtime.Runtime, kind: Kind, given: str) -> uuid.UUID:
    """The one id of `kind` that `given` (from `digits`) begins; a whole id as it is."""
    if len(given) == db_ids.HEX_DIGITS:
        return uuid.UUID(given)
    with rt.database.transaction() as session:
        found = db_ids.starting_with(session, kind.column, given, limit=CANDIDATES + 1)
    if not found:
        raise errors.NotFoundError(f"no {kind.word} id starts with {given}")
    if len(found) > 1:
        shown = ", ".join(str(each) for each in found[:CANDIDATES])
        more = ", …" if len(found) > CANDIDATES else ""
        raise errors.InputError(
            f"{kind.word} id prefix {given} is ambiguous: {shown}{more} (give more digits)"
        )
    return found[0]
