"""An artifact's part files in the spool: the writer that cuts them, the manifest that lists them.

The manifest is what travels between the dump, upload and record steps (never the data). Part paths
in it are absolute: the spool is local to one host, and the steps that read the manifest run there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, TypedDict, TypeVar

from worker import errors

MANIFEST_VERSION = 1
COMPRESSIONS = ("zstd", "none")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_T = TypeVar("_T")


class PartJSON(TypedDict):
    """One part file in the manifest."""

    index: int
    path: str
    size_bytes: int
    sha256: str


class ArtifactJSON(TypedDict):
    """The manifest of one artifact: JSON-serializable, a few hundred bytes per part."""

    version: int
    filename: str
    compression: str
    encrypted: bool
    recipients: list[str]
    size_bytes: int
    sha256: str
    raw_bytes: int
    parts: list[PartJSON]


@dataclass(frozen=True)
class PartFile:
    """One piece of an artifact in the spool directory."""

    index: int  # 0-based; the file name carries index + 1
    path: Path
    size_bytes: int
    sha256: str  # hex digest of this part's bytes

    def to_json(self) -> PartJSON:
        """The part as a JSON object, with an absolute path."""
        return {
            "index": self.index,
            "path": str(self.path.absolute()),
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Artifact:
    """A finished dump: the bytes as uploaded, cut into parts (`cat <filename>.*` joins them)."""

    filename: str
    compression: str  # "zstd" or "none"
    encrypted: bool
    recipients: tuple[str, ...]  # age public keys the artifact is encrypted to
    size_bytes: int  # whole artifact, as uploaded (all parts)
    sha256: str  # of the whole artifact, all parts joined in order
    raw_bytes: int  # bytes read from the source (pg_dump's output)
    parts: tuple[PartFile, ...]

    def to_json(self) -> ArtifactJSON:
        """The manifest: a small JSON object; part paths are absolute."""
        return {
            "version": MANIFEST_VERSION,
            "filename": self.filename,
            "compression": self.compression,
            "encrypted": self.encrypted,
            "recipients": list(self.recipients),
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "raw_bytes": self.raw_bytes,
            "parts": [part.to_json() for part in self.parts],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Artifact:
        """Read a manifest made by to_json; raise InputError naming the first bad field."""
        version = _field(data, "version", int)
        if version != MANIFEST_VERSION:
            raise errors.InputError(f"artifact manifest: unsupported version {version}")
        compression = _field(data, "compression", str)
        if compression not in COMPRESSIONS:
            raise errors.InputError(f"artifact manifest: unknown compression {compression!r}")
        raw_parts = _field(data, "parts", list)
        recipients = _field(data, "recipients", list)
        if not all(isinstance(key, str) for key in recipients):
            raise errors.InputError("artifact manifest: recipients must be strings")
        parts = tuple(_part_from_json(item, position) for position, item in enumerate(raw_parts))
        if not parts:
            raise errors.InputError("artifact manifest: no parts")
        artifact = cls(
            filename=_field(data, "filename", str),
            compression=compression,
            encrypted=_field(data, "encrypted", bool),
            recipients=tuple(str(key) for key in recipients),
            size_bytes=_field(data, "size_bytes", int),
            sha256=_digest(_field(data, "sha256", str), "sha256"),
            raw_bytes=_field(data, "raw_bytes", int),
            parts=parts,
        )
        if sum(part.size_bytes for part in parts) != artifact.size_bytes:
            raise errors.InputError("artifact manifest: part sizes do not add up to size_bytes")
        return artifact


def part_name(filename: str, index: int, width: int = 3) -> str:
    """The file name of part `index` (0-based): `<filename>.001`, `.002`, ..."""
    return f"{filename}.{index + 1:0{width}d}"


def part_limit(index: int, part_size: int, first_part_size: int) -> int:
    """Bytes of part `index` (0-based) but the last: the first's own size, then part_size."""
    return min(part_size, first_part_size) if index == 0 else part_size


def remove_parts(target: Artifact | Iterable[Path | PartFile]) -> None:
    """Delete an artifact's part files (or the given paths); missing files are fine."""
    items: Iterable[Path | PartFile] = target.parts if isinstance(target, Artifact) else target
    for item in items:
        path = item.path if isinstance(item, PartFile) else item
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _field(data: Mapping[str, object], name: str, kind: type[_T]) -> _T:
    value = data.get(name)
    # bool is an int subclass: a size of `true` is malformed, not 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise errors.InputError(f"artifact manifest: {name} must be a {kind.__name__}")
    return value


def _digest(value: str, name: str) -> str:
    if not _SHA256_HEX.match(value):
        raise errors.InputError(f"artifact manifest: {name} must be 64 lowercase hex digits")
    return value


def _part_from_json(item: object, position: int) -> PartFile:
    if not isinstance(item, Mapping):
        raise errors.InputError(f"artifact manifest: part {position} must be an object")
    index = _field(item, "index", int)
    if index != position:
        raise errors.InputError(f"artifact manifest: part {position} has index {index}")
    path = Path(_field(item, "path", str))
    if not path.is_absolute():
        raise errors.InputError(f"artifact manifest: part {position} path must be absolute")
    size = _field(item, "size_bytes", int)
    if size < 0:
        raise errors.InputError(f"artifact manifest: part {position} size_bytes is negative")
    return PartFile(index, path, size, _digest(_field(item, "sha256", str), "part sha256"))


