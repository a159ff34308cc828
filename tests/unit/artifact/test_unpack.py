"""Reading artifacts back: age identities, decryption, decompression, and their errors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pyrage
import pytest

from worker import errors
from worker.artifact import keys as identity
from worker.artifact import stream, unpack

RAW = os.urandom(300_000) + b"PGDMP" + "naïve – 大きい\n".encode() * 20_000


def make_artifact(tmp_path: Path, raw: bytes, recipients: list[str], compression: str) -> Path:
    """An artifact written by the backup side, its parts joined into one file."""
    spool = tmp_path / "spool"
    art = stream.write_artifact(
        io.BytesIO(raw),
        spool,
        "a.pgdump",
        part_size=100_000,
        compression=compression,
        recipients=recipients,
    )
    joined = tmp_path / "joined"
    with joined.open("wb") as out:
        for part in art.parts:
            out.write(part.path.read_bytes())
    return joined


class Collect:
    """A sink keeping what it got and the size of the largest write."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.largest = 0

    def write(self, data: bytes) -> None:
        self.data += data
        self.largest = max(self.largest, len(data))


def key_pair() -> tuple[object, str]:
    key = pyrage.x25519.Identity.generate()
    return key, str(key.to_public())


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_either_recipient_decrypts_what_the_backup_side_wrote(
    tmp_path: Path, compression: str
) -> None:
    old, old_public = key_pair()
    new, new_public = key_pair()
    path = make_artifact(tmp_path, RAW, [old_public, new_public], compression)
    for key in (old, new):
        sink = Collect()
        written = unpack.decode(path, sink, compression=compression, identities=[key])
        assert bytes(sink.data) == RAW
        assert written == len(RAW)


def test_an_unencrypted_artifact_needs_no_identity(tmp_path: Path) -> None:
    path = make_artifact(tmp_path, RAW, [], "zstd")
    seen: list[int] = []
    sink = Collect()
    unpack.decode(path, sink, compression="zstd", on_bytes=seen.append)
    assert bytes(sink.data) == RAW
    assert seen[-1] == path.stat().st_size
    assert seen == sorted(seen)


def test_decompression_writes_bounded_chunks_however_well_it_compresses(tmp_path: Path) -> None:
    path = make_artifact(tmp_path, bytes(50_000_000), [], "zstd")
    assert path.stat().st_size < 100_000
    sink = Collect()
    unpack.decode(path, sink, compression="zstd", chunk_size=1 << 20)
    assert len(sink.data) == 50_000_000
    assert sink.largest <= 1 << 20


def test_a_wrong_key_is_a_configuration_error_that_names_the_recipients(tmp_path: Path) -> None:
    _, public = key_pair()
    stranger, _ = key_pair()
    path = make_artifact(tmp_path, RAW, [public], "zstd")
    with pytest.raises(errors.ConfigError) as caught:
        unpack.check_identity(path, [stranger], [public])
    message = caught.value.message
    assert "BACKUP_AGE_IDENTITY_FILE: none of its keys can decrypt this backup" in message
    assert public[:16] in message
    assert str(stranger) not in message
    with pytest.raises(errors.ConfigError):
        unpack.decode(path, Collect(), compression="zstd", identities=[stranger])


def test_the_right_key_passes_the_identity_check(tmp_path: Path) -> None:
    key, public = key_pair()
    unpack.check_identity(make_artifact(tmp_path, RAW, [public], "zstd"), [key], [public])


def test_damaged_ciphertext_is_an_integrity_error(tmp_path: Path) -> None:
    key, public = key_pair()
    path = make_artifact(tmp_path, RAW, [public], "zstd")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(errors.IntegrityError, match="age decryption failed"):
        unpack.decode(path, Collect(), compression="zstd", identities=[key])


def test_damaged_zstd_data_is_an_integrity_error(tmp_path: Path) -> None:
    path = make_artifact(tmp_path, RAW, [], "zstd")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(errors.IntegrityError, match="zstd decompression failed"):
        unpack.decode(path, Collect(), compression="zstd")


def test_the_sinks_own_error_comes_back_unchanged(tmp_path: Path) -> None:
    key, public = key_pair()
    path = make_artifact(tmp_path, RAW, [public], "zstd")

    class Closed:
        def write(self, data: bytes) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        unpack.decode(path, Closed(), compression="zstd", identities=[key])


def test_an_identity_file_from_age_keygen_is_read(tmp_path: Path) -> None:
    key, public = key_pair()
    path = tmp_path / "key.txt"
    path.write_text(f"# created: today\n# public key: {public}\n{key}\n\n")
    assert len(identity.load(path)) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n", "public key"),
        ("AGE-SECRET-KEY-1NOTAVALIDKEYATALL\n", "line 1 of"),
        ("# nothing here\n", "holds no age identity"),
        ("AGE-PLUGIN-YUBIKEY-1XYZ\n", "plugins are not supported"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n",
            "OpenSSH",
        ),
    ],
)
def test_a_bad_identity_file_is_refused_without_showing_it(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "key.txt"
    path.write_text(content)
    with pytest.raises(errors.ConfigError) as caught:
        identity.load(path)
    assert expected in caught.value.message
    assert "BACKUP_AGE_IDENTITY_FILE" in caught.value.message
    assert content.strip().splitlines()[0] not in caught.value.message


def test_a_missing_identity_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="BACKUP_AGE_IDENTITY_FILE is not set"):
        identity.load(None)
    with pytest.raises(errors.ConfigError, match="cannot read"):
        identity.load(tmp_path / "absent.txt")
