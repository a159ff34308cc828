"""Downloading a backup's parts from the stand-in and checking each one."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from standin import link
from standin.server import BotApiStandin
from tests.unit.conftest import CHAT, TOKEN
from worker import errors
from worker.restore import fetch, ordered
from worker.telegram.client import TelegramClient

PART = 50_000


def upload(client: TelegramClient, tmp_path: Path, data: bytes) -> fetch.RemoteArtifact:
    """Cut `data` into parts, send them, and describe them as the backups table would."""
    parts = []
    for index, start in enumerate(range(0, len(data), PART)):
        chunk = data[start : start + PART]
        path = tmp_path / f"upload.{index + 1:03d}"
        path.write_bytes(chunk)
        sent = client.send_document(CHAT, path)
        parts.append(
            fetch.RemotePart(index, sent.file_id, len(chunk), hashlib.sha256(chunk).hexdigest())
        )
    return fetch.RemoteArtifact(
        "backup test", len(data), hashlib.sha256(data).hexdigest(), tuple(parts)
    )


def corrupt(standin: BotApiStandin, part: fetch.RemotePart) -> None:
    stored = standin.data_dir / "files" / part.sha256
    data = bytearray(stored.read_bytes())
    data[7] ^= 0x80
    stored.write_bytes(bytes(data))


@pytest.fixture
def data() -> bytes:
    return os.urandom(3 * PART + 1234)


def test_parts_are_joined_in_order_and_checked(
    client: TelegramClient, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    seen: list[int] = []
    fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact", on_bytes=seen.append)
    assert (tmp_path / "artifact").read_bytes() == data
    assert seen[-1] == len(data)
    assert seen == sorted(seen)


def test_a_corrupted_part_is_named_and_stops_the_download(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    corrupt(standin, remote.parts[1])
    with pytest.raises(errors.IntegrityError, match="part 2 of 4 is corrupted") as caught:
        fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact", threads=1)
    assert "part 3" not in caught.value.message
    assert len(standin.requests("download")) == 2  # one at a time: no new download after it


def test_keep_going_reports_every_bad_part(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    corrupt(standin, remote.parts[0])
    gone = fetch.RemotePart(3, "BQACAgIAAxkDAAIunknown", remote.parts[3].size_bytes, "0" * 64)
    remote = fetch.RemoteArtifact(
        remote.label, remote.size_bytes, remote.sha256, (*remote.parts[:3], gone)
    )
    with pytest.raises(errors.IntegrityError) as caught:
        fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact", keep_going=True)
    message = caught.value.message
    assert "part 1 of 4 is corrupted" in message
    assert "part 4 of 4 cannot be downloaded" in message
    assert "the file id is not valid for this bot" in message
    assert "part 2" not in message
    assert "part 3" not in message


def test_a_size_that_differs_from_the_record_is_named(
    client: TelegramClient, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    first = remote.parts[0]
    wrong = fetch.RemotePart(0, first.file_id, first.size_bytes + 1, first.sha256)
    remote = fetch.RemoteArtifact(
        remote.label, remote.size_bytes + 1, remote.sha256, (wrong, *remote.parts[1:])
    )
    # Telegram's getFile already says otherwise: refused before a byte is read.
    expected = (
        "part 1 of 4 cannot be downloaded \\(download: "
        f"getFile says {PART} bytes, {PART + 1} bytes recorded"
    )
    with pytest.raises(errors.IntegrityError, match=expected):
        fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact")


def test_an_inconsistent_record_fails_on_the_whole_checksum(
    client: TelegramClient, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    remote = fetch.RemoteArtifact(remote.label, remote.size_bytes, "f" * 64, remote.parts)
    with pytest.raises(errors.IntegrityError, match="joined artifact does not match"):
        fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact")


def test_a_second_run_downloads_only_what_is_missing_or_damaged(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    target = tmp_path / "artifact"
    fetch.fetch(lambda _bot: client, remote, target)
    with target.open("r+b") as file:
        file.seek(remote.offset(2) + 10)
        file.write(b"\0\0\0")
    before = len(standin.requests("download"))
    fetch.fetch(lambda _bot: client, remote, target)
    assert len(standin.requests("download")) - before == 1  # part 3; part 4 is intact
    assert target.read_bytes() == data


def test_a_broken_download_is_retried_and_still_checks_out(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    standin.set_faults(script=["cut", "502"], methods=["download"])
    fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact")
    assert (tmp_path / "artifact").read_bytes() == data
    assert len(standin.requests("download")) == len(remote.parts) + 2


def in_flight(downloads: list[dict[str, object]], seconds: float) -> int:
    """The most downloads of the request log whose `seconds` of delay overlapped."""
    starts = sorted(float(str(entry["time"])) for entry in downloads)
    return max(sum(1 for other in starts if other <= t < other + seconds) for t in starts)


@pytest.mark.parametrize("threads", [2, 4])
def test_parts_download_several_at_once_and_no_more_than_asked(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, threads: int
) -> None:
    data = os.urandom(8 * PART + 77)
    remote = upload(client, tmp_path, data)
    assert len(remote.parts) == 9
    standin.set_faults(script=["delay:0.5"] * 9, methods=["download"])
    seen: list[int] = []
    started = time.monotonic()
    fetch.fetch(
        lambda _bot: client, remote, tmp_path / "artifact", on_bytes=seen.append, threads=threads
    )
    elapsed = time.monotonic() - started
    assert (tmp_path / "artifact").read_bytes() == data
    assert seen[-1] == len(data)
    assert seen == sorted(seen)
    downloads = standin.requests("download")
    assert len(downloads) == 9
    assert in_flight(downloads, 0.5) == threads
    assert elapsed < 9 * 0.5 / threads + 1.5  # one at a time would take 4.5 s


def test_a_part_checked_after_a_parallel_download_still_names_the_bad_one(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    corrupt(standin, remote.parts[2])
    with pytest.raises(errors.IntegrityError, match="part 3 of 4 is corrupted") as caught:
        fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact", threads=4)
    assert "part 1" not in caught.value.message
    assert "part 2 of 4" not in caught.value.message


class Reader:
    """A consumer keeping what it read and how many downloads had ended at its first read."""

    def __init__(self, standin: BotApiStandin, fail: BaseException | None = None) -> None:
        self.standin = standin
        self.fail = fail
        self.read = bytearray()
        self.downloads_at_first_read: int | None = None

    def __call__(self, stream: ordered.InOrder) -> None:
        while chunk := stream.read(10_000):
            if self.downloads_at_first_read is None:
                self.downloads_at_first_read = len(self.standin.requests("download"))
            self.read += chunk
            if self.fail is not None:
                raise self.fail


def test_a_consumer_reads_the_artifact_in_order_while_later_parts_download(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    data = os.urandom(8 * PART + 77)
    remote = upload(client, tmp_path, data)
    standin.set_faults(script=["delay:0.3"] * 9, methods=["download"])
    reader = Reader(standin)
    fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact", threads=2, consume=reader)
    assert bytes(reader.read) == data
    assert reader.downloads_at_first_read is not None
    assert reader.downloads_at_first_read < len(remote.parts)  # it did not wait for them all


def test_a_consumer_never_reads_a_part_that_failed_its_check(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    corrupt(standin, remote.parts[2])
    reader = Reader(standin)
    with pytest.raises(errors.IntegrityError, match="part 3 of 4 is corrupted"):
        fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact", consume=reader)
    assert data.startswith(bytes(reader.read))
    assert len(reader.read) <= remote.offset(2)


def test_a_damaged_part_is_named_before_what_the_consumer_made_of_it(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    corrupt(standin, remote.parts[0])
    reader = Reader(standin, fail=errors.IntegrityError("zstd decompression failed"))
    with pytest.raises(errors.IntegrityError, match="part 1 of 4 is corrupted"):
        fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact", consume=reader)


def test_the_consumers_error_is_raised_once_every_check_passed(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    reader = Reader(standin, fail=errors.ConfigError("no key opens it"))
    with pytest.raises(errors.ConfigError, match="no key opens it"):
        fetch.fetch(lambda _bot: client, remote, tmp_path / "artifact", consume=reader)
    assert (tmp_path / "artifact").read_bytes() == data  # downloaded and checked all the same


def read_a_little(stream: ordered.InOrder) -> None:
    stream.read(100)


def test_the_whole_checksum_is_checked_though_the_consumer_stopped_early(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, data: bytes
) -> None:
    remote = upload(client, tmp_path, data)
    remote = fetch.RemoteArtifact(remote.label, remote.size_bytes, "f" * 64, remote.parts)
    with pytest.raises(errors.IntegrityError, match="joined artifact does not match"):
        fetch.fetch(
            lambda _bot: client,
            remote,
            tmp_path / "artifact",
            consume=read_a_little,
        )


class Snapshot:
    """A consumer noting how many bytes of all parts had arrived when the first part was read."""

    def __init__(self) -> None:
        self.arrived = 0
        self.at_first_read: int | None = None

    def bytes(self, done: int) -> None:
        self.arrived = done

    def __call__(self, stream: ordered.InOrder) -> None:
        while stream.read(64 * 1024):
            if self.at_first_read is None:
                self.at_first_read = self.arrived


def test_parts_sharing_one_link_end_in_order_so_the_first_is_read_while_the_rest_download(
    tmp_path: Path,
) -> None:
    size = 2_000_000
    data = os.urandom(4 * size)
    # One link shared by every connection, as an access link is: four downloads over it each
    # get a quarter, and without staggering all four end together.
    shared = link.Link(rate=20e6, rtt=0.0)
    with (
        BotApiStandin([TOKEN], [CHAT], tmp_path / "standin", link=shared) as standin,
        TelegramClient(TOKEN, standin.url, timeout=10.0) as telegram,
    ):
        parts = []
        for index in range(4):
            path = tmp_path / f"part.{index}"
            path.write_bytes(data[index * size : (index + 1) * size])
            sent = telegram.send_document(CHAT, path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            parts.append(fetch.RemotePart(index, sent.file_id, size, digest))
        remote = fetch.RemoteArtifact(
            "backup test", len(data), hashlib.sha256(data).hexdigest(), tuple(parts)
        )
        reader = Snapshot()
        fetch.fetch(
            lambda _bot: telegram,
            remote,
            tmp_path / "artifact",
            threads=4,
            consume=reader,
            on_bytes=reader.bytes,
        )
    assert (tmp_path / "artifact").read_bytes() == data
    assert reader.at_first_read is not None
    # The others are held while it runs: the first part and a read of each when it ends,
    # against nearly all four parts when they share the link evenly.
    assert reader.at_first_read <= 2 * size
