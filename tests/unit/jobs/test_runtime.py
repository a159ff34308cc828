"""The runtime under the threads pool: one per process, and a Bot API client per thread."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from worker import settings
from worker.jobs import runtime
from worker.telegram import client as telegram

THREADS = 8


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> settings.Settings:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    return settings.Settings(telegram_bot_token="123456:unit-test-token", telegram_chat_id="-100")


def in_thread(rt: runtime.Runtime) -> telegram.TelegramClient:
    """The client rt.telegram() gives a thread of its own (which then ends)."""
    got: list[telegram.TelegramClient] = []
    thread = threading.Thread(target=lambda: got.append(rt.telegram()))
    thread.start()
    thread.join()
    return got[0]


def test_each_thread_gets_a_client_of_its_own_and_keeps_it(config: settings.Settings) -> None:
    rt = runtime.build(config)
    try:
        mine = rt.telegram()
        assert rt.telegram() is mine
        assert in_thread(rt) is not mine
    finally:
        rt.close()


def test_threads_asking_at_once_share_one_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_current", None)
    real_build = runtime.build

    def slow_build(config: settings.Settings) -> runtime.Runtime:
        time.sleep(0.05)  # widens the window in which a second thread would build another
        return real_build(config)

    monkeypatch.setattr(runtime, "build", slow_build)
    start = threading.Barrier(THREADS)
    got: list[runtime.Runtime] = []

    def ask() -> None:
        start.wait()
        got.append(runtime.current())

    threads = [threading.Thread(target=ask) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == THREADS
    assert len({id(rt) for rt in got}) == 1
    assert runtime.current() is got[0]


def test_the_control_plane_pool_grows_with_the_worker_slots(config: settings.Settings) -> None:
    sizes = []
    for slots in (1, 8, 32):
        rt = runtime.build(config.model_copy(update={"worker_concurrency": slots}))
        try:
            # Building the engine connects to nothing: the size is the pool's setting.
            sizes.append(rt.database.engine.pool.size())  # type: ignore[attr-defined]
        finally:
            rt.close()
    assert sizes == [7, 21, 69]
