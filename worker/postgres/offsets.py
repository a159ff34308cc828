"""Data offsets for a custom-format archive that pg_dump wrote into a pipe.

pg_dump records where each table's data starts in the archive's table of contents only when its
output file is seekable; the worker's pg_dump writes into a pipe, so every data entry says
"position not set", and each `pg_restore --jobs` session then finds its table by reading every
block before it (docs/restore.md has what that costs).
A `Scanner` watches the archive go by while it is written into a local file, finds where each
data entry starts, and `apply` then writes those positions into the table of contents in place:
pg_dump leaves a slot of fixed size in every entry.

Finding the starts is a search, not a walk over every block. Table data is COPY text, which never
holds a NUL byte, so the only run of `1 + intsize` zero bytes inside an entry is the zero-length
block that ends it; the search looks for that run followed by the next entry's exact header (its
block type and dump id), in the order pg_dump writes data (the table of contents' order). Large
objects' data is binary, so the search stops before it (those entries keep "not set"). The first
entry must start where the table of contents ends and the last must end where the file does.
Anything unexpected leaves the archive exactly as it was: pg_restore still reads it, only slower;
and pg_restore itself checks the dump id it finds at every offset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from worker.postgres import bytesearch, toc

OFFSET_NOT_SET, OFFSET_SET = toc.OFFSET_NOT_SET, toc.OFFSET_SET
BLOCK_DATA, BLOCK_BLOBS = 1, 3
FIRST_TRY = 64 << 10  # bytes of the stream before its table of contents is first read
HEAD_LIMIT = 256 << 20  # bytes: a table of contents not read by then is not looked at


class Sink(Protocol):
    """Where the archive is written."""

    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class _Entry:
    dump_id: int
    desc: bytes
    slot: int  # file position of the entry's offset flag byte


@dataclass(frozen=True)
class _Toc:
    int_size: int
    offset_size: int
    end: int  # where the data starts
    entries: tuple[_Entry, ...]  # the entries whose data position is not set, in order


class _Unsupported(Exception):
    """The archive is not one this module can read: it is left alone."""


class Scanner:
    """Writes the archive into `sink` unchanged and finds its data entries' starts on the way."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._head = bytearray()  # the stream until its table of contents is read
        self._toc: _Toc | None = None
        self._tables: tuple[_Entry, ...] = ()
        self._patterns: list[tuple[bytes, int]] = []  # (pattern, where its header starts)
        self._found: list[int] = []
        self._given_up = False
        self._base = 0  # stream position of the next byte written
        self._tail = b""  # the stream's last bytes before `_base`, one pattern long less one
        self._after = 0  # the next pattern may start here, not before
        self._keep = 0  # bytes of tail kept: the longest pattern's length less one
        self._next_try = FIRST_TRY  # head bytes before the table of contents is read again

    def write(self, data: bytes, /) -> int:
        self._sink.write(data)
        if not self._given_up:
            self._scan(data)
        return len(data)

    def _starts(self) -> list[tuple[int, int]]:
        """Once the whole archive was written: (slot, start) of each entry found, or none."""
        if self._toc is None and not self._given_up:  # an archive shorter than FIRST_TRY
            self._next_try = 0
            self._scan(b"")
        toc = self._toc
        if self._given_up or toc is None or len(self._found) != len(self._patterns):
            return []
        if len(self._tables) == len(toc.entries):  # the last table's end is the file's
            ends = bytes(1 + toc.int_size)
            if self._base - len(ends) <= self._found[len(self._tables) - 1]:
                return []
            if not self._tail.endswith(ends):
                return []
        pairs = zip(self._tables, self._found, strict=False)  # the last found may be the blobs'
        return [(entry.slot, start) for entry, start in pairs]

    def apply(self, fd: int) -> int:
        """Write the offsets found into the archive file `fd`; how many entries got one."""
        toc = self._toc
        found = self._starts()
        if toc is None:
            return 0
        for slot, start in found:
            os.pwrite(fd, bytes([OFFSET_SET]) + start.to_bytes(toc.offset_size, "little"), slot)
        return len(found)

    def _scan(self, data: bytes) -> None:
        if self._toc is None:
            self._head += data
            if len(self._head) < self._next_try:
                return
            try:
                self._toc = _read_toc(bytes(self._head))
            except EOFError:
                # Each try reads from the start: waiting for twice as much keeps them few.
                self._next_try = 2 * len(self._head)
                if len(self._head) > HEAD_LIMIT:
                    self._give_up()
                return
            except _Unsupported:
                self._give_up()
                return
            self._plan(self._toc)
            head, self._head = bytes(self._head), bytearray()
            self._search(head)
        else:
            self._search(data)

    def _give_up(self) -> None:
        self._given_up = True
        self._head = bytearray()

    def _plan(self, toc: _Toc) -> None:
        blobs = next((i for i, e in enumerate(toc.entries) if e.desc == b"BLOBS"), None)
        self._tables = toc.entries if blobs is None else toc.entries[:blobs]
        if not self._tables:
            self._give_up()
            return
        ends = bytes(1 + toc.int_size)  # a zero-length block: an entry's end
        # Headers follow each other in table-of-contents order, the first where the TOC ends.
        self._patterns = [(_header(toc, self._tables[0]), 0)]
        following = list(self._tables[1:])
        if blobs is not None:  # the large objects' header ends the last table
            following.append(toc.entries[blobs])
        self._patterns += [(ends + _header(toc, entry), len(ends)) for entry in following]
        self._keep = max(len(pattern) for pattern, _ in self._patterns) - 1
        self._after = toc.end

    def _search(self, data: bytes) -> None:
        """Find the next patterns in `data`, which starts at stream position `_base`."""
        while len(self._found) < len(self._patterns):
            pattern, skip = self._patterns[len(self._found)]
            hit = _find(self._tail, data, self._base, pattern, self._after)
            if hit is None:
                break
            if not self._found and hit != self._after:  # the first is not where the TOC ends
                self._give_up()
                return
            self._found.append(hit + skip)
            self._after = hit + len(pattern)
        keep = self._keep
        self._tail = (self._tail + data)[-keep:] if len(data) < keep else data[-keep:]
        self._base += len(data)


