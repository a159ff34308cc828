"""The demo's child processes: a Celery worker and, without a bot token, the Bot API stand-in;
each logs to a file under .demo/ and is stopped (SIGTERM, then SIGKILL) when the demo ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from worker import settings

DEMO_DIR = Path(".demo")
STANDIN_TOKEN = "100000:demo-token-not-a-real-bot-0000000000"  # noqa: S105 - stand-in only
STANDIN_CHAT = "-1001000000001"
START_TIMEOUT = 60  # seconds for the worker or the stand-in to come up


@contextmanager
def process(args: list[str], log_name: str) -> Iterator[subprocess.Popen[bytes]]:
    DEMO_DIR.mkdir(exist_ok=True)
    with (DEMO_DIR / log_name).open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for_line(path: Path, marker: str, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{path} process exited early; see {path}")
        for line in path.read_text(errors="replace").splitlines():
            if marker in line:
                return line
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {marker!r} in {path}")


@contextmanager
def worker(console: Console) -> Iterator[None]:
    """A Celery worker on this process's settings (the environment), ready to take tasks."""
    node = f"demo-{os.getpid()}@%h"
    args = [sys.executable, "-m", "celery", "-A", "worker.app", "worker"]
    args += ["--loglevel=INFO", "-n", node]
    with process(args, "worker.log") as proc:
        wait_for_line(DEMO_DIR / "worker.log", "ready.", proc)
        console.print(f"worker started (log: {DEMO_DIR / 'worker.log'})")
        yield


@contextmanager
def standin_if_needed(config: settings.Settings, console: Console) -> Iterator[None]:
    """The stand-in, its files kept under .demo/standin (so a later run can restore from them),
    unless TELEGRAM_BOT_TOKEN names a real bot."""
    if config.telegram_bot_token is not None:
        console.print(f"sending to chat {config.telegram_chat_id} via {config.telegram_api_url}")
        yield
        return
    console.print(
        "[yellow]TELEGRAM_BOT_TOKEN is not set: using the local Bot API stand-in; "
        "nothing leaves this machine[/yellow]"
    )
    args = [sys.executable, "-m", "standin", "--port", "0", "--token", STANDIN_TOKEN]
    args += ["--chat", STANDIN_CHAT, "--data-dir", str(DEMO_DIR / "standin"), "--keep-files"]
    with process(args, "standin.log") as proc:
        line = wait_for_line(DEMO_DIR / "standin.log", "listening on", proc)
        url = line.rsplit(" ", 1)[-1].strip()
        # The worker subprocess and the settings read below both take these from the
        # environment; the demo process ends right after, so nothing needs restoring.
        os.environ.update(
            TELEGRAM_API_URL=url, TELEGRAM_BOT_TOKEN=STANDIN_TOKEN, TELEGRAM_CHAT_ID=STANDIN_CHAT
        )
        console.print(f"stand-in listening on {url}, chat {STANDIN_CHAT}")
        yield
