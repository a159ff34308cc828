"""Downloads bounded against a hostile Bot API: sizes, Content-Length, time, rate, file_path."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from standin.server import BotApiStandin
from tests.unit.conftest import CHAT, TOKEN, SleepRecorder
from worker import errors
from worker.telegram.client import TelegramClient
from worker.telegram.downloads import Policy

SIZE = 5000


def _upload(client: TelegramClient, tmp_path: Path, size: int = SIZE) -> str:
    part = tmp_path / "part"
    part.write_bytes(os.urandom(size))
    return client.send_document(CHAT, part).file_id


def test_a_download_stops_at_the_first_byte_beyond_the_file(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    file_id = _upload(client, tmp_path)
    standin.set_faults(["oversize:5000000"], methods=["download"])
    sink = io.BytesIO()
    with pytest.raises(errors.TelegramDownloadRefused) as caught:
        client.download_file(file_id, sink, size=SIZE)
    assert len(sink.getvalue()) == SIZE  # not one byte beyond
    assert f"{SIZE} bytes" in caught.value.message
    assert len(standin.requests("download")) == 1  # a lie is not asked again


def test_a_content_length_over_the_recorded_size_is_refused_before_reading(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    file_id = _upload(client, tmp_path)
    standin.set_faults(["length:1000"], methods=["download"])
    sink = io.BytesIO()
    with pytest.raises(errors.TelegramDownloadRefused) as caught:
        client.download_file(file_id, sink, size=SIZE)
    assert sink.getvalue() == b""
    assert "Content-Length 6000" in caught.value.message
    assert f"{SIZE} bytes recorded" in caught.value.message


def test_a_get_file_size_other_than_the_record_is_refused(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    file_id = _upload(client, tmp_path)
    standin.set_faults(["size:3000"], methods=["getFile"])
    with pytest.raises(errors.TelegramDownloadRefused) as caught:
        client.download_file(file_id, io.BytesIO(), size=SIZE)
    assert "3000" in caught.value.message
    assert f"{SIZE} bytes recorded" in caught.value.message
    assert standin.requests("download") == []


def test_without_a_record_the_get_file_size_bounds_the_download(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    file_id = _upload(client, tmp_path)
    standin.set_faults(["oversize:100000"], methods=["download"])
    sink = io.BytesIO()
    with pytest.raises(errors.TelegramDownloadRefused):
        client.download_file(file_id, sink)
    assert len(sink.getvalue()) == SIZE


def test_a_dripping_download_ends_at_the_overall_deadline(
    standin: BotApiStandin, tmp_path: Path
) -> None:
    with TelegramClient(
        TOKEN, standin.url, download_policy=Policy(timeout=1.5, min_rate=0), max_attempts=8
    ) as client:
        file_id = _upload(client, tmp_path)
        standin.set_faults(["drip:0.1"] * 8, methods=["download"])
        started = time.monotonic()
        with pytest.raises(errors.TelegramDownloadTimeout) as caught:
            client.download_file(file_id, io.BytesIO(), size=SIZE)
    assert time.monotonic() - started < 5
    assert "TELEGRAM_DOWNLOAD_TIMEOUT" in caught.value.message


def test_a_download_below_the_minimum_rate_is_cut_and_tried_again(
    standin: BotApiStandin, tmp_path: Path, sleeps: SleepRecorder
) -> None:
    with TelegramClient(
        TOKEN,
        standin.url,
        download_policy=Policy(timeout=60, min_rate=1000, window=0.5),
        max_attempts=3,
        sleep=sleeps,
    ) as client:
        file_id = _upload(client, tmp_path)
        standin.set_faults(["drip:0.05"], methods=["download"])
        sink = io.BytesIO()
        started = time.monotonic()
        assert client.download_file(file_id, sink, size=SIZE) == SIZE  # the second try is fast
    assert time.monotonic() - started < 10
    assert len(sleeps.calls) == 1
    assert len(standin.requests("download")) == 2


@pytest.mark.parametrize(
    "path",
    [
        "/etc/hostname",
        "../../../etc/hostname",
        "documents/../../etc/hostname",
        "documents/%2e%2e/%2e%2e/etc/hostname",
        "documents\\..\\..\\etc\\hostname",
        "https://attacker.example/documents/file_1",
        "file:///etc/hostname",
        "",
    ],
)
def test_a_file_path_that_escapes_is_refused(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path, path: str
) -> None:
    file_id = _upload(client, tmp_path)
    standin.set_faults([f"path:{path}" if path else "path:."], methods=["getFile"])
    sink = io.BytesIO()
    with pytest.raises(errors.TelegramDownloadRefused, match="file_path"):
        client.download_file(file_id, sink, size=SIZE)
    assert sink.getvalue() == b""
    assert standin.requests("download") == []


def test_a_local_server_path_is_read_only_inside_its_directory(tmp_path: Path) -> None:
    root = tmp_path / "bot-api" / "files"  # where the stand-in keeps files, as --local would
    secret = tmp_path / "secret"
    secret.write_bytes(b"s" * SIZE)
    root.mkdir(parents=True)
    with (
        BotApiStandin(
            tokens=[TOKEN], chats=[CHAT], local_mode=True, data_dir=tmp_path / "bot-api"
        ) as local,
        TelegramClient(TOKEN, local.url, download_policy=Policy(local_files_dir=root)) as client,
    ):
        file_id = _upload(client, tmp_path)
        sink = io.BytesIO()
        assert client.download_file(file_id, sink, size=SIZE) == SIZE  # inside: from disk
        assert local.requests("download") == []
        (root / "link").symlink_to(secret)
        for outside in (str(secret), f"{root}/../secret", str(root / "link")):
            local.set_faults([f"path:{outside}"], methods=["getFile"])
            sink = io.BytesIO()
            with pytest.raises(errors.TelegramDownloadRefused, match="TELEGRAM_LOCAL_FILES_DIR"):
                client.download_file(file_id, sink, size=SIZE)
            assert sink.getvalue() == b""


def test_an_absolute_path_is_refused_without_the_local_server_mode(tmp_path: Path) -> None:
    with (
        BotApiStandin(tokens=[TOKEN], chats=[CHAT], local_mode=True) as local,
        TelegramClient(TOKEN, local.url) as client,
    ):
        file_id = _upload(client, tmp_path)
        with pytest.raises(errors.TelegramDownloadRefused, match="TELEGRAM_LOCAL_FILES_DIR"):
            client.download_file(file_id, io.BytesIO(), size=SIZE)
