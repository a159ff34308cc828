"""The Bot API stand-in as a child process (`python -m standin`), on a free port.

In-process, `standin.server.BotApiStandin` is used directly; a process of its own keeps its
work off the caller's interpreter (the benchmarks) or tests the command line itself.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import procfile

BANNER = "standin listening on "


@dataclass
class StandinProcess:
    """`python -m standin` running as a child process."""

    process: subprocess.Popen[str]
    url: str
    banner: str
    token: str

    def send_document_url(self) -> str:
        """The sendDocument endpoint of its bot."""
        return f"{self.url}/bot{self.token}/sendDocument"


@contextlib.contextmanager
def process(
    data_dir: Path,
    token: str,
    chat: str,
    *,
    limits: str | None = None,
    link: str | None = None,
) -> Iterator[StandinProcess]:
    """The stand-in for the bots and chats of `token` and `chat` (comma-separated lists),
    storing uploads under `data_dir`; `limits` names a preset of Telegram's limits, `link` a
    link profile (standin.link.PROFILES) between it and its clients."""
    args = [sys.executable, "-m", "standin", "--port", "0"]
    args += [f"--token={one}" for one in token.split(",")]
    args += [f"--chat={one}" for one in chat.split(",")]
    args += ["--data-dir", str(data_dir)] + ([] if limits is None else ["--limits", limits])
    args += [] if link is None else ["--link", link]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=procfile.ROOT)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline().strip()
        if not banner.startswith(BANNER):
            raise RuntimeError(f"the stand-in did not start: {banner!r}")
        yield StandinProcess(proc, banner.removeprefix(BANNER), banner, token)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