def _find(tail: bytes, data: bytes, base: int, pattern: bytes, after: int) -> int | None:
    """The stream position of `pattern` at or after `after` in `tail` + `data`, or None.

    `data` starts at `base` and `tail` holds the bytes just before it, so a pattern across
    two writes is found without joining them.
    """
    keep = len(pattern) - 1
    region_base = base - len(tail)
    if tail:
        region = tail + data[:keep]
        at = region.find(pattern, max(0, after - region_base))
        if at >= 0:
            return region_base + at
    at = bytesearch.find(data, pattern, max(0, after - base))
    return base + at if at >= 0 else None


def _header(toc: _Toc, entry: _Entry) -> bytes:
    kind = BLOCK_BLOBS if entry.desc == b"BLOBS" else BLOCK_DATA
    return bytes([kind, 0]) + entry.dump_id.to_bytes(toc.int_size, "little")  # type, WriteInt


def _read_toc(head: bytes) -> _Toc:
    """The entries of `head`'s table of contents whose data position is not set; EOFError
    when `head` ends inside it."""
    try:
        read = toc.read(head)
    except toc.Unsupported:
        raise _Unsupported from None
    # Compressed data is binary: a NUL byte proves nothing. The worker dumps uncompressed.
    if read.compression != 0:
        raise _Unsupported
    entries = tuple(
        _Entry(entry.dump_id, entry.desc, entry.slot)
        for entry in read.entries
        if entry.flag == OFFSET_NOT_SET
    )
    return _Toc(read.int_size, read.offset_size, read.end, entries)
