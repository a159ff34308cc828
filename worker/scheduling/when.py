"""When a schedule runs: a cron expression or a fixed interval, read in an IANA time zone.

Cron expressions are evaluated by cronsim, which follows Debian cron, DST quirks included:
a job at 02:30 on the night the clocks skip that hour runs at 03:00, and a job in the repeated
hour runs once. Intervals are fixed durations anchored on the schedule's previous run, so they
keep their phase across restarts and downtime.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

import cronsim

from worker import errors

DEFAULT_TIMEZONE = "UTC"
MIN_INTERVAL = dt.timedelta(minutes=1)  # the dispatcher's tick; a shorter interval cannot be kept
MAX_INTERVAL = dt.timedelta(days=366)
# The longest gap between two runs, sampled this far ahead, is the schedule's "period".
PERIOD_SAMPLE_RUNS = 400
PERIOD_SAMPLE_SPAN = dt.timedelta(days=400)

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_INTERVAL = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
_INTERVAL_WHOLE = re.compile(r"(?:\d+\s*[smhdw]\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class When:
    """A validated cron expression or interval, and the time zone it is read in."""

    cron: str | None
    interval: dt.timedelta | None
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def parse(
        cls,
        *,
        cron: str | None = None,
        every: str | int | dt.timedelta | None = None,
        timezone: str | None = None,
        min_interval: dt.timedelta = MIN_INTERVAL,
    ) -> When:
        """Validate exactly one of `cron` / `every`; InputError says what is wrong."""
        if (cron is None) == (every is None):
            raise errors.InputError("give either a cron expression or an interval, not both")
        zone = parse_timezone(timezone or DEFAULT_TIMEZONE)
        if cron is not None:
            return cls(cron=parse_cron(cron, zone), interval=None, timezone=zone.key)
        assert every is not None
        interval = parse_interval(every)
        if interval < min_interval:
            raise errors.InputError(
                f"interval {describe_interval(interval)} is shorter than the dispatcher's tick"
                f" ({describe_interval(min_interval)})"
            )
        return cls(cron=None, interval=interval, timezone=zone.key)

    @classmethod
    def from_row(cls, cron: str | None, interval_seconds: int | None, timezone: str) -> When:
        """Rebuild from stored columns (already validated on write)."""
        interval = None if interval_seconds is None else dt.timedelta(seconds=interval_seconds)
        return cls(cron=cron, interval=interval, timezone=timezone)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The time zone the cron fields are read in."""
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def interval_seconds(self) -> int | None:
        """The interval in whole seconds, for the table."""
        return None if self.interval is None else int(self.interval.total_seconds())

    def first_run(self, now: dt.datetime) -> dt.datetime:
        """When a new schedule runs first: the next cron time, or one interval from now."""
        if self.interval is not None:
            return _utc(now) + self.interval
        return self.next_after(now)

    def next_after(self, now: dt.datetime, *, anchor: dt.datetime | None = None) -> dt.datetime:
        """The first run strictly after `now`; an interval keeps the phase of `anchor`."""
        now = _utc(now)
        if self.interval is not None:
            if anchor is None:
                return now + self.interval
            anchor = _utc(anchor)
            if anchor > now:
                return anchor
            steps = (now - anchor) // self.interval + 1
            return anchor + steps * self.interval
        assert self.cron is not None
        try:
            return _utc(next(cronsim.CronSim(self.cron, _local(now, self.timezone))))
        except StopIteration:
            raise errors.InputError(f"cron {self.cron!r} never matches again") from None

    def period(self, now: dt.datetime) -> dt.timedelta:
        """The longest gap between two consecutive runs (sampled ahead for cron)."""
        if self.interval is not None:
            return self.interval
        assert self.cron is not None
        times = cronsim.CronSim(self.cron, _local(_utc(now), self.timezone))
        longest = dt.timedelta(0)
        previous: dt.datetime | None = None
        horizon = _utc(now) + PERIOD_SAMPLE_SPAN
        for _ in range(PERIOD_SAMPLE_RUNS):
            try:
                moment = _utc(next(times))
            except StopIteration:
                break
            if previous is not None:
                longest = max(longest, moment - previous)
            if moment > horizon:
                break
            previous = moment
        if longest <= dt.timedelta(0):
            # One match in the sample (e.g. once a year, or Feb 29): fall back to the span.
            longest = PERIOD_SAMPLE_SPAN
        return longest

    def describe(self) -> str:
        """Human text: 'cron 0 3 * * * (Europe/Berlin)' or 'every 6h'."""
        if self.cron is not None:
            return f"cron {self.cron} ({self.timezone})"
        assert self.interval is not None
        return f"every {describe_interval(self.interval)}"


def parse_timezone(name: str) -> zoneinfo.ZoneInfo:
    """An IANA time zone such as 'Europe/Berlin'; InputError otherwise."""
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise errors.InputError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None


def parse_cron(expression: str, zone: zoneinfo.ZoneInfo | None = None) -> str:
    """A five-field cron expression (or @daily-style alias), normalised; InputError otherwise."""
    text = " ".join(expression.split())
    text = ALIASES.get(text.lower(), text)
    if len(text.split()) != 5:
        raise errors.InputError(
            f"invalid cron {expression!r}: expected 5 fields (minute hour day month weekday)"
            " or one of " + ", ".join(sorted(ALIASES))
        )
    start = dt.datetime.now(zone or dt.UTC)
    try:
        next(cronsim.CronSim(text, start))
    except cronsim.CronSimError as exc:
        raise errors.InputError(f"invalid cron {expression!r}: {exc}") from None
    except StopIteration:
        raise errors.InputError(f"cron {expression!r} never matches") from None
    return text


def parse_interval(value: str | int | dt.timedelta) -> dt.timedelta:
    """'90s', '15m', '6h', '1d', '1w', '1h30m', or whole seconds; InputError otherwise."""
    if isinstance(value, dt.timedelta):
        interval = value
    elif isinstance(value, int) and not isinstance(value, bool):
        interval = dt.timedelta(seconds=value)
    elif isinstance(value, str) and value.strip().isdigit():
        interval = dt.timedelta(seconds=int(value.strip()))
    elif isinstance(value, str) and _INTERVAL_WHOLE.fullmatch(value.strip()):
        seconds = sum(
            int(number) * _UNITS[unit.lower()] for number, unit in _INTERVAL.findall(value)
        )
        interval = dt.timedelta(seconds=seconds)
    else:
        raise errors.InputError(
            f"invalid interval {value!r}: use e.g. 90s, 15m, 6h, 1d, 1w or 1h30m"
        )
    if interval.total_seconds() <= 0 or interval > MAX_INTERVAL:
        raise errors.InputError(f"interval {value!r} must be between 1 second and 366 days")
    if interval.microseconds:
        raise errors.InputError(f"interval {value!r} must be a whole number of seconds")
    return interval


def describe_interval(interval: dt.timedelta) -> str:
    """'1d6h', '15m', '90s' style text for an interval."""
    seconds = int(interval.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise errors.InputError("timestamps must carry a time zone")
    return moment.astimezone(dt.UTC)


def _local(moment: dt.datetime, timezone: str) -> dt.datetime:
    # cronsim skips DST handling for datetime.UTC only; ZoneInfo("UTC") would work, slower.
    if timezone == DEFAULT_TIMEZONE:
        return moment.astimezone(dt.UTC)
    return moment.astimezone(zoneinfo.ZoneInfo(timezone))
