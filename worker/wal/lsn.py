"""WAL positions ("16/B374D848") as integers, and the names of the segments that hold them."""

from __future__ import annotations

import re

from worker import errors

_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def parse(text: str) -> int:
    """`X/Y` as PostgreSQL prints it → an integer position."""
    match = _LSN.fullmatch(text.strip())
    if match is None:
        raise errors.InputError(f"{text!r} is not a WAL position (like 0/16B3748)")
    return (int(match[1], 16) << 32) | int(match[2], 16)


def format_lsn(position: int) -> str:
    """An integer position as PostgreSQL prints it."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def segment_number(position: int, segment_size: int) -> int:
    """The segment holding `position`."""
    return position // segment_size


def segment_name(timeline: int, segment: int, segment_size: int) -> str:
    """The 24-hex-digit file name of segment number `segment` on `timeline`."""
    per_id = 0x100000000 // segment_size
    return f"{timeline:08X}{segment // per_id:08X}{segment % per_id:08X}"


def parse_segment_name(name: str, segment_size: int) -> tuple[int, int]:
    """(timeline, segment number) of a segment file name; InputError when it is not one."""
    if not re.fullmatch(r"[0-9A-F]{24}", name):
        raise errors.InputError(f"{name!r} is not a WAL segment name")
    per_id = 0x100000000 // segment_size
    return int(name[:8], 16), int(name[8:16], 16) * per_id + int(name[16:], 16)
