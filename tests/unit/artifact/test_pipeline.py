"""The artifact pipeline (zstd, age, SHA-256, parts) and the source parameters; no PostgreSQL."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, cast

import pyrage
import pytest
import zstandard
from psycopg2.extensions import parse_dsn

from worker import errors
from worker.artifact import manifest, stream
from worker.postgres import source

MARKER = b"PLAINTEXT-MARKER-4f1c"
PART = 64 * 1024


def sample(size: int, seed: int = 1) -> bytes:
    """Half text rows, half random bytes: compressible, but not trivially."""
    rng = random.Random(seed)
    out = bytearray(MARKER)
    while len(out) < size:
        out += rng.randbytes(4096) if rng.random() < 0.5 else b"42\tname\t2026-11-26\n" * 200
    return bytes(out[:size])


def joined(result: stream.Artifact) -> bytes:
    return b"".join(part.path.read_bytes() for part in result.parts)


def write(
    data: bytes,
    spool: Path,
    *,
    part_size: int = PART,
    compression: str = "none",
    recipients: list[str] | None = None,
    on_bytes: Callable[[int, int], None] | None = None,
    chunk_size: int = stream.DEFAULT_CHUNK_SIZE,
    zstd_threads: int = 0,
    open_part: Callable[[Path], BinaryIO] | None = None,
) -> stream.Artifact:
    return stream.write_artifact(
        io.BytesIO(data),
        spool,
        "t.pgdump",
        part_size=part_size,
        compression=compression,
        recipients=recipients or [],
        on_bytes=on_bytes,
        chunk_size=chunk_size,
        zstd_threads=zstd_threads,
        open_part=open_part,
    )


class FailingSource:
    """Gives `good` random bytes, then raises: a source that breaks midway."""

    def __init__(self, good: int) -> None:
        self.left = good

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("source broke")
        n = min(self.left, size if size > 0 else 1 << 20)
        self.left -= n
        return os.urandom(n)


class FillingDisk:
    """A part file on a disk that fills up: once `used[0]` reaches `limit`, writes fail."""

    def __init__(self, path: Path, used: list[int], limit: int) -> None:
        self.file = open(path, "xb", buffering=0)  # noqa: SIM115  (closed by close())
        self.used, self.limit = used, limit

    def write(self, data: memoryview) -> int:
        if self.used[0] >= self.limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.used[0] += len(data)
        return self.file.write(data)

    def close(self) -> None:
        self.file.close()


def full_after(limit: int) -> Callable[[Path], BinaryIO]:
    used = [0]
    return lambda path: cast(BinaryIO, FillingDisk(path, used, limit))


@pytest.mark.parametrize(
    ("size", "sizes"),
    [
        (3 * PART, [PART, PART, PART]),
        (3 * PART + 1, [PART, PART, PART, 1]),
        (0, [0]),
        (PART - 1, [PART - 1]),
    ],
)
def test_parts_are_cut_at_part_size(tmp_path: Path, size: int, sizes: list[int]) -> None:
    data = sample(size)
    result = write(data, tmp_path)
    assert [part.size_bytes for part in result.parts] == sizes
    assert [part.path.name for part in result.parts] == [
        f"t.pgdump.{n:03d}" for n in range(1, len(sizes) + 1)
    ]
    assert joined(result) == data
    assert (result.size_bytes, result.raw_bytes) == (size, size)
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.path.name for p in result.parts]


def test_part_size_smaller_than_a_chunk(tmp_path: Path) -> None:
    data = sample(1_000_000)
    result = write(data, tmp_path, part_size=1000, compression="zstd", chunk_size=1 << 20)
    assert len(result.parts) == -(-result.size_bytes // 1000) > 10
    assert all(part.size_bytes == 1000 for part in result.parts[:-1])
    assert zstandard.ZstdDecompressor().decompressobj().decompress(joined(result)) == data


def test_checksums_and_zstd_round_trip(tmp_path: Path) -> None:
    data = sample(3_000_000)
    result = write(data, tmp_path, compression="zstd", part_size=100_000, zstd_threads=2)
    blob = joined(result)
    assert result.sha256 == hashlib.sha256(blob).hexdigest()
    for part in result.parts:
        assert part.sha256 == hashlib.sha256(part.path.read_bytes()).hexdigest()
    assert zstandard.ZstdDecompressor().decompressobj().decompress(blob) == data
    assert result.size_bytes == len(blob) < len(data)
    assert (result.compression, result.encrypted, result.raw_bytes) == ("zstd", False, len(data))


def test_empty_source_gives_one_valid_zstd_part(tmp_path: Path) -> None:
    result = write(b"", tmp_path, compression="zstd")
    assert len(result.parts) == 1
    assert 0 < result.parts[0].size_bytes < 64
    assert zstandard.ZstdDecompressor().decompressobj().decompress(joined(result)) == b""


def test_numbering_widens_past_999_parts(tmp_path: Path) -> None:
    data = sample(1001)
    result = write(data, tmp_path, part_size=1)
    names = [part.path.name for part in result.parts]
    assert (names[0], names[-1]) == ("t.pgdump.0001", "t.pgdump.1001")
    on_disk = sorted(tmp_path.iterdir())  # the order `cat t.pgdump.*` uses
    assert [p.name for p in on_disk] == names
    assert b"".join(p.read_bytes() for p in on_disk) == data


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_encrypted_for_two_recipients(tmp_path: Path, compression: str) -> None:
    alice, bob = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    keys = [str(alice.to_public()), str(bob.to_public())]
    data = sample(500_000)
    result = write(data, tmp_path, compression=compression, recipients=keys, part_size=50_000)
    blob = joined(result)
    assert blob.startswith(b"age-encryption.org/v1\n")  # the standard binary age format
    for part in result.parts:
        assert MARKER not in part.path.read_bytes()
    for identity in (alice, bob):
        plain = pyrage.decrypt(blob, [identity])
        if compression == "zstd":
            plain = zstandard.ZstdDecompressor().decompressobj().decompress(plain)
        assert plain == data
    assert (result.encrypted, result.recipients) == (True, tuple(keys))
    assert result.sha256 == hashlib.sha256(blob).hexdigest()


def test_recipients_as_one_string(tmp_path: Path) -> None:
    alice, bob = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    keys = (str(alice.to_public()), str(bob.to_public()))
    result = stream.write_artifact(
        io.BytesIO(b"data"), tmp_path, "s", part_size=PART, recipients=f" {keys[0]},{keys[1]} "
    )
    assert result.recipients == keys
    assert (
        zstandard.ZstdDecompressor()
        .decompressobj()
        .decompress(pyrage.decrypt(joined(result), [bob]))
        == b"data"
    )


@pytest.mark.parametrize("encrypt", [False, True])
def test_failing_source_leaves_no_parts(tmp_path: Path, encrypt: bool) -> None:
    keys = [str(pyrage.x25519.Identity.generate().to_public())] if encrypt else []
    source_ = cast(BinaryIO, FailingSource(good=300_000))
    with pytest.raises(ConnectionResetError, match="source broke"):
        stream.write_artifact(
            source_, tmp_path, "t", part_size=10_000, recipients=keys, chunk_size=50_000
        )
    assert list(tmp_path.iterdir()) == []


def test_progress_callback_can_abort(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []

    def on_bytes(raw: int, written: int) -> None:
        calls.append((raw, written))
        if raw > 200_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write(sample(1_000_000), tmp_path, on_bytes=on_bytes, chunk_size=100_000, part_size=1000)
    assert calls[0] == (100_000, 0)
    assert list(tmp_path.iterdir()) == []
    done = write(sample(250_000), tmp_path, on_bytes=lambda r, w: calls.append((r, w)))
    assert calls[-1] == (250_000, done.size_bytes)


@pytest.mark.parametrize("encrypt", [False, True])
def test_full_spool_is_a_spool_error(tmp_path: Path, encrypt: bool) -> None:
    keys = [str(pyrage.x25519.Identity.generate().to_public())] if encrypt else []
    with pytest.raises(errors.SpoolError, match=rf"spool directory {tmp_path} is full") as info:
        write(
            sample(400_000),
            tmp_path,
            part_size=50_000,
            recipients=keys,
            open_part=full_after(120_000),
        )
    assert isinstance(info.value.__cause__, OSError)
    assert list(tmp_path.iterdir()) == []


def test_spool_full_in_ages_last_flush_is_caught(tmp_path: Path) -> None:
    # age writes its short last chunk through a buffer that Rust flushes on drop, ignoring
    # errors: the sink must remember the failure itself.
    key = str(pyrage.x25519.Identity.generate().to_public())
    with pytest.raises(errors.SpoolError, match="is full"):
        write(sample(65536 + 100), tmp_path, recipients=[key], open_part=full_after(65552))
    assert list(tmp_path.iterdir()) == []


def test_stale_parts_of_the_same_name_are_replaced(tmp_path: Path) -> None:
    for name in ("t.pgdump.001", "t.pgdump.002", "t.pgdump.003", "other.pgdump.001", "t.pgdump.x"):
        (tmp_path / name).write_bytes(b"old")
    result = write(b"new", tmp_path)
    assert [p.path.name for p in result.parts] == ["t.pgdump.001"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "other.pgdump.001",
        "t.pgdump.001",
        "t.pgdump.x",
    ]


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("age1notavalidkey", True),
        ("AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ", False),
        ("hunter2-looks-like-a-password", False),
    ],
)
def test_bad_recipient_is_a_config_error(tmp_path: Path, key: str, shown: bool) -> None:
    good = str(pyrage.x25519.Identity.generate().to_public())
    with pytest.raises(errors.ConfigError, match=r"^BACKUP_AGE_RECIPIENTS: recipient #2") as info:
        write(b"x", tmp_path / "spool", recipients=[good, key])
    assert (key in info.value.message) is shown
    assert not (tmp_path / "spool").exists()


def test_manifest_round_trip(tmp_path: Path) -> None:
    result = write(sample(200_000), tmp_path, compression="zstd", part_size=30_000)
    text = json.dumps(result.to_json())
    again = stream.Artifact.from_json(json.loads(text))
    assert again == result
    assert all(part.path.is_absolute() for part in again.parts)
    broken = json.loads(text)
    broken["parts"][1]["size_bytes"] = "12"
    with pytest.raises(errors.InputError, match="size_bytes"):
        stream.Artifact.from_json(broken)
    manifest.remove_parts(again)
    assert list(tmp_path.iterdir()) == []


def test_artifact_filename() -> None:
    job = uuid.UUID("1a2b3c4d-0000-4000-8000-000000000000")
    when = datetime(2026, 11, 26, 5, 1, 2, tzinfo=timezone(timedelta(hours=1)))
    name = stream.artifact_filename(
        "proj-1", "sales", job, when=when, compression="zstd", encrypted=True
    )
    assert name == "proj-1_sales_20261126T040102Z_1a2b3c4d.pgdump.zst.age"
    plain = stream.artifact_filename(
        "-p/../x y;$(id)",
        "db$1",
        job,
        when=when.astimezone(UTC),
        compression="none",
        encrypted=False,
    )
    assert plain == "p-x-y-id_db-1_20261126T040102Z_1a2b3c4d.pgdump"
    with pytest.raises(errors.InputError, match="timezone-aware"):
        stream.artifact_filename(
            "p", "d", job, when=datetime(2026, 1, 1), compression="zstd", encrypted=False
        )


# Names no PostgreSQL server can hold.
IMPOSSIBLE_NAMES: list[object] = ["", "x" * 64, "é" * 32, "a\0b", "\ud800", None, 5, b"bytes"]


@pytest.mark.parametrize("name", IMPOSSIBLE_NAMES)
def test_names_a_server_cannot_hold_are_refused(name: object) -> None:
    with pytest.raises(errors.InputError, match="database name") as info:
        source.validate_database_name(name)
    assert len(info.value.message) < 300


# Legal names, hostile-looking ones included: each is a value, never parsed again.
LEGAL_NAMES = [
    "postgres",
    "Proj-1$db",
    "app.prod",
    "My DB",
    'say "hi"',
    "it's",
    "ünïcode",
    "../x",
    "a/b",
    "$abc",
    "-dpostgres",
    "--help",
    "host=evil",
    "`id`",
    "name\n",
    "a" * 63,
    "é" * 31 + "a",
]


@pytest.mark.parametrize("name", LEGAL_NAMES)
def test_every_legal_database_name_passes(name: str) -> None:
    assert source.validate_database_name(name) == name


@pytest.mark.parametrize("name", LEGAL_NAMES)
def test_a_legal_name_stays_one_value_of_the_conninfo(name: str) -> None:
    params = source.SourceParams.from_url("postgresql://backup@db.internal:6543/postgres")
    parsed = parse_dsn(params.conninfo(name))
    assert parsed["dbname"] == name
    assert parsed["host"] == "db.internal"


@pytest.mark.parametrize("name", LEGAL_NAMES)
def test_a_legal_name_makes_a_plain_file_name(name: str) -> None:
    made = stream.artifact_filename(
        "p",
        name,
        uuid.uuid4(),
        when=datetime(2026, 1, 1, tzinfo=UTC),
        compression="zstd",
        encrypted=False,
    )
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", made), made
    assert not made.startswith(".")
    assert ".." not in made


URL = (
    "postgresql://backup:s3cr%3Ft-pw@db.internal:6543/postgres?sslmode=require&application_name=bw"
)


def test_source_params_hide_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    params = source.SourceParams.from_url(URL)
    assert params.password == "s3cr?t-pw"
    for text in (repr(params), str(params), params.conninfo("sales"), params.conninfo()):
        assert "s3cr" not in text
    conninfo = params.conninfo("sales")
    for expected in ("dbname=sales", "host=db.internal", "port=6543", "sslmode=require"):
        assert expected in conninfo
    env = params.env()
    assert (env["PGPASSWORD"], env["PGCONNECT_TIMEOUT"]) == ("s3cr?t-pw", "10")
    assert params.password_kw() == {"password": "s3cr?t-pw"}
    assert (params.database, params.location) == ("postgres", "db.internal:6543")
    assert "PGPASSWORD" not in source.SourceParams.from_url("postgresql:///x").env()
    # A name with conninfo in it is one quoted value (a legal name), never more parameters.
    assert parse_dsn(params.conninfo("x host=evil"))["host"] == "db.internal"
    with pytest.raises(errors.InputError):
        params.conninfo("x" * 64)


@pytest.mark.parametrize(
    "url", ["postgresql://u:hunter2@h:port/db", "postgresql://u:hunter2@h/db?hunter2", "hunter2 x"]
)
def test_malformed_url_is_a_config_error_without_echo(url: str) -> None:
    with pytest.raises(errors.ConfigError, match=r"^SOURCE_DATABASE_URL: ") as info:
        source.SourceParams.from_url(url)
    assert "hunter2" not in info.value.message


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            'pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
            'database "nope" does not exist\n',
            'database "nope" does not exist on server default (',
        ),
        (
            'pg_dump: error: connection to server at "db.internal" (10.0.0.5), port 6543 failed: '
            "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
            "connections?\n",
            "refused the connection",
        ),
        (
            "pg_dump: error: query failed: ERROR:  permission denied for table secrets\n"
            "pg_dump: detail: Query was: LOCK TABLE public.secrets IN ACCESS SHARE MODE\n",
            "permission denied for table secrets",
        ),
        (
            "pg_dump: error: aborting because of server version mismatch\n"
            "pg_dump: detail: server version: 17.2; pg_dump version: 15.20\n",
            "pg_dump 15.20 is older than server default (",
        ),
        (
            "pg_dump: error: could not open s3cr?t-pw via postgresql://u:0ther@h password=x y\n",
            "could not open <redacted> via postgresql://u:<redacted>@h password=<redacted> y",
        ),
    ],
)
def test_libpq_errors_read_well(stderr: str, expected: str) -> None:
    message = source.describe_libpq_error(source.SourceParams.from_url(URL), stderr)
    assert expected in message
    assert "s3cr" not in message


MEMORY_SCRIPT = """
import random, resource, sys, tempfile
from pathlib import Path
from worker.artifact import stream

