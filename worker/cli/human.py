"""Numbers as people read them in the tables and summaries: 9.6 MiB, 1 min 12 s, 3 h ago.

Only the screen output uses these; `--json` keeps the raw bytes, seconds and ISO timestamps.
Sizes are binary (KiB, MiB, GiB), as Telegram's 2 GiB limit and BACKUP_PART_SIZE are.
"""

from __future__ import annotations

import datetime as dt

_SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")
_STEP = 1024
# Each unit of a duration and its length in seconds; a duration shows its two largest.
_DURATION_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def size(value: object) -> str:
    """Bytes as 512 B, 9.6 MiB, 1.0 GiB; "" for None."""
    if value is None:
        return ""
    amount = float(str(value))
    if abs(amount) < _STEP:
        return f"{amount:.0f} B"
    for unit in _SIZE_UNITS:
        amount /= _STEP
        # 1023.96 KiB would print as "1024.0 KiB": go one unit up instead.
        if abs(amount) < _STEP - 0.05 or unit == _SIZE_UNITS[-1]:
            return f"{amount:.1f} {unit}"
    raise AssertionError("unreachable")


def count(value: object, word: str) -> str:
    """`1 part`, `2 parts`: a count and its noun (an English plural in -s)."""
    return f"{value} {word}" if str(value) == "1" else f"{value} {word}s"


def duration(value: object) -> str:
    """Seconds as 45 s, 1 min 12 s, 3 h 5 min, 2 d 4 h (the two largest units); "" for None.

    Under 10 seconds keeps one decimal (0.4 s, 2.5 s): a short job's time is worth reading.
    """
    if value is None:
        return ""
    seconds = float(str(value))
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    left = round(seconds)
    shown: list[str] = []
    for unit, length in _DURATION_UNITS:
        count, left = divmod(left, length)
        if count or shown:
            shown.append(f"{count} {unit}")
        if len(shown) == 2:
            break
    if len(shown) == 2 and shown[1].startswith("0 "):
        shown.pop()
    return " ".join(shown)


def between(start: object, end: object) -> str:
    """The duration from one ISO timestamp (or datetime) to another; "" when either is None."""
    first, last = moment(start), moment(end)
    if first is None or last is None:
        return ""
    return duration((last - first).total_seconds())


def moment(value: object) -> dt.datetime | None:
    """A datetime, or one from its ISO text; None for None or ""."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def timestamp(value: object) -> str:
    """An ISO timestamp as `2026-12-06 05:35` in UTC; "" for None."""
    found = moment(value)
    if found is None:
        return ""
    if found.tzinfo is not None:
        found = found.astimezone(dt.UTC)
    return found.strftime("%Y-%m-%d %H:%M")


def ago(value: object, now: dt.datetime | None = None) -> str:
    """How long ago an ISO timestamp was (`3 h 5 min ago`), or how far ahead (`in 2 d`)."""
    found = moment(value)
    if found is None:
        return ""
    seconds = ((now or dt.datetime.now(dt.UTC)) - found).total_seconds()
    return f"{duration(seconds)} ago" if seconds >= 0 else f"in {duration(-seconds)}"