class FirstPartWatch(Protocol):
    """Told of the first part's bytes as they are written (worker.artifact.growing.Growing)."""

    def wrote(self, count: int) -> None: ...
    def cut(self) -> None: ...


class PartWriter:
    """A file-like sink that hashes an artifact and cuts it into part files as it is written.

    `error` keeps the first exception raised by write/finish, for callers whose own caller (such
    as pyrage) replaces exceptions with its own. `on_part(part)` runs as each part is complete
    (closed, hashed; with `announce_last` False, the last is not told), so a consumer can send it
    while the next one is written; an exception it raises aborts the artifact. Past 999 parts,
    finish() renames every part to a wider number: a consumer opens a part when told about it (an
    open file survives the rename). With `first_part_size` the first part takes that many bytes
    and every later one `part_size` (part_limit).
    `first_watch` is told of the first part's bytes as they are written, so that it can be
    read while it grows, and whether it was completed full or cut short (the last part).
    """

    def __init__(
        self,
        spool_dir: Path,
        filename: str,
        part_size: int,
        open_part: Callable[[Path], BinaryIO] | None = None,
        on_part: Callable[[PartFile], None] | None = None,
        first_part_size: int | None = None,
        announce_last: bool = True,
        first_watch: FirstPartWatch | None = None,
    ) -> None:
        self.size = 0
        self.error: BaseException | None = None
        self._spool_dir = spool_dir
        self._filename = filename
        self._part_size = part_size
        self._first_part_size = first_part_size or part_size
        self._limit = 0  # bytes the current part takes
        self._announce_last = announce_last
        self._open_part = open_part or _open_exclusive
        self._on_part = on_part
        self._whole = hashlib.sha256()
        self._paths: list[Path] = []
        self._closed: list[tuple[int, str]] = []  # size and sha256 of each finished part
        self._file: BinaryIO | None = None
        self._part_hash = hashlib.sha256()
        self._filled = 0
        self._watch = first_watch  # until the first part is closed

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything written so far."""
        return self._whole.hexdigest()

    def write(self, data: bytes, /) -> int:
        """Append to the artifact, starting a new part whenever the current one is full."""
        try:
            view = memoryview(data)
            self._whole.update(view)
            while view:
                if self._file is None or self._filled == self._limit:
                    self._next_part()
                assert self._file is not None
                piece = view[: self._limit - self._filled]
                _write_all(self._file, piece)
                self._part_hash.update(piece)
                self._filled += len(piece)
                if self._watch is not None:
                    self._watch.wrote(len(piece))
                view = view[len(piece) :]
            self.size += len(data)
        except BaseException as exc:
            self.error = exc
            raise
        return len(data)

    def flush(self) -> None:
        """Nothing to do: part files are unbuffered."""

    def finish(self) -> tuple[PartFile, ...]:
        """Close the last part, widen the numbering past 999 parts, describe the parts."""
        try:
            if self._file is None:
                self._next_part()  # an empty artifact is still one (empty) part
            self._close_part(announce=self._announce_last)
            width = max(3, len(str(len(self._paths))))
            for index, path in enumerate(self._paths):
                wanted = path.with_name(part_name(self._filename, index, width))
                if wanted != path:
                    path.rename(wanted)
                    self._paths[index] = wanted
        except BaseException as exc:
            self.error = exc
            raise
        return tuple(
            PartFile(index, path, size, digest)
            for index, (path, (size, digest)) in enumerate(
                zip(self._paths, self._closed, strict=True)
            )
        )

    def discard(self) -> None:
        """Close and delete every part written so far."""
        if self._watch is not None:
            self._watch.cut()
            self._watch = None
        # Best effort: a failure here must not hide the error that made us discard.
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        for path in self._paths:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _next_part(self) -> None:
        if self._file is not None:
            self._close_part()
        path = self._spool_dir / part_name(self._filename, len(self._paths))
        self._limit = part_limit(len(self._paths), self._part_size, self._first_part_size)
        self._file = self._open_part(path)
        self._paths.append(path)

    def _close_part(self, *, announce: bool = True) -> None:
        assert self._file is not None
        file, self._file = self._file, None
        file.close()
        self._closed.append((self._filled, self._part_hash.hexdigest()))
        if self._watch is not None:
            watch, self._watch = self._watch, None
            if self._filled < self._limit:
                watch.cut()  # the first part is the last, shorter than its readers were told
        self._part_hash = hashlib.sha256()
        self._filled = 0
        if announce and self._on_part is not None:
            index = len(self._closed) - 1
            self._on_part(PartFile(index, self._paths[index], *self._closed[index]))


def _write_all(file: BinaryIO, data: memoryview) -> None:
    while data:
        data = data[file.write(data) :]


def _open_exclusive(path: Path) -> BinaryIO:
    # Exclusive: a part file never overwrites anything; unbuffered: writes come in big pieces.
    return open(path, "xb", buffering=0)