class Generated:
    def __init__(self, total):
        self.left, self.rng = total, random.Random(7)
    def read(self, size=-1):
        n = min(self.left, size if size > 0 else 1 << 20)
        self.left -= n
        if self.rng.random() < 0.5:
            return self.rng.randbytes(n)
        return (b"1234\\tcustomer name\\t2026-11-26\\n" * (n // 30 + 1))[:n]

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with tempfile.TemporaryDirectory() as spool:
    result = stream.write_artifact(
        Generated(200 << 20), Path(spool), "m", part_size=20_000_000,
        zstd_threads=int(sys.argv[1]), recipients=sys.argv[2:],
    )
growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(result.raw_bytes, growth)
"""


@pytest.mark.parametrize(("threads", "limit"), [(0, 32 << 20), (2, 96 << 20)])
def test_memory_stays_flat_while_streaming_200_mb(threads: int, limit: int) -> None:
    key = str(pyrage.x25519.Identity.generate().to_public())
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(threads), key],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=Path(__file__).parents[3],
    )
    raw, growth = map(int, done.stdout.split())
    assert raw == 200 << 20
    assert growth < limit, f"peak RSS grew by {growth >> 20} MiB for 200 MiB of data"


def test_level_2_takes_level_3s_hash_table_and_window_and_other_levels_are_zstds() -> None:
    tuned = stream.zstd_parameters(2, 0)
    level_3 = zstandard.ZstdCompressionParameters.from_level(3)
    level_2 = zstandard.ZstdCompressionParameters.from_level(2)
    assert (tuned.hash_log, tuned.window_log) == (level_3.hash_log, level_3.window_log)
    assert (tuned.strategy, tuned.min_match) == (level_2.strategy, level_2.min_match)
    assert stream.zstd_parameters(3, 1).hash_log == level_3.hash_log
    assert stream.zstd_parameters(3, 1).job_size == stream.MT_JOB_SIZE
