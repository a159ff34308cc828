"""The table of contents of a custom-format archive, read from its first bytes; and the size of
each table's data, which pg_restore's progress is measured against (worker/postgres/advance.py).

The format is pg_dump's own (pg_backup_archiver.c: WriteHead, WriteToc); offsets.py writes the
data positions into it, and a size is where an entry's data starts to where the next one's
does. The worker dumps uncompressed (`--compress=0`), so a table's size is the COPY text that
pg_restore sends to the server, plus a block length of five bytes before each row.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"PGDMP"
FORMAT_CUSTOM = 1
VERSIONS = range(12, 17)  # archive format 1.12 (PostgreSQL 9.6) to 1.16 (PostgreSQL 17)
OFFSET_NOT_SET, OFFSET_SET = 1, 2
FIRST_READ = 1 << 20  # bytes of the file read for its table of contents, doubled until enough
READ_LIMIT = 256 << 20  # bytes: a table of contents not read by then is not looked at
DATA = (b"TABLE DATA", b"BLOBS")  # the entries whose data follows the table of contents


class Unsupported(Exception):
    """The archive is not one this module can read."""


@dataclass(frozen=True)
class Entry:
    """One entry of the table of contents."""

    dump_id: int
    desc: bytes
    namespace: str
    tag: str
    slot: int  # file position of the entry's offset flag byte
    flag: int  # OFFSET_NOT_SET, OFFSET_SET, or another: no data
    offset: int  # where its data starts, when `flag` is OFFSET_SET


@dataclass(frozen=True)
class Toc:
    """The archive's header fields that matter here, and its entries in order."""

    int_size: int
    offset_size: int
    compression: int
    end: int  # where the data starts
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Table:
    """One table's data: its dump id, its name as pg_restore --verbose says it, its bytes."""

    dump_id: int
    name: str  # "schema.table"
    size: int


def read(head: bytes) -> Toc:
    """The table of contents at the start of `head`; EOFError when `head` ends inside it,
    Unsupported when it is not a custom-format archive of a known version."""
    reader = Reader(head)
    if reader.take(len(MAGIC)) != MAGIC:
        raise Unsupported
    major, minor, _rev, int_size, offset_size, form = reader.take(6)
    if major != 1 or minor not in VERSIONS or form != FORMAT_CUSTOM or not 1 <= int_size <= 8:
        raise Unsupported
    reader.int_size = int_size
    compression = reader.take(1)[0] if minor >= 15 else reader.int()
    for _ in range(7):  # the creation time
        reader.int()
    for _ in range(3):  # database name, server version, pg_dump version
        reader.string()
    entries = []
    for _ in range(reader.int()):
        dump_id = reader.int()
        reader.int()  # had a data dumper
        reader.string(), reader.string()  # table oid, oid
        tag = reader.string() or b""
        desc = reader.string() or b""
        reader.int()  # section
        for _ in range(3):  # definition, drop, copy statement
            reader.string()
        namespace = reader.string() or b""
        reader.string()  # tablespace
        if minor >= 14:
            reader.string()  # table access method
        if minor >= 16:
            reader.int()  # relkind
        reader.string(), reader.string()  # owner, "with oids"
        while reader.string() is not None:  # dependencies, ended by a NULL
            pass
        slot = reader.position
        raw = reader.take(1 + offset_size)
        entry = Entry(
            dump_id,
            desc,
            namespace.decode("utf-8", "replace"),
            tag.decode("utf-8", "replace"),
            slot,
            raw[0],
            int.from_bytes(raw[1:], "little"),
        )
        entries.append(entry)
    return Toc(int_size, offset_size, compression, reader.position, tuple(entries))


def tables(path: Path) -> list[Table]:
    """Each table's data in the archive at `path`, in table-of-contents order.

    With every table's data position set, a table's size is its data's length (the last
    table's includes the large objects' data when their position is not set, as offsets.py
    leaves it); when some are not set (an archive whose offsets could not be found), the
    data's whole length is shared evenly. Unsupported, or EOFError for a file that ends inside
    its table of contents.
    """
    toc = _read_file(path)
    size = path.stat().st_size
    data = [entry for entry in toc.entries if entry.desc in DATA]
    tables = [entry for entry in data if entry.desc == b"TABLE DATA"]
    if not tables:
        return []
    if any(entry.flag != OFFSET_SET for entry in tables):
        share = max(size - toc.end, 0) // len(tables)
        return [Table(entry.dump_id, _name(entry), share) for entry in tables]
    starts = sorted({entry.offset for entry in data if entry.flag == OFFSET_SET} | {size})
    following = dict(itertools.pairwise(starts))
    return [
        Table(entry.dump_id, _name(entry), following.get(entry.offset, size) - entry.offset)
        for entry in tables
    ]


def _name(entry: Entry) -> str:
    return f"{entry.namespace}.{entry.tag}"


def _read_file(path: Path) -> Toc:
    wanted = FIRST_READ
    with path.open("rb") as file:
        while True:
            file.seek(0)
            head = file.read(wanted)
            try:
                return read(head)
            except EOFError:
                if len(head) < wanted or wanted >= READ_LIMIT:
                    raise
                wanted *= 2


class Reader:
    """pg_dump's ReadInt and ReadStr over bytes, counting the position."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.position = 0
        self.int_size = 4

    def take(self, size: int) -> bytes:
        """The next `size` bytes; EOFError past the end."""
        end = self.position + size
        if end > len(self._data):
            raise EOFError
        data = self._data[self.position : end]
        self.position = end
        return data

    def int(self) -> int:
        """A sign byte, then `int_size` bytes, little-endian."""
        raw = self.take(1 + self.int_size)
        value = int.from_bytes(raw[1:], "little")
        return -value if raw[0] else value

    def string(self) -> bytes | None:
        """A length, then that many bytes; None for a length below zero."""
        size = self.int()
        if size < 0:
            return None
        return self.take(size)
