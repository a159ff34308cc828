"""Grandfather-father-son retention: which backups of one schedule to keep.

The rules work like restic's `forget --keep-*`: keep the newest `last` backups, and the newest
backup in each of the most recent `daily` days, `weekly` ISO weeks and `monthly` months that
have a backup (days, weeks and months counted in the schedule's time zone). A backup kept by
any rule is kept. The newest backup is always kept, whatever the rules say.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from worker import errors

MAX_KEEP = 10_000


@dataclass(frozen=True)
class Policy:
    """How many backups each rule keeps; 0 turns a rule off."""

    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    def __post_init__(self) -> None:
        for name in ("last", "daily", "weekly", "monthly"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_KEEP:
                raise errors.InputError(f"keep_{name} must be a whole number from 0 to {MAX_KEEP}")

    @classmethod
    def of(
        cls,
        last: int | None = None,
        daily: int | None = None,
        weekly: int | None = None,
        monthly: int | None = None,
    ) -> Policy:
        """A policy from nullable columns or options (None = rule off)."""
        return cls(last or 0, daily or 0, weekly or 0, monthly or 0)

    @property
    def active(self) -> bool:
        """Whether any rule is on; without one, only expires_at ends backups."""
        return any((self.last, self.daily, self.weekly, self.monthly))

    def horizon_days(self) -> int | None:
        """Days a backup must live for the calendar rules to be met (None: no calendar rule)."""
        if not (self.daily or self.weekly or self.monthly):
            return None
        spans = (
            self.daily + 1 if self.daily else 0,
            7 * (self.weekly + 1) if self.weekly else 0,
            31 * (self.monthly + 1) if self.monthly else 0,
        )
        return max(spans)

    def describe(self) -> str:
        """'last 3, daily 7, weekly 4' or 'none'."""
        parts = [
            f"{name} {value}"
            for name, value in (
                ("last", self.last),
                ("daily", self.daily),
                ("weekly", self.weekly),
                ("monthly", self.monthly),
            )
            if value
        ]
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class Candidate:
    """One active backup of the schedule."""

    backup_id: uuid.UUID
    created_at: dt.datetime


def keep(backups: Iterable[Candidate], policy: Policy, timezone: str = "UTC") -> set[uuid.UUID]:
    """The ids to keep; every other backup in `backups` may be expired."""
    ordered = sorted(backups, key=lambda b: (b.created_at, b.backup_id.int), reverse=True)
    if not ordered:
        return set()
    zone = zoneinfo.ZoneInfo(timezone)
    kept = {ordered[0].backup_id}
    kept.update(b.backup_id for b in ordered[: policy.last])

    def local(moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(zone)

    rules: Sequence[tuple[int, Callable[[dt.datetime], Hashable]]] = (
        (policy.daily, lambda m: local(m).date()),
        (policy.weekly, lambda m: local(m).isocalendar()[:2]),
        (policy.monthly, lambda m: (local(m).year, local(m).month)),
    )
    for count, bucket in rules:
        kept.update(_newest_per_bucket(ordered, count, bucket))
    return kept


def _newest_per_bucket(
    ordered: Sequence[Candidate], count: int, bucket: Callable[[dt.datetime], Hashable]
) -> list[uuid.UUID]:
    chosen: list[uuid.UUID] = []
    last_key: Hashable = None
    for backup in ordered:
        if len(chosen) >= count:
            break
        key = bucket(backup.created_at)
        if key != last_key:
            chosen.append(backup.backup_id)
            last_key = key
    return chosen
