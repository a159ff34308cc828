"""A step that waits for its Telegram slot: written in its jobs row, so that nothing takes it for
silent before that time, and so that whoever sends it again sends its kept slot with it.

An upload whose part's slot is far off (errors.PacerDeferred) ends its run and is sent again
with a countdown, carrying the slot the pacer kept for it (tasks/steps.py `defer`). That
message waits in its worker's memory until then: a reconnection to the broker drops it there,
and a broker that restarts without persistence drops it for good. Its row says, under
`deferred`, which step waits, until when, and for which slot:

- the reaper and the quiet-host check do not count the job silent before `until` (its
  heartbeat is not refreshed while it waits);
- a resume pass sends the step again with the same slot, counting down to `until`, so a part
  whose slot is kept never books a second one (each booked slot is a message Telegram's
  per-chat budget counts until it lapses);
- the step's run that takes the slot clears it; a copy of the message that comes later finds
  the row no longer holding that slot and books a new one only if a part is still unsent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from db import models
from db.queries import jobs as db_jobs
from worker.jobs import owner, state
from worker.jobs.runtime import Runtime

KEY = "deferred"
# A deferred step wakes this share of TELEGRAM_PACER_MAX_SLEEP before its start, and sleeps
# the rest in its thread: a countdown fires late by the worker's timer and its load (tenths
# of a second measured on a busy 2-core host), and an upload that starts after its slot ends
# late, which moves the part to the back of the chat's queue of slots (worker.telegram.arrival).
EARLY = 0.8


@dataclass(frozen=True)
class Deferral:
    """A step of the job waiting for its Telegram slot until `until`."""

    step: str  # the step's short name (upload)
    until: dt.datetime
    slot: dict[str, str]  # fleetpacer.Reservation.to_json of the kept slot
    noted: dt.datetime  # when it deferred: its countdown message was sent then

    @classmethod
    def of(cls, job: models.Job) -> Deferral | None:
        """The job's deferral, None when its row names none (or an unreadable one)."""
        result = job.result if isinstance(job.result, Mapping) else {}
        found = result.get(KEY)
        if not isinstance(found, Mapping):
            return None
        until = state.parse_when(found.get("until"))
        noted = state.parse_when(found.get("noted"))
        slot = found.get("slot")
        step = found.get("step")
        if until is None or noted is None or not isinstance(slot, Mapping):
            return None
        if not isinstance(step, str):
            return None
        slot_json = {str(k): str(v) for k, v in slot.items()}
        return cls(step=step, until=until, slot=slot_json, noted=noted)

    def to_json(self) -> dict[str, object]:
        """As kept in the jobs row."""
        return {
            "step": self.step,
            "until": self.until.isoformat(),
            "slot": self.slot,
            "noted": self.noted.isoformat(),
        }

    def dropped_at(self, connected_at: dt.datetime | None) -> bool:
        """Whether its countdown message was dropped by a reconnection at `connected_at`.

        A Celery worker that loses its broker connection drops every countdown message it
        holds (they are redelivered by the broker, if it kept them, only after the visibility
        timeout), while its `inspect scheduled` lists them until their time: a step deferred
        before the reconnection has no message left, whatever that list says.
        """
        return connected_at is not None and self.noted < connected_at

    def pending(self, now: dt.datetime, grace: dt.timedelta = dt.timedelta(0)) -> bool:
        """Whether the step's time (plus `grace`, the time its run may take to show) is
        still ahead: until then the job is waiting, not silent."""
        return now < self.until + grace

    def countdown(self, now: dt.datetime, max_sleep: float) -> float:
        """The countdown of a message sent now for the step's time (`wake`)."""
        return wake((self.until - now).total_seconds(), max_sleep)


def wake(seconds: float, max_sleep: float) -> float:
    """The countdown for a step whose upload starts in `seconds`: EARLY of `max_sleep`
    (TELEGRAM_PACER_MAX_SLEEP) sooner, so that it is on time; 0 once that has passed."""
    return max(0.0, seconds - EARLY * max_sleep)


def note(
    rt: Runtime,
    job_id: uuid.UUID,
    hostname: str,
    *,
    step: str,
    seconds: float,
    slot: Mapping[str, str],
) -> Deferral:
    """Write into the row of this host's attempt that `step` waits `seconds` for `slot`.

    AttemptSuperseded when the job is no longer this host's (its kept slot then lapses).
    """
    now = dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(seconds=seconds)
    deferral = Deferral(step=step, until=until, slot=dict(slot), noted=now)
    with rt.database.transaction() as session:
        owner.still_ours(session, job_id, hostname, None)
        db_jobs.merge_result(session, job_id, {KEY: deferral.to_json()})
        db_jobs.heartbeat(session, job_id)
    return deferral


def take(rt: Runtime, job: models.Job) -> dict[str, str] | None:
    """The slot the row keeps for the job's waiting step, cleared from the row: the run that
    takes it is the one that uses it (or keeps it again by deferring once more). A copy of
    the message that runs later finds none and books a slot only if a part is still unsent;
    using the slot twice would send two messages in one slot."""
    kept = Deferral.of(job)
    if kept is None:
        return None
    with rt.database.transaction() as session:
        db_jobs.merge_result(session, job.id, {KEY: None})
    return kept.slot
