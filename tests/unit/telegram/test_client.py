"""The Telegram client against the Bot API stand-in: every method, and every rejection."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from standin.server import BotApiStandin
from tests.support.standin import StandinProcess
from tests.unit.conftest import (
    CHAT,
    FORUM_CHAT,
    TOKEN,
    TOPIC,
    SleepRecorder,
)
from worker import errors
from worker.telegram.client import TelegramClient, TelegramFile
from worker.telegram.downloads import Policy


def _file(tmp_path: Path, name: str, size: int, seed: bytes = b"x") -> Path:
    path = tmp_path / name
    block = hashlib.sha256(seed).digest() * 4096  # 128 KiB of varied bytes
    with path.open("wb") as out:
        for offset in range(0, size, len(block)):
            out.write(block[: min(len(block), size - offset)])
    return path


def _sparse(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / name
    with path.open("wb") as out:
        out.truncate(size)
    return path


def test_get_me_returns_the_bot(client: TelegramClient) -> None:
    bot = client.get_me()
    assert bot.id == 123456
    assert bot.username == "standin_123456_bot"
    assert bot.first_name


def test_upload_then_download_gives_the_same_bytes(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    part = _file(tmp_path, "db.dump.zst.000", 3 * 1024 * 1024 + 17)
    progress: list[int] = []
    sent = client.send_document(CHAT, part, caption="proj-1 part 1/1", on_progress=progress.append)
    assert (sent.chat_id, sent.message_id, sent.migrated_to_chat_id) == (CHAT, 1, None)
    assert sent.file_size == part.stat().st_size
    assert sent.file_name == "db.dump.zst.000"
    assert sent.file_id
    assert sent.file_unique_id
    assert sent.date > 0
    assert progress == sorted(progress)
    assert progress[-1] == part.stat().st_size

    sink = io.BytesIO()
    got: list[int] = []
    assert client.download_file(sent.file_id, sink, on_progress=got.append) == sent.file_size
    assert sink.getvalue() == part.read_bytes()
    assert got[-1] == sent.file_size
    [message] = standin.messages()
    assert message["caption"] == "proj-1 part 1/1"
    assert message["sha256"] == hashlib.sha256(part.read_bytes()).hexdigest()


def test_same_content_keeps_its_unique_id_but_gets_a_new_file_id(
    client: TelegramClient, tmp_path: Path
) -> None:
    first = client.send_document(CHAT, _file(tmp_path, "a", 1000), filename="a.bin")
    again = client.send_document(CHAT, _file(tmp_path, "b", 1000), filename="b.bin")
    other = client.send_document(CHAT, _file(tmp_path, "c", 1000, seed=b"y"))
    assert first.file_unique_id == again.file_unique_id != other.file_unique_id
    assert len({first.file_id, again.file_id, other.file_id}) == 3
    assert [first.message_id, again.message_id, other.message_id] == [1, 2, 3]
    assert client.get_file(again.file_id).file_unique_id == first.file_unique_id


def test_send_message_into_a_topic_and_delete_it(
    client: TelegramClient, standin: BotApiStandin
) -> None:
    message_id = client.send_message(FORUM_CHAT, "backup of proj-1 done", thread_id=TOPIC)
    [stored] = standin.messages()
    assert (stored["thread_id"], stored["text"]) == (TOPIC, "backup of proj-1 done")
    assert client.delete_message(FORUM_CHAT, message_id) is True
    assert standin.messages()[0]["deleted"] is True
    with pytest.raises(errors.TelegramBadRequest, match="already deleted or never existed"):
        client.delete_message(FORUM_CHAT, message_id)


def test_document_into_a_topic_is_recorded_there(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    client.send_document(FORUM_CHAT, _file(tmp_path, "p", 10), thread_id=TOPIC)
    assert standin.messages()[0]["thread_id"] == TOPIC


def test_local_server_paths_are_copied_from_disk(tmp_path: Path) -> None:
    with (
        BotApiStandin(tokens=[TOKEN], chats=[CHAT], local_mode=True) as local,
        TelegramClient(
            TOKEN, local.url, download_policy=Policy(local_files_dir=local.data_dir / "files")
        ) as client,
    ):
        sent = client.send_document(CHAT, _file(tmp_path, "p", 5000))
        file = client.get_file(sent.file_id)
        assert file.file_path is not None
        assert os.path.isabs(file.file_path)
        sink = io.BytesIO()
        assert client.download(file, sink) == 5000
        assert sink.getvalue() == (tmp_path / "p").read_bytes()
        assert local.requests("download") == []


def test_local_server_paths_fall_back_to_http_when_not_on_this_host(tmp_path: Path) -> None:
    root = "/var/lib/telegram-bot-api/not-on-this-host"
    with (
        BotApiStandin(tokens=[TOKEN], chats=[CHAT], local_mode=True, local_root=root) as local,
        TelegramClient(
            TOKEN, local.url, download_policy=Policy(local_files_dir=Path(root))
        ) as client,
    ):
        sent = client.send_document(CHAT, _file(tmp_path, "p", 5000))
        file = client.get_file(sent.file_id)
        assert file.file_path is not None
        assert file.file_path.startswith(root)
        sink = io.BytesIO()
        assert client.download(file, sink) == 5000
        assert sink.getvalue() == (tmp_path / "p").read_bytes()
        assert [entry["status"] for entry in local.requests("download")] == [200]


def test_a_broken_download_starts_over_where_the_sink_was(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    part = _file(tmp_path, "p", 2 * 1024 * 1024)
    sent = client.send_document(CHAT, part)
    standin.set_faults(["cut", "502"], methods=["download"])
    sink = io.BytesIO()
    sink.write(b"HEAD")
    assert client.download_file(sent.file_id, sink) == part.stat().st_size
    assert sink.getvalue() == b"HEAD" + part.read_bytes()
    assert [entry["status"] for entry in standin.requests("download")] == [200, 502, 200]


def test_wrong_token_is_rejected_at_once(standin: BotApiStandin, sleeps: SleepRecorder) -> None:
    with (
        TelegramClient(
            "654321:WRONG-token-abcdefghijklmnopqrstuvwx", standin.url, sleep=sleeps
        ) as client,
        pytest.raises(errors.TelegramUnauthorized) as caught,
    ):
        client.get_me()
    assert str(caught.value) == (
        "getMe: Telegram rejected the bot token (401 Unauthorized): check TELEGRAM_BOT_TOKEN"
    )
    assert len(standin.requests()) == 1
    assert sleeps.calls == []


def test_wrong_api_url_is_not_found(standin: BotApiStandin) -> None:
    with (
        TelegramClient(TOKEN, standin.url + "/v1") as client,
        pytest.raises(errors.TelegramNotFound, match="check TELEGRAM_API_URL"),
    ):
        client.get_me()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c, p: c.send_document(-100999, p),
            "sendDocument: chat -100999 not found (400): check TELEGRAM_CHAT_ID and that the bot "
            "is a member",
        ),
        (
            lambda c, p: c.send_document(CHAT, p, caption="x" * 1025),
            "sendDocument: caption is too long (400): Telegram allows 1024 characters",
        ),
        (
            lambda c, p: c.send_document(CHAT, p, thread_id=99),
            "sendDocument: forum topic not found in chat -1001234567890 (400): check "
            "TELEGRAM_THREAD_ID and that the chat is a forum",
        ),
        (
            lambda c, p: c.send_message(CHAT, "y" * 4097),
            "sendMessage: message text is too long (400): Telegram allows 4096 characters",
        ),
        (
            lambda c, p: c.send_message(CHAT, "  "),
            "sendMessage: message text is empty (400)",
        ),
        (
            lambda c, p: c.get_file("BQACAgIAAxkDAAInvalid"),
            "getFile: the file id is not valid for this bot (400)",
        ),
    ],
)
def test_bad_requests_are_explained_and_not_retried(
    client: TelegramClient,
    standin: BotApiStandin,
    tmp_path: Path,
    call: Callable[[TelegramClient, Path], object],
    message: str,
) -> None:
    part = _file(tmp_path, "p", 100)
    with pytest.raises(errors.TelegramBadRequest) as caught:
        call(client, part)
    assert str(caught.value) == message
    assert caught.value.status == 400
    assert len(standin.requests()) == 1


def test_a_file_over_50_mb_is_too_large(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    with pytest.raises(errors.TelegramEntityTooLarge, match="lower BACKUP_PART_SIZE"):
        client.send_document(CHAT, _sparse(tmp_path, "huge", 50_000_001))
    assert [entry["status"] for entry in standin.requests()] == [413]


def test_a_file_over_20_mb_cannot_be_fetched(client: TelegramClient, tmp_path: Path) -> None:
    sent = client.send_document(CHAT, _sparse(tmp_path, "big", 20_000_001))
    with pytest.raises(errors.TelegramBadRequest, match=r"file is too big .*20 MB"):
        client.get_file(sent.file_id)


def test_messages_older_than_48_hours_cannot_be_deleted(
    client: TelegramClient, standin: BotApiStandin
) -> None:
    message_id = client.send_message(CHAT, "old")
    standin.age_message(CHAT, message_id, 48 * 3600 + 1)
    with pytest.raises(errors.TelegramBadRequest, match="only within 48 hours"):
        client.delete_message(CHAT, message_id)


def test_a_missing_spool_file_is_a_spool_error(client: TelegramClient, tmp_path: Path) -> None:
    with pytest.raises(errors.SpoolError, match="cannot read"):
        client.send_document(CHAT, tmp_path / "gone")


def test_upload_streams_from_disk(standin_process: StandinProcess, tmp_path: Path) -> None:
    """The stand-in runs in a child process so tracemalloc sees only the client's memory."""
    size = 30 * 1000 * 1000
    part = _file(tmp_path, "part", size)
    with TelegramClient(TOKEN, standin_process.url) as client:
        client.get_me()
        tracemalloc.start()
        try:
            sent = client.send_document(CHAT, part)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert sent.file_size == size
    assert peak < 6 * 1024 * 1024, f"peak {peak} bytes for a {size}-byte upload"
    stored = requests.get(f"{standin_process.url}/_standin/messages", timeout=5).json()["result"]
    assert stored[0]["sha256"] == hashlib.sha256(part.read_bytes()).hexdigest()


def test_a_vanished_file_path_is_not_found(client: TelegramClient, standin: BotApiStandin) -> None:
    gone = TelegramFile("BQAC", "AgAD", 10, "documents/file_99.zst")
    with pytest.raises(errors.TelegramNotFound, match="call getFile again"):
        client.download(gone, io.BytesIO())
    assert len(standin.requests("download")) == 1


def test_downloads_need_a_seekable_sink(client: TelegramClient, tmp_path: Path) -> None:
    sent = client.send_document(CHAT, _file(tmp_path, "p", 10))
    read_end, write_end = os.pipe()
    with (
        os.fdopen(read_end, "rb"),
        os.fdopen(write_end, "wb") as pipe,
        pytest.raises(errors.InputError, match="seekable"),
    ):
        client.download_file(sent.file_id, pipe)
